// The webhook part of `stipple serve`: its options, the signing secrets (configured, or one
// generated on first start and kept in the data directory) and the dispatcher's settings.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/config.h"
#include "webhook/dispatcher.h"
#include "webhook/redis/redis_outbox.h"

namespace stipple::app {

// --webhook-secret (repeatable), --webhook-allow-private, --webhook-retry-schedule,
// --webhook-timeout-s, --webhook-progress-interval-s, --webhook-concurrency,
// --webhook-per-host.
std::span<const OptionSpec> WebhookOptions();

struct WebhookSettings {
  webhook::WebhookDispatcherOptions dispatcher;  // secrets still empty
  std::vector<std::string> configured_secrets;   // as given, validated
  Millis progress_interval{1000};
};

Result<WebhookSettings> ReadWebhookSettings(const Config& config);

// The configured secrets; with none, the one in DATA_DIR/webhook-secret, created (mode 0600) and
// printed to stderr on first start.
Result<std::vector<webhook::SigningSecret>> LoadWebhookSecrets(const WebhookSettings& settings,
                                                               const std::string& data_dir);

// With the Redis task store: the configured secrets; with none, the deployment's shared one kept
// in Redis, created (and printed to stderr) by the first gateway that starts, so that every
// gateway signs with the same key.
Result<std::vector<webhook::SigningSecret>> LoadSharedWebhookSecrets(
    const WebhookSettings& settings, webhook::RedisWebhookOutbox& outbox);

}  // namespace stipple::app
