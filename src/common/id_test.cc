#include "common/id.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace stipple {
namespace {

TEST(Id, HasPrefixAndTwentySixCrockfordCharacters) {
  std::string id = NewId("tsk");
  EXPECT_EQ(id.size(), 30u);
  EXPECT_TRUE(IsValidId(id, "tsk")) << id;
  EXPECT_FALSE(IsValidId(id, "wrk"));
  EXPECT_FALSE(IsValidId("tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8U", "tsk"));  // U is not Crockford
  EXPECT_FALSE(IsValidId("tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8", "tsk"));   // too short
  EXPECT_FALSE(IsValidId("tsk_81JD5Y6K8Q2V9M3N4P5R6S7T8V", "tsk"));  // overflows 128 bits
}

TEST(Id, EncodesItsCreationTime) {
  ManualClock clock(FromUnixMillis(1764114338123));
  IdGenerator gen(&clock);
  EXPECT_EQ(IdTime(gen.Next("tsk")), FromUnixMillis(1764114338123));
}

TEST(Id, SortsByCreationTimeEvenWithinOneMillisecond) {
  ManualClock clock;
  IdGenerator gen(&clock);
  std::string prev = gen.Next("tsk");
  for (int i = 0; i < 1000; ++i) {
    if (i % 100 == 0) clock.Advance(Millis(1));
    std::string next = gen.Next("tsk");
    ASSERT_LT(prev, next);
    prev = next;
  }
}

TEST(Id, UniqueAcrossThreads) {
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  threads.reserve(per_thread.size());
  for (auto& out : per_thread) {
    threads.emplace_back([&out] {
      for (int i = 0; i < 5000; ++i) out.push_back(NewId("tsk"));
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (auto& v : per_thread) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 20000u);
}

}  // namespace
}  // namespace stipple
