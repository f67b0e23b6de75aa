// Admission through the service: the queue bound and the tenant quota (decided by the store in
// the enqueue), the drain, readiness under refused writes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/id.h"
#include "notify/event_collector.h"
#include "service/testing/service_test_fixture.h"

namespace stipple {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Collector = EventCollector;

// A result store whose disk is full: every Put is refused as FsResultStore refuses on ENOSPC.
class FullDiskResultStore final : public ResultStore {
 public:
  explicit FullDiskResultStore(ResultStore& inner) : inner_(inner) {}
  Result<StoredOutput> Put(const std::string& task_id, uint64_t fencing, int index,
                           std::string_view bytes) override {
    if (full) return UnavailableError("write outputs/" + task_id + ": No space left on device");
    return inner_.Put(task_id, fencing, index, bytes);
  }
  Result<OutputBytes> Get(const std::string& task_id, uint64_t fencing, int index) override {
    return inner_.Get(task_id, fencing, index);
  }
  Status DeleteLease(const std::string& task_id, uint64_t fencing) override {
    return inner_.DeleteLease(task_id, fencing);
  }
  Status Delete(const std::string& task_id) override { return inner_.Delete(task_id); }
  std::atomic<bool> full{false};

 private:
  ResultStore& inner_;
};

TEST_F(ServiceStackTest, FullQueueRefusesSubmitsWithARetryHint) {
  TearDown();
  Start({.max_queue = 2, .queue_full_retry_after = Millis(7'000)});
  Submit();
  Submit();
  auto refused = service_->tasks().Submit(MakeTask());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryAfterHint(refused.status()), Millis(7'000));
  LeaseOne();  // one fewer queued: room again
  EXPECT_TRUE(service_->tasks().Submit(MakeTask()).ok());
}

TEST_F(ServiceStackTest, TenantQuotaRefusesAtTheQuotaAtomicallyWithTheEnqueue) {
  std::atomic<int> admitted{0}, over_quota{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 4; ++j) {
        NewTask t = MakeTask();
        t.tenant_max_queued = 5;
        auto r = service_->tasks().Submit(t);
        if (r.ok()) ++admitted;
        if (r.status().code() == StatusCode::kResourceExhausted) ++over_quota;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 5);
  EXPECT_EQ(over_quota.load(), 27);
  NewTask t = MakeTask();
  t.tenant_max_queued = 5;
  Status refused = service_->tasks().Submit(t).status();
  EXPECT_NE(refused.message().find("tenant acme has 5 queued tasks, its quota of 5"),
            std::string::npos)
      << refused.ToString();
  EXPECT_FALSE(RetryAfterHint(refused));  // no run time known yet: the gateway's default
  NewTask other = MakeTask("other");
  other.tenant_max_queued = 5;
  auto ok = service_->tasks().Submit(other);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->task.queue_position, 5);  // the submit's answer carries its position
}

TEST_F(ServiceStackTest, DrainingRefusesSubmitsAndLeasesNothing) {
  Submit();
  service_->Drain();
  EXPECT_EQ(service_->tasks().Submit(MakeTask()).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(service_->tasks().Ready().code(), StatusCode::kUnavailable);
  auto leased = service_->work().Lease({.worker_id = "w", .models = {"shapes-32"}});
  ASSERT_TRUE(leased.ok());
  EXPECT_TRUE(leased->empty());
}

TEST_F(ServiceStackTest, NotReadyWhileWritesAreRefusedForLackOfSpace) {
  FullDiskResultStore disk(*results_);
  service_.reset();
  service_ = std::make_unique<ServiceStack>(
      *store_, *bus_, disk, ServiceOptions{.clock = &clock_, .housekeeping_thread = false});
  EXPECT_TRUE(service_->tasks().Ready().ok());
  disk.full = true;
  Submit();
  Task first = LeaseOne();
  EXPECT_EQ(CompleteWith(first, "png").status().code(), StatusCode::kUnavailable);
  Status ready = service_->tasks().Ready();
  EXPECT_EQ(ready.code(), StatusCode::kUnavailable);
  EXPECT_NE(ready.message().find("writes are refused"), std::string::npos) << ready.ToString();
  disk.full = false;  // space freed: the next write that succeeds makes it ready again
  ASSERT_TRUE(CompleteWith(first, "png").ok());
  EXPECT_TRUE(service_->tasks().Ready().ok());
}

// Admission on its own, over the fixture's store.
TEST_F(ServiceStackTest, AdmissionAsksForTheRateOnlyForATenantOverItsQuota) {
  Admission admission(*store_, {.clock = &clock_, .max_queue = 2});
  int asked = 0;
  auto rate = [&] {
    ++asked;
    return ServiceRate{.tasks_per_s = 1, .mean_run_s = 1};
  };
  NewTask first = MakeTask("acme");
  first.tenant_max_queued = 1;
  ASSERT_TRUE(admission.Submit(first, rate).ok());
  NewTask over = MakeTask("acme");
  over.tenant_max_queued = 1;
  Result<EnqueueResult> quota = admission.Submit(over, rate);
  EXPECT_EQ(quota.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(RetryAfterHint(quota.status()).has_value());
  ASSERT_TRUE(admission.Submit(MakeTask("other"), rate).ok());
  Result<EnqueueResult> full = admission.Submit(MakeTask("third"), rate);
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryAfterHint(full.status()), Millis(5'000));
  EXPECT_EQ(asked, 1);
  EXPECT_FALSE(admission.WaitWhileDraining(Millis(10'000)));  // not draining: at once
  admission.Drain();
  EXPECT_EQ(admission.Submit(MakeTask("other"), rate).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(admission.Ready().code(), StatusCode::kUnavailable);
  std::thread stopper([&] { admission.Stop(); });
  EXPECT_TRUE(admission.WaitWhileDraining(Millis(60'000)));  // woken by Stop
  stopper.join();
}

}  // namespace
}  // namespace stipple
