#include "loadgen/load_plan.h"

#include <gtest/gtest.h>

#include <array>

namespace stipple::loadgen {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(LoadPlan, SendsRateTimesDurationAtEvenlySpacedIntendedTimes) {
  LoadPlan plan(200, seconds(3), Mix{});
  EXPECT_EQ(plan.count(), 600);
  EXPECT_EQ(plan.IntendedOffset(0), nanoseconds(0));
  EXPECT_EQ(plan.IntendedOffset(1), milliseconds(5));
  EXPECT_EQ(plan.IntendedOffset(599), milliseconds(2995));
  EXPECT_EQ(LoadPlan(0.5, seconds(1), Mix{}).count(), 1);  // at least one request
  EXPECT_EQ(LoadPlan(3, milliseconds(1500), Mix{}).count(), 4);
}

TEST(LoadPlan, InterleavesTheMixExactlyInEveryPrefix) {
  Result<Mix> mix = ParseMix("async=5,sync=3,sse=1,webhook=1");
  ASSERT_TRUE(mix.ok());
  LoadPlan plan(100, seconds(1), *mix);
  std::array<int, kRequestKinds> counts{};
  for (int i = 1; i <= 100; ++i) {
    ++counts[static_cast<int>(plan.NextKind())];
    for (int k = 0; k < kRequestKinds; ++k) {
      const double expected = i * mix->weights[k] / 10.0;
      EXPECT_LE(std::abs(counts[k] - expected), 1.0) << "kind " << k << " after " << i;
    }
  }
  EXPECT_EQ(counts[0], 50);
  EXPECT_EQ(counts[1], 30);
  EXPECT_EQ(counts[2], 10);
  EXPECT_EQ(counts[3], 10);
}

TEST(ParseMix, ReadsWeightsAndBareKindsAndRefusesNonsense) {
  Result<Mix> mix = ParseMix("sse,async=2.5");
  ASSERT_TRUE(mix.ok()) << mix.status().ToString();
  EXPECT_EQ(mix->Weight(RequestKind::kAsync), 2.5);
  EXPECT_EQ(mix->Weight(RequestKind::kSse), 1);
  EXPECT_EQ(mix->Weight(RequestKind::kSync), 0);
  EXPECT_EQ(FormatMix(*mix), "async=2.5,sse=1");
  for (const char* bad :
       {"", "grpc=1", "async=-1", "async=x", "async=0", "async,async", "async="}) {
    Result<Mix> r = ParseMix(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--mix"), std::string::npos);
  }
}

}  // namespace
}  // namespace stipple::loadgen
