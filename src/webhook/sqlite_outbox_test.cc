#include "webhook/sqlite_outbox.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/id.h"
#include "webhook/testing/outbox_contract.h"

namespace stipple::webhook {
namespace {

// The SQLite task store in a temp dir with the outbox as its TaskWriteListener.
class SqliteOutboxHarness : public WebhookOutboxHarness {
 public:
  SqliteOutboxHarness()
      : dir_(std::filesystem::path(::testing::TempDir()) / ("stipple-outbox-" + NewId("tmp"))) {
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  ~SqliteOutboxHarness() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  TaskStore& store() override { return *store_; }
  WebhookOutbox& outbox() override { return *outbox_; }
  void Reopen() override {
    store_.reset();
    outbox_ = std::make_unique<SqliteWebhookOutbox>(&clock);
    auto s = SqliteTaskStore::Open(
        {.path = (dir_ / "tasks.db").string(), .clock = &clock, .listener = outbox_.get()});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    outbox_->Attach(store_.get());
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<SqliteWebhookOutbox> outbox_;
  std::unique_ptr<SqliteTaskStore> store_;
};

std::unique_ptr<WebhookOutboxHarness> MakeSqliteHarness() {
  return std::make_unique<SqliteOutboxHarness>();
}

INSTANTIATE_WEBHOOK_OUTBOX_CONTRACT(Sqlite, &MakeSqliteHarness);

}  // namespace
}  // namespace stipple::webhook
