// Shared by the webhook tests: a SQLite task store in a temp dir with the webhook outbox as its
// listener, and helpers that walk a task through its lifecycle.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/id.h"
#include "store/sqlite/sqlite_task_store.h"
#include "webhook/sqlite_outbox.h"

namespace stipple::webhook::testing {

inline GenerationRequest RequestWithWebhook(const std::string& url,
                                            std::vector<std::string> events = {"completed"}) {
  GenerationRequest r;
  r.prompt = "a red circle";
  r.model = "shapes-32";
  r.width = r.height = 32;
  r.steps = 4;
  r.guidance_scale = 4;
  r.scheduler = "ddim";
  if (!url.empty()) r.webhook = WebhookSpec{url, std::move(events)};
  return r;
}

class OutboxFixture : public ::testing::Test {
 protected:
  // real_clock: the store runs on the system clock (for tests with a running dispatcher).
  explicit OutboxFixture(bool real_clock = false)
      : clock(real_clock ? static_cast<const Clock*>(SystemClock::Get()) : &clock_),
        dir_(std::filesystem::path(::testing::TempDir()) / ("stipple-webhook-" + NewId("tmp"))) {
    std::filesystem::create_directories(dir_);
    Open();
  }
  ~OutboxFixture() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // (Re)opens the store and a fresh outbox over the same database.
  void Open() {
    store_.reset();
    outbox_ = std::make_unique<SqliteWebhookOutbox>(clock);
    auto s = SqliteTaskStore::Open(
        {.path = (dir_ / "tasks.db").string(), .clock = clock, .listener = outbox_.get()});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    outbox_->Attach(store_.get());
  }

  std::string Submit(const GenerationRequest& request) {
    NewTask nt{NewId("tsk"), "t1", request};
    auto r = store_->Enqueue(nt);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return nt.id;
  }
  // Leases the oldest queued task and returns its fencing number.
  uint64_t Lease() {
    auto leased = store_->Lease({.worker_id = "w1", .models = {"shapes-32"}});
    EXPECT_TRUE(leased.ok() && leased->size() == 1);
    return leased->front().task.fencing;
  }
  void Complete(const std::string& id, uint64_t fencing) {
    auto done = store_->Complete(Completion{id, fencing, {}, clock->Now()});
    EXPECT_TRUE(done.ok()) << done.status().ToString();
  }

  ManualClock clock_;
  const Clock* clock;
  std::filesystem::path dir_;
  std::unique_ptr<SqliteWebhookOutbox> outbox_;
  std::unique_ptr<SqliteTaskStore> store_;
};

}  // namespace stipple::webhook::testing
