#include "loadgen/latency_stats.h"

#include <gtest/gtest.h>

namespace stipple::loadgen {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(Summarize, NearestRankPercentilesOfEverySample) {
  std::vector<Nanos> samples;
  for (int i = 1000; i >= 1; --i) samples.push_back(microseconds(i * 1000));  // 1..1000 ms
  const LatencySummary s = Summarize(samples);
  EXPECT_EQ(s.count, 1000);
  EXPECT_DOUBLE_EQ(s.p50_ms, 500);
  EXPECT_DOUBLE_EQ(s.p90_ms, 900);
  EXPECT_DOUBLE_EQ(s.p99_ms, 990);
  EXPECT_GE(s.p999_ms, 999);
  EXPECT_DOUBLE_EQ(s.max_ms, 1000);
  EXPECT_DOUBLE_EQ(s.mean_ms, 500.5);
  const LatencySummary none = Summarize({});
  EXPECT_EQ(none.count, 0);
  EXPECT_EQ(none.p99_ms, 0);
}

TEST(BucketByTime, KeepsEmptyBucketsAndPutsEachSampleInItsOwn) {
  std::vector<TimedSample> samples = {{0.1, milliseconds(1)},
                                      {0.4, milliseconds(3)},
                                      {2.7, milliseconds(9)},
                                      {-1, milliseconds(2)}};
  const std::vector<Bucket> b = BucketByTime(samples, 1.0);
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].summary.count, 3);
  EXPECT_DOUBLE_EQ(b[0].summary.max_ms, 3);
  EXPECT_EQ(b[1].summary.count, 0);
  EXPECT_DOUBLE_EQ(b[2].start_s, 2);
  EXPECT_DOUBLE_EQ(b[2].summary.p50_ms, 9);
  EXPECT_TRUE(BucketByTime({}, 1).empty());
  EXPECT_TRUE(BucketByTime(samples, 0).empty());
}

}  // namespace
}  // namespace stipple::loadgen
