// RedisWebhookOutbox: the WebhookOutbox of the distributed deployment, in the Redis server that
// holds the tasks (RedisTaskStore), shared by every gateway. docs/redis.md lists its keys.
//
// Durable with the state change: the task store's Lua scripts append a webhook *intent* (the
// task's hash as it is after the change, and the time of the change) to the stream
// `<prefix>wh:intents` in the same script that changes the task, so the intent is written exactly
// when the change is. This outbox turns intents into deliveries ("materializes" them): it builds
// the payload from the snapshot and assigns the "msg_" + ULID id in C++, and one script deletes
// the intent and stores the delivery together (only the caller whose XDEL removed the intent
// stores it, so concurrent gateways never make two deliveries of one intent). Claim, Record and
// ForTask materialize first, so a delivery is visible as soon as its state change is.
//
// Several gateways, one Redis: Claim takes a *claim lease* on what it returns (owner = this
// instance, until now + claim_lease), in one script, so two outboxes never hand out the same
// delivery at once. A background thread renews the leases of everything this instance handed out
// and has not recorded yet; Record applies an outcome only while this instance still holds the
// delivery's claim. Destroying the outbox gives its claims back at once (due again for anyone);
// a process that dies (kill -9) stops renewing, and its claims are due again claim_lease later.
// Claim leases are compared with the gateways' clocks (like task leases), so keep those in sync.
//
// Progress deliveries (AddProgress) go through the same stream, so they keep their place in the
// task's order; they are best effort like everywhere.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/thread_annotations.h"
#include "store/redis/redis_client.h"
#include "webhook/outbox.h"
#include "webhook/signing.h"

namespace stipple::webhook {

struct RedisWebhookOutboxOptions {
  std::string url = "redis://127.0.0.1:6379/0";  // the task store's Redis
  std::string key_prefix = "stipple:";           // the task store's prefix (its scripts write
                                                 // the intents under it)
  const Clock* clock = SystemClock::Get();
  // How long a claim holds a delivery without being renewed; renewed every claim_lease / 3.
  Millis claim_lease{30'000};
  // How long a finished delivery and its attempts are kept (from when it finished).
  Millis retention{7LL * 24 * 3600 * 1000};
  Millis connect_timeout{1000};
  Millis command_timeout{5000};
};

class RedisWebhookOutbox final : public WebhookOutbox {
 public:
  // Connects (kUnavailable when Redis cannot be reached) and starts the background thread that
  // renews claims and wakes the dispatcher when a state change leaves an intent.
  static Result<std::unique_ptr<RedisWebhookOutbox>> Open(RedisWebhookOutboxOptions options);
  // Stops the thread and gives back the claims of deliveries not recorded yet.
  ~RedisWebhookOutbox() override;

  Status AddProgress(const WebhookDelivery& delivery) override;
  Result<std::vector<WebhookDelivery>> Claim(Timestamp now, int limit,
                                             const std::vector<std::string>& busy_hosts) override;
  Status Record(std::span<const DeliveryOutcome> outcomes) override;
  Result<std::optional<Timestamp>> NextDue() override;
  Result<std::vector<DeliveryRecord>> ForTask(const std::string& task_id) override;
  void SetWakeup(std::function<void()> wakeup) override;

  // The deployment's signing secret kept in Redis (`<prefix>wh:secret`): the one stored there,
  // or a new one stored now if there is none (*created tells which). Every gateway that has no
  // --webhook-secret signs with it, so receivers see one key whichever gateway delivers.
  Result<SigningSecret> SharedSecret(bool* created);
  // The Redis key SharedSecret keeps the secret under (for the operator: never print the secret).
  std::string SharedSecretKey() const { return Key("wh:secret"); }

 private:
  explicit RedisWebhookOutbox(RedisWebhookOutboxOptions options, redis::RedisUrl url);

  // Turns pending intents into deliveries (see above).
  Status Materialize();
  void Background();  // renews claims, waits on the wake-up list
  Status Renew();
  void Wake();
  std::string Key(std::string_view name) const { return options_.key_prefix + std::string(name); }

  const RedisWebhookOutboxOptions options_;
  const std::string owner_;  // this instance's claim owner
  redis::RedisClient client_;

  Mutex mu_;
  std::set<std::string> held_ GUARDED_BY(mu_);  // claimed by us, not recorded yet
  // NextDue's answer as the last Claim left it, for the NextDue that follows it (the dispatcher
  // asks right after a claim; this saves it a round trip). Reset by any change.
  std::optional<std::optional<Timestamp>> next_due_after_claim_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::condition_variable stop_cv_;
  std::function<void()> wakeup_ GUARDED_BY(mu_);
  std::thread background_;
};

}  // namespace stipple::webhook
