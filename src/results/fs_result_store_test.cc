#include "results/fs_result_store.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <cstdio>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "common/id.h"
#include "results/testing/result_store_contract.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the test's temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() : path_(fs::path(::testing::TempDir()) / ("stipple-results-" + NewId("tmp"))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

class FsHarness : public ResultStoreHarness {
 public:
  FsHarness() {
    auto s = FsResultStore::Open({.dir = dir_.path() + "/outputs"});
    if (!s.ok()) ADD_FAILURE() << s.status().ToString();
    store_ = std::move(*s);
  }
  ResultStore& store() override { return *store_; }

 private:
  TempDir dir_;
  std::unique_ptr<FsResultStore> store_;
};

std::unique_ptr<ResultStoreHarness> MakeFsHarness() { return std::make_unique<FsHarness>(); }

INSTANTIATE_RESULT_STORE_CONTRACT(Fs, &MakeFsHarness);

// ---- what only the filesystem store promises ----

class FsResultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = FsResultStore::Open({.dir = dir_.path()});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  TempDir dir_;
  std::unique_ptr<FsResultStore> store_;
};

TEST_F(FsResultStoreTest, FlippedByteIsDataLoss) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 1, 0, "hello, pixels").ok());
  std::string path = store_->PathOf(id, 1, 0);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-1, std::ios::end);
  f.put('X');
  f.close();
  EXPECT_EQ(store_->Get(id, 1, 0).status().code(), StatusCode::kDataLoss);
}

TEST_F(FsResultStoreTest, TruncatedFileIsDataLoss) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 1, 0, "hello, pixels").ok());
  std::string path = store_->PathOf(id, 1, 0);
  fs::resize_file(path, fs::file_size(path) - 3);
  EXPECT_EQ(store_->Get(id, 1, 0).status().code(), StatusCode::kDataLoss);
  fs::resize_file(path, 10);  // shorter than the header
  EXPECT_EQ(store_->Get(id, 1, 0).status().code(), StatusCode::kDataLoss);
}

TEST_F(FsResultStoreTest, OpenRemovesTempFilesLeftByACrash) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 1, 0, "kept").ok());
  fs::path temp = fs::path(dir_.path()) / id / ".tmp-half-written";
  std::ofstream(temp) << "partial";
  auto reopened = FsResultStore::Open({.dir = dir_.path()});
  ASSERT_TRUE(reopened.ok());
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ((*reopened)->Get(id, 1, 0)->bytes, "kept");
}

TEST_F(FsResultStoreTest, NoTempFileRemainsAfterPut) {
  std::string id = NewId("tsk");
  ASSERT_TRUE(store_->Put(id, 1, 0, "x").ok());
  int files = 0;
  for (const auto& e : fs::directory_iterator(fs::path(dir_.path()) / id)) {
    ++files;
    EXPECT_FALSE(e.path().filename().string().starts_with(".tmp-"));
  }
  EXPECT_EQ(files, 1);
}

TEST_F(FsResultStoreTest, ListLeasesNamesEachLeaseThatHoldsOutputsOnce) {
  const std::string a = NewId("tsk"), b = NewId("tsk");
  ASSERT_TRUE(store_->Put(a, 7, 0, "x").ok());
  ASSERT_TRUE(store_->Put(a, 7, 1, "y").ok());
  ASSERT_TRUE(store_->Put(a, 9, 0, "z").ok());
  ASSERT_TRUE(store_->Put(b, 3, 0, "w").ok());
  std::ofstream(fs::path(dir_.path()) / b / ".tmp-4-0.out") << "partial";  // a Put in flight
  auto leases = store_->ListLeases();
  ASSERT_TRUE(leases.ok()) << leases.status().ToString();
  std::sort(leases->begin(), leases->end(), [](const StoredLease& x, const StoredLease& y) {
    return std::tie(x.task_id, x.fencing) < std::tie(y.task_id, y.fencing);
  });
  std::vector<StoredLease> want{{a, 7}, {a, 9}, {b, 3}};
  std::sort(want.begin(), want.end(), [](const StoredLease& x, const StoredLease& y) {
    return std::tie(x.task_id, x.fencing) < std::tie(y.task_id, y.fencing);
  });
  EXPECT_EQ(*leases, want);
}

// ---- batches: one pack file ----

TEST_F(FsResultStoreTest, PutBatchWritesOnePackAndOpenFindsItsRecordsAgain) {
  const std::string a = NewId("tsk"), b = NewId("tsk");
  const std::vector<OutputToStore> batch = {{a, 1, 0, "alpha"}, {a, 1, 1, "beta"}, {b, 4, 0, "c"}};
  ASSERT_TRUE(store_->PutBatch(batch).ok());
  EXPECT_EQ(store_->PackCount(), 1u);
  int packs = 0;
  for (const auto& e : fs::directory_iterator(fs::path(dir_.path()) / ".batches")) {
    EXPECT_TRUE(e.path().filename().string().ends_with(".pack")) << e.path();
    ++packs;
  }
  EXPECT_EQ(packs, 1);
  auto reopened = FsResultStore::Open({.dir = dir_.path()});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  for (const OutputToStore& out : batch) {
    auto got = (*reopened)->Get(out.task_id, out.fencing, out.index);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->bytes, out.bytes);
  }
  auto leases = (*reopened)->ListLeases();
  ASSERT_TRUE(leases.ok());
  EXPECT_EQ(leases->size(), 2u);
}

TEST_F(FsResultStoreTest, APackGoesWithItsLastRecord) {
  const std::string a = NewId("tsk"), b = NewId("tsk");
  const std::vector<OutputToStore> batch = {{a, 1, 0, "x"}, {b, 1, 0, "y"}};
  ASSERT_TRUE(store_->PutBatch(batch).ok());
  auto at = store_->PackedAt(a, 1, 0);
  ASSERT_TRUE(at.ok());
  ASSERT_TRUE(store_->Delete(a).ok());
  EXPECT_TRUE(fs::exists(at->first));
  ASSERT_TRUE(store_->DeleteLease(b, 1).ok());
  EXPECT_FALSE(fs::exists(at->first));
  EXPECT_EQ(store_->PackCount(), 0u);
}

TEST_F(FsResultStoreTest, FlippedByteInAPackIsDataLoss) {
  const std::string id = NewId("tsk");
  const std::vector<OutputToStore> batch = {{id, 1, 0, "hello, pixels"}};
  ASSERT_TRUE(store_->PutBatch(batch).ok());
  auto at = store_->PackedAt(id, 1, 0);
  ASSERT_TRUE(at.ok());
  std::fstream f(at->first, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(at->second));
  f.put('X');
  f.close();
  EXPECT_EQ(store_->Get(id, 1, 0).status().code(), StatusCode::kDataLoss);
}

// A pack cut short (written without sync, then a crash): Open keeps the whole records before the
// cut and answers kNotFound, never wrong bytes, for the rest.
TEST_F(FsResultStoreTest, OpenKeepsTheWholeRecordsOfACutPack) {
  const std::string a = NewId("tsk"), b = NewId("tsk");
  const std::vector<OutputToStore> batch = {{a, 1, 0, "whole"}, {b, 1, 0, "cut short"}};
  ASSERT_TRUE(store_->PutBatch(batch).ok());
  auto at = store_->PackedAt(b, 1, 0);
  ASSERT_TRUE(at.ok());
  fs::resize_file(at->first, at->second + 3);
  auto reopened = FsResultStore::Open({.dir = dir_.path()});
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->Get(a, 1, 0)->bytes, "whole");
  EXPECT_EQ((*reopened)->Get(b, 1, 0).status().code(), StatusCode::kNotFound);
}

// The index of packed records lives as long as the outputs (a day by default): at a steady load
// it is the part of serve's memory that grows with the outputs kept. Records (as the test
// property heap_bytes_per_packed_record, and on stdout) what one record of a batch of one costs
// on the heap, pack bookkeeping included — a figure, not a bound (docs/results.md has it) — and
// checks that deleting every record drops every pack.
TEST(FsResultStoreMemoryTest, APackedRecordCostsLittleHeap) {
  TempDir dir;
  auto store = FsResultStore::Open({.dir = dir.path(), .sync = false});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  constexpr int kRecords = 2000;
  std::vector<std::string> ids;
  for (int i = 0; i < kRecords; ++i) ids.push_back(NewId("tsk"));
  const size_t before = mallinfo2().uordblks;
  for (const std::string& id : ids) {
    const std::vector<OutputToStore> one = {{id, 1, 0, "png"}};
    ASSERT_TRUE((*store)->PutBatch(one).ok());
  }
  const size_t after = mallinfo2().uordblks;
  const double per_record = (static_cast<double>(after) - static_cast<double>(before)) / kRecords;
  RecordProperty("heap_bytes_per_packed_record", static_cast<int>(per_record));
  std::printf("heap bytes per packed record: %.0f\n", per_record);
  for (const std::string& id : ids) ASSERT_TRUE((*store)->Delete(id).ok());
  EXPECT_EQ((*store)->PackCount(), 0u);
}

}  // namespace
}  // namespace stipple
