#include "common/hex.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace stipple {
namespace {

TEST(Hex, EncodesLowerCaseMostSignificantNibbleFirst) {
  EXPECT_EQ(HexEncode(std::string_view()), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
  const std::array<uint8_t, 3> bytes = {0xde, 0xad, 0x0f};
  EXPECT_EQ(HexEncode(bytes), "dead0f");
}

TEST(Hex, DecodesEitherCase) {
  Result<std::string> bytes = HexDecode("00017F80abFF");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, std::string("\x00\x01\x7f\x80\xab\xff", 6));
  EXPECT_EQ(HexDecode("").value(), "");
}

TEST(Hex, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(HexDecode(HexEncode(all)).value(), all);
}

TEST(Hex, RejectsOddLengthAndNonDigits) {
  EXPECT_EQ(HexDecode("abc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("0g").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("g0").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode(" 0").status().code(), StatusCode::kInvalidArgument);
}

TEST(PercentEncode, KeepsUnreservedAndOptionallySlashes) {
  EXPECT_EQ(PercentEncode("a b/c~d+e$\xc3\xa9", true), "a%20b/c~d%2Be%24%C3%A9");
  EXPECT_EQ(PercentEncode("a/b"), "a%2Fb");
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode(std::string("\x00\xff", 2)), "%00%FF");
}

}  // namespace
}  // namespace stipple
