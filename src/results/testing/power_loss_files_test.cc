#include "results/testing/power_loss_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "results/fs_result_store.h"

namespace stipple::testing {
namespace {

namespace fs = std::filesystem;

// Syncs directories only: what a store that forgot a file's fsync would leave.
class DirectoriesOnly final : public FileSyncer {
 public:
  explicit DirectoriesOnly(FileSyncer& inner) : inner_(inner) {}
  int SyncFile(int, const std::string&) override { return 0; }
  int SyncDirectory(int fd, const std::string& path) override {
    return inner_.SyncDirectory(fd, path);
  }

 private:
  FileSyncer& inner_;
};

class PowerLossFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("stipple-plfiles-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::unique_ptr<FsResultStore> Open(FileSyncer* syncer) {
    auto store = FsResultStore::Open({.dir = root_.string(), .syncer = syncer});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  fs::path root_;
};

// The record's bytes, or its error.
std::string Read(FsResultStore& store, const std::string& task_id, uint64_t fencing) {
  Result<OutputBytes> out = store.Get(task_id, fencing, 0);
  return out.ok() ? out->bytes : out.status().ToString();
}

TEST_F(PowerLossFilesTest, SyncedOutputsSurviveACutAndUnsyncedDeletesAreUndone) {
  PowerLossFiles files(root_.string());
  {
    auto store = Open(&files);
    ASSERT_TRUE(store->Put("tsk_a", 1, 0, "single").ok());
    ASSERT_TRUE(store->PutBatch(std::vector<OutputToStore>{{"tsk_b", 2, 0, "packed"}}).ok());
    ASSERT_TRUE(store->Put("tsk_c", 3, 0, "deleted").ok());
    ASSERT_TRUE(store->Delete("tsk_c").ok());  // no directory sync: comes back
    files.Cut();
    ASSERT_TRUE(store->Put("tsk_d", 4, 0, "after the cut").ok());
  }
  ASSERT_TRUE(files.Restore().ok());
  auto store = Open(&files);
  EXPECT_EQ(Read(*store, "tsk_a", 1), "single");
  EXPECT_EQ(Read(*store, "tsk_b", 2), "packed");
  EXPECT_EQ(Read(*store, "tsk_c", 3), "deleted");
  EXPECT_EQ(store->Get("tsk_d", 4, 0).status().code(), StatusCode::kNotFound);
}

TEST_F(PowerLossFilesTest, AFileRenamedWithoutItsFsyncComesBackEmpty) {
  PowerLossFiles files(root_.string());
  DirectoriesOnly forgetful(files);
  {
    auto store = Open(&forgetful);
    ASSERT_TRUE(store->Put("tsk_a", 1, 0, "single").ok());
    files.Cut();
  }
  ASSERT_TRUE(files.Restore().ok());
  EXPECT_EQ(fs::file_size(root_ / "tsk_a" / "1-0.out"), 0u);
  auto store = Open(&files);
  EXPECT_EQ(store->Get("tsk_a", 1, 0).status().code(), StatusCode::kDataLoss);
}

TEST_F(PowerLossFilesTest, WithoutADirectorySyncANewFileIsLost) {
  PowerLossFiles files(root_.string());
  {
    auto store = Open(&files);
    ASSERT_TRUE(store->Put("tsk_a", 1, 0, "x").ok());
    std::FILE* f = std::fopen((root_ / "tsk_a" / "stray").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    files.Cut();
  }
  ASSERT_TRUE(files.Restore().ok());
  EXPECT_TRUE(fs::exists(root_ / "tsk_a" / "1-0.out"));
  EXPECT_FALSE(fs::exists(root_ / "tsk_a" / "stray"));
  EXPECT_EQ(files.Restore().code(), StatusCode::kFailedPrecondition);
}

// Another layer's files (the pack index, a SQLite database through PowerLossVfs) are not
// modeled: Restore keeps them as they are on disk, in a directory the cut kept.
TEST_F(PowerLossFilesTest, AnotherLayersFilesAreKeptAsTheyAreOnDisk) {
  fs::create_directories(root_ / "kept");
  PowerLossFiles files(root_.string(), nullptr,
                       [](std::string_view name) { return name == "other.db"; });
  std::ofstream(root_ / "kept" / "other.db") << "never synced through this model";
  std::ofstream(root_ / "kept" / "stray") << "x";
  fs::create_directories(root_ / "new");  // its entry in the root never synced: the cut takes it
  std::ofstream(root_ / "new" / "other.db") << "goes with its directory";
  files.Cut();
  std::ofstream(root_ / "kept" / "other.db") << "as the other layer restored it";
  ASSERT_TRUE(files.Restore().ok());
  auto kept = ReadTextFile((root_ / "kept" / "other.db").string());
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(*kept, "as the other layer restored it");
  EXPECT_FALSE(fs::exists(root_ / "kept" / "stray"));
  EXPECT_FALSE(fs::exists(root_ / "new"));
}

}  // namespace
}  // namespace stipple::testing
