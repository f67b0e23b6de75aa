#include "store/sqlite/testing/power_loss_vfs.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/sqlite/sqlite_db.h"

namespace stipple::sqlite::testing {
namespace {

namespace fs = std::filesystem;

class PowerLossVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("stipple-plvfs-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "t.db").string();
    auto vfs = PowerLossVfs::Register("power-loss-test");
    ASSERT_TRUE(vfs.ok()) << vfs.status().ToString();
    vfs_ = std::move(*vfs);
  }
  void TearDown() override {
    vfs_.reset();
    fs::remove_all(dir_);
  }
  std::unique_ptr<Connection> Open() {
    auto db = Connection::Open(path_, vfs_->name());
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(*db) : nullptr;
  }
  int64_t Rows() {
    auto db = Open();
    auto stmt = db->Prepare("SELECT count(*) FROM t");
    if (!stmt.ok()) return -1;  // no table: the database did not survive
    EXPECT_TRUE((*stmt)->Step().ok());
    return (*stmt)->Int(0);
  }
  // A WAL database with a table and `rows` committed rows under `synchronous`, cut after the
  // last commit; how many rows the restored database holds.
  int64_t RowsAfterCut(const char* synchronous, int rows) {
    {
      auto db = Open();
      EXPECT_TRUE(db->Exec("PRAGMA journal_mode=WAL").ok());
      EXPECT_TRUE(db->Exec(synchronous).ok());
      EXPECT_TRUE(db->Exec("CREATE TABLE t(x)").ok());
      for (int i = 0; i < rows; ++i) EXPECT_TRUE(db->Exec("INSERT INTO t VALUES (1)").ok());
      vfs_->CutNow();
    }
    EXPECT_TRUE(vfs_->RestoreImage().ok());
    return Rows();
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<PowerLossVfs> vfs_;
};

TEST_F(PowerLossVfsTest, SyncedCommitsSurviveACut) {
  EXPECT_EQ(RowsAfterCut("PRAGMA synchronous=FULL", 5), 5);
}

TEST_F(PowerLossVfsTest, UnsyncedCommitsAreLostAtACut) {
  // synchronous=OFF never syncs: not even the new database's name survives.
  EXPECT_EQ(RowsAfterCut("PRAGMA synchronous=OFF", 5), -1);
}

TEST_F(PowerLossVfsTest, NormalSynchronousLosesCommitsSinceTheLastCheckpoint) {
  {
    auto db = Open();
    ASSERT_TRUE(db->Exec("PRAGMA journal_mode=WAL").ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE t(x)").ok());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (1)").ok());
    ASSERT_TRUE(db->Exec("PRAGMA wal_checkpoint(TRUNCATE)").ok());  // syncs the WAL and the file
    ASSERT_TRUE(db->Exec("PRAGMA synchronous=NORMAL").ok());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (2)").ok());  // WAL written, not synced
    vfs_->CutNow();
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (3)").ok());  // after the cut: never durable
  }
  ASSERT_TRUE(vfs_->RestoreImage().ok());
  EXPECT_EQ(Rows(), 1);
  EXPECT_FALSE(fs::exists(path_ + "-shm"));
}

// A database the process opens only after the cut (one of several, opened in turn) was on disk
// before it: it keeps what it held, and what was written after the cut is dropped.
TEST_F(PowerLossVfsTest, ADatabaseFirstOpenedAfterTheCutKeepsWhatItHeld) {
  {
    auto plain = Connection::Open(path_);  // SQLite's own VFS: not seen by the model
    ASSERT_TRUE(plain.ok());
    ASSERT_TRUE((*plain)->Exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)").ok());
  }
  vfs_->CutNow();
  {
    auto db = Open();
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (2)").ok());
  }
  ASSERT_TRUE(vfs_->RestoreImage().ok());
  EXPECT_EQ(Rows(), 1);
}

TEST_F(PowerLossVfsTest, AnArmedCutHappensBeforeTheCountedCall) {
  {
    auto db = Open();
    ASSERT_TRUE(db->Exec("PRAGMA journal_mode=WAL").ok());
    ASSERT_TRUE(db->Exec("PRAGMA synchronous=FULL").ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE t(x)").ok());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (1)").ok());
    const int64_t before = vfs_->calls();
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (2)").ok());
    const int64_t per_commit = vfs_->calls() - before;  // the WAL frames, then their sync
    ASSERT_GE(per_commit, 2);
    vfs_->CutAtCall(per_commit);  // the next commit's sync: the commit is lost
    ASSERT_FALSE(vfs_->cut());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (3)").ok());
    ASSERT_TRUE(vfs_->cut());
  }
  ASSERT_TRUE(vfs_->RestoreImage().ok());
  EXPECT_EQ(Rows(), 2);
}

TEST_F(PowerLossVfsTest, ANameTakenTwiceIsRefusedAndRestoreNeedsACut) {
  EXPECT_EQ(PowerLossVfs::Register("power-loss-test").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(vfs_->RestoreImage().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace stipple::sqlite::testing
