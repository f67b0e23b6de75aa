#include "results/pack_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/id.h"

namespace stipple {
namespace {

namespace fs = std::filesystem;

class PackIndexTest : public ::testing::Test {
 protected:
  PackIndexTest() : dir_(fs::path(::testing::TempDir()) / ("stipple-pack-index-" + NewId("tmp"))) {
    fs::create_directories(dir_);
  }
  ~PackIndexTest() override { fs::remove_all(dir_); }

  std::string path() const { return (dir_ / "index.db").string(); }
  std::unique_ptr<PackIndex> Open() {
    auto index = PackIndex::Open({.path = path(), .sync = false});
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    return index.ok() ? std::move(*index) : nullptr;
  }
  // Where the index says the key's packed copy is: "pack@offset", or "none".
  static std::string Where(PackIndex& index, const std::string& task, uint64_t fencing, int i) {
    auto at = index.Find(task, fencing, i);
    if (!at.ok()) return at.status().ToString();
    if (!*at) return "none";
    return (*at)->pack + "@" + std::to_string((*at)->offset);
  }
  static PackedRecord Record(const std::string& task, uint64_t fencing, int index,
                             uint64_t offset) {
    PackedRecord r{
        .task_id = task, .fencing = fencing, .index = index, .offset = offset, .size = 3};
    r.sha256[0] = static_cast<uint8_t>(offset);
    return r;
  }

  fs::path dir_;
};

TEST_F(PackIndexTest, FindsWhatAddPutAndKeepsItAcrossAReopen) {
  {
    auto index = Open();
    const std::vector<PackedRecord> records = {Record("tsk_a", 1, 0, 20), Record("tsk_a", 1, 1, 50),
                                               Record("tsk_b", 7, 0, 90)};
    auto dead = index->Add("p1.pack", records);
    ASSERT_TRUE(dead.ok()) << dead.status().ToString();
    EXPECT_TRUE(dead->empty());
    auto at = index->Find("tsk_a", 1, 1);
    ASSERT_TRUE(at.ok() && at->has_value());
    EXPECT_EQ((*at)->pack, "p1.pack");
    EXPECT_EQ((*at)->offset, 50u);
    EXPECT_EQ((*at)->size, 3u);
    EXPECT_EQ((*at)->sha256, records[1].sha256);
    EXPECT_EQ(Where(*index, "tsk_a", 2, 1), "none");
  }
  auto index = Open();
  EXPECT_FALSE(index->rebuilt());
  EXPECT_EQ(Where(*index, "tsk_b", 7, 0), "p1.pack@90");
  EXPECT_EQ(*index->PackCount(), 1);
  EXPECT_TRUE(*index->Knows("p1.pack"));
  EXPECT_FALSE(*index->Knows("p2.pack"));
}

TEST_F(PackIndexTest, APackDiesWithItsLastRecordAndForgetDropsOnlyDeadOnes) {
  auto index = Open();
  ASSERT_TRUE(
      index->Add("p1.pack", std::vector{Record("tsk_a", 1, 0, 8), Record("tsk_b", 1, 0, 20)}).ok());
  ASSERT_TRUE(index->Add("p2.pack", std::vector{Record("tsk_c", 1, 0, 8)}).ok());
  auto dead = index->Remove("tsk_a");
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->empty());
  dead = index->Remove("tsk_b", 2);  // another lease: nothing
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->empty());
  dead = index->Remove("tsk_b", 1, 0);
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(*dead, std::vector<std::string>{"p1.pack"});
  EXPECT_EQ(*index->DeadPacks(), std::vector<std::string>{"p1.pack"});
  ASSERT_TRUE(index->Forget(std::vector<std::string>{"p1.pack", "p2.pack"}).ok());
  EXPECT_FALSE(*index->Knows("p1.pack"));
  EXPECT_TRUE(*index->Knows("p2.pack"));  // alive: kept
  EXPECT_TRUE(index->DeadPacks()->empty());
}

TEST_F(PackIndexTest, TheLastAddWinsAKeyAndAPackItEmptiedIsDead) {
  auto index = Open();
  ASSERT_TRUE(index->Add("p2.pack", std::vector{Record("tsk_a", 1, 0, 8)}).ok());
  // A later write, whatever its name: it replaces the copy in p2, which holds nothing more.
  auto dead = index->Add("p1.pack", std::vector{Record("tsk_a", 1, 0, 30)});
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(*dead, std::vector<std::string>{"p2.pack"});
  EXPECT_EQ(Where(*index, "tsk_a", 1, 0), "p1.pack@30");
}

TEST_F(PackIndexTest, AFoundPackWinsAKeyOnlyOverAnEarlierName) {
  auto index = Open();
  ASSERT_TRUE(
      index->Add("p2.pack", std::vector{Record("tsk_a", 1, 0, 8), Record("tsk_b", 1, 0, 20)}).ok());
  const std::vector<FoundPack> found = {
      {"p1.pack", {Record("tsk_a", 1, 0, 40)}},  // earlier: loses
      {"p3.pack",  // later: wins; of a key twice in it, the later record
       {Record("tsk_b", 1, 0, 60), Record("tsk_c", 1, 0, 70), Record("tsk_c", 1, 0, 75)}},
      {"p4.pack", {}},  // nothing in it
  };
  auto dead = index->AddFound(found);
  ASSERT_TRUE(dead.ok()) << dead.status().ToString();
  std::sort(dead->begin(), dead->end());
  EXPECT_EQ(*dead, (std::vector<std::string>{"p1.pack", "p4.pack"}));
  EXPECT_EQ(Where(*index, "tsk_a", 1, 0), "p2.pack@8");
  EXPECT_EQ(Where(*index, "tsk_b", 1, 0), "p3.pack@60");
  EXPECT_EQ(Where(*index, "tsk_c", 1, 0), "p3.pack@75");
}

TEST_F(PackIndexTest, DropPacksWhereTakesTheirRecordsAlong) {
  auto index = Open();
  ASSERT_TRUE(index->Add("p1.pack", std::vector{Record("tsk_a", 1, 0, 8)}).ok());
  ASSERT_TRUE(index->Add("p2.pack", std::vector{Record("tsk_b", 1, 0, 8)}).ok());
  ASSERT_TRUE(
      index->DropPacksWhere([](const std::string& name) { return name == "p1.pack"; }).ok());
  EXPECT_EQ(Where(*index, "tsk_a", 1, 0), "none");
  EXPECT_EQ(Where(*index, "tsk_b", 1, 0), "p2.pack@8");
  EXPECT_EQ(*index->PackCount(), 1);
}

TEST_F(PackIndexTest, LeasesComeInOrderOncePerLeaseAPageAtATime) {
  auto index = Open();
  ASSERT_TRUE(index
                  ->Add("p1.pack", std::vector{Record("tsk_b", 2, 0, 8), Record("tsk_b", 2, 1, 9),
                                               Record("tsk_a", 9, 0, 10), Record("tsk_a", 3, 0, 11),
                                               Record("tsk_c", 1, 4, 12)})
                  .ok());
  std::vector<StoredLease> all;
  std::optional<StoredLease> after;
  int pages = 0;
  while (true) {
    auto page = index->Leases(after, 2);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ++pages;
    all.insert(all.end(), page->begin(), page->end());
    if (page->size() < 2) break;
    after = page->back();
  }
  EXPECT_EQ(all,
            (std::vector<StoredLease>{{"tsk_a", 3}, {"tsk_a", 9}, {"tsk_b", 2}, {"tsk_c", 1}}));
  EXPECT_EQ(pages, 3);
}

TEST_F(PackIndexTest, AnUnreadableFileIsMadeAnewEmpty) {
  {
    auto index = Open();
    ASSERT_TRUE(index->Add("p1.pack", std::vector{Record("tsk_a", 1, 0, 8)}).ok());
  }
  fs::remove(path() + "-wal");
  fs::remove(path() + "-shm");
  std::ofstream(path(), std::ios::binary | std::ios::trunc) << std::string(8192, 'x');
  auto index = Open();
  ASSERT_NE(index, nullptr);
  EXPECT_TRUE(index->rebuilt());
  EXPECT_EQ(*index->PackCount(), 0);
  ASSERT_TRUE(index->Add("p2.pack", std::vector{Record("tsk_a", 1, 0, 8)}).ok());
  EXPECT_EQ(Where(*index, "tsk_a", 1, 0), "p2.pack@8");
}

}  // namespace
}  // namespace stipple
