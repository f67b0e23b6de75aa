#include "engine/safetensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace stipple {
namespace {

std::string WithHeader(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return out + json + data;
}

std::string F32Bytes(std::initializer_list<float> values) {
  std::string out;
  for (float f : values) out.append(reinterpret_cast<const char*>(&f), 4);  // little-endian host
  return out;
}

SafetensorsFile TwoTensors() {
  SafetensorsFile file;
  file.tensors["a.weight"] = {{2, 3}, {1, 2, 3, 4, 5, 6}};
  file.tensors["b"] = {{}, {-0.5f}};
  file.metadata["format"] = "pt";
  return file;
}

TEST(Safetensors, WrittenFileReadsBackTheSameTensors) {
  Result<std::string> bytes = SerializeSafetensors(TwoTensors());
  ASSERT_TRUE(bytes.ok());
  Result<SafetensorsFile> file = ParseSafetensors(*bytes);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->tensors.at("a.weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(file->tensors.at("a.weight").values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(file->tensors.at("b").values, (std::vector<float>{-0.5f}));
  EXPECT_EQ(file->metadata.at("format"), "pt");
}

TEST(Safetensors, FileRoundTripsThroughDisk) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "stipple_safetensors_test.safetensors").string();
  ASSERT_TRUE(WriteSafetensorsFile(path, TwoTensors()).ok());
  Result<SafetensorsFile> file = ReadSafetensorsFile(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->tensors.size(), 2u);
  std::remove(path.c_str());
}

// The bytes of one tensor's data in a serialized file (the data section starts after the header).
std::string DataOf(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  return bytes.substr(8 + n);
}

TEST(Safetensors, F16WritesEveryFiniteHalfBackToItsOwnBits) {
  // Every finite half value, read as float by the reader, written as F16 again: the same bits.
  std::string halves;
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;  // infinities and NaNs
    halves.push_back(static_cast<char>(h & 0xff));
    halves.push_back(static_cast<char>(h >> 8));
  }
  const int64_t count = static_cast<int64_t>(halves.size() / 2);
  Result<SafetensorsFile> read = ParseSafetensors(
      WithHeader(R"({"h":{"dtype":"F16","shape":[)" + std::to_string(count) +
                     R"(],"data_offsets":[0,)" + std::to_string(halves.size()) + "]}}",
                 halves));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  Result<std::string> written = SerializeSafetensors(*read, {.dtype = "F16"});
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_TRUE(DataOf(*written) == halves);
  EXPECT_NE(written->find(R"("dtype":"F16")"), std::string::npos);
}

TEST(Safetensors, F16RoundsToNearestEvenAndOverflowsToInfinity) {
  const float inf = std::numeric_limits<float>::infinity();
  SafetensorsFile file;
  file.tensors["x"] = {{9},
                       {1.0f + 0x1p-11f,             // halfway between 1 and 1+2^-10: to 1 (even)
                        1.0f + 3 * 0x1p-11f,         // halfway to 1+2^-9 (even), up
                        1.0f + 0x1p-11f + 0x1p-20f,  // past halfway: up to 1+2^-10
                        65519.0f,                    // to 65504, the largest half
                        65520.0f,                    // halfway past it: infinity
                        -1e6f,                       // -infinity
                        0x1p-25f,               // halfway to the least subnormal: to zero (even)
                        0x1p-25f + 0x1p-35f,    // past halfway: the least subnormal, 2^-24
                        0x1p-14f - 0x1p-26f}};  // rounds up into the least normal, 2^-14
  Result<std::string> written = SerializeSafetensors(file, {.dtype = "F16"});
  ASSERT_TRUE(written.ok());
  Result<SafetensorsFile> read = ParseSafetensors(*written);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->tensors.at("x").values,
            (std::vector<float>{1.0f, 1.0f + 0x1p-9f, 1.0f + 0x1p-10f, 65504.0f, inf, -inf, 0.0f,
                                0x1p-24f, 0x1p-14f}));
}

TEST(Safetensors, AnUnknownWriteDtypeIsRefused) {
  Result<std::string> written = SerializeSafetensors(TwoTensors(), {.dtype = "I64"});
  EXPECT_EQ(written.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(written.status().message().find("I64"), std::string::npos);
}

TEST(Safetensors, ReadsF16AndBf16AsFloat) {
  // F16 0x3c00 = 1.0, 0xc000 = -2.0, 0x0001 = 2^-24; BF16 0x3fc0 = 1.5.
  std::string data = std::string("\x00\x3c\x00\xc0\x01\x00", 6) + std::string("\xc0\x3f", 2);
  Result<SafetensorsFile> file =
      ParseSafetensors(WithHeader(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                                  R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}})",
                                  data));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->tensors.at("h").values, (std::vector<float>{1.0f, -2.0f, 5.9604645e-08f}));
  EXPECT_EQ(file->tensors.at("b").values, (std::vector<float>{1.5f}));
}

TEST(Safetensors, MissingFileIsNotFound) {
  EXPECT_EQ(ReadSafetensorsFile("/nonexistent/dir/w.safetensors").status().code(),
            StatusCode::kNotFound);
}

TEST(Safetensors, FileShorterThanItsLengthFieldIsDataLoss) {
  EXPECT_EQ(ParseSafetensors("abc").status().code(), StatusCode::kDataLoss);
}

TEST(Safetensors, HeaderLengthBeyondTheFileIsDataLoss) {
  std::string bytes = WithHeader("{}", "");
  bytes[0] = 100;
  Result<SafetensorsFile> file = ParseSafetensors(bytes);
  EXPECT_EQ(file.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(file.status().message().find("header length"), std::string::npos);
}

TEST(Safetensors, HeaderThatIsNotJsonIsDataLoss) {
  Result<SafetensorsFile> file = ParseSafetensors(WithHeader("{not json", ""));
  EXPECT_EQ(file.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(file.status().message().find("not JSON"), std::string::npos);
}

TEST(Safetensors, UnsupportedDtypeIsInvalidArgumentNamingIt) {
  Result<SafetensorsFile> file = ParseSafetensors(WithHeader(
      R"({"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0')));
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(file.status().message().find("I64"), std::string::npos);
}

TEST(Safetensors, OtherDtypesCanBeSkippedAndListed) {
  const std::string bytes = WithHeader(R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                                       R"("w":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                       std::string(8, '\0') + F32Bytes({2}));
  Result<SafetensorsFile> file = ParseSafetensors(bytes, "f", {.skip_other_dtypes = true});
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->tensors.size(), 1u);
  EXPECT_EQ(file->tensors.at("w").values, (std::vector<float>{2}));
  EXPECT_EQ(file->skipped, (std::map<std::string, std::string>{{"ids", "I64"}}));
}

TEST(Safetensors, OffsetsThatDoNotMatchTheShapeAreDataLoss) {
  Result<SafetensorsFile> file = ParseSafetensors(
      WithHeader(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", F32Bytes({1, 2})));
  EXPECT_EQ(file.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(file.status().message().find("'t'"), std::string::npos);
}

TEST(Safetensors, OffsetsBeyondTheDataAreDataLoss) {
  Result<SafetensorsFile> file = ParseSafetensors(
      WithHeader(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", F32Bytes({1, 2})));
  EXPECT_EQ(file.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(file.status().message().find("truncated"), std::string::npos);
}

TEST(Safetensors, TruncatedFileIsDataLoss) {
  std::string bytes = SerializeSafetensors(TwoTensors()).value();
  bytes.resize(bytes.size() - 3);
  EXPECT_EQ(ParseSafetensors(bytes).status().code(), StatusCode::kDataLoss);
}

TEST(Safetensors, NegativeDimensionIsDataLoss) {
  EXPECT_EQ(
      ParseSafetensors(WithHeader(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", ""))
          .status()
          .code(),
      StatusCode::kDataLoss);
}

TEST(Safetensors, EntryWithoutDtypeIsDataLoss) {
  EXPECT_EQ(
      ParseSafetensors(WithHeader(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", F32Bytes({1})))
          .status()
          .code(),
      StatusCode::kDataLoss);
}

TEST(Safetensors, ValuesNotMatchingTheShapeAreRefusedByTheWriter) {
  SafetensorsFile file;
  file.tensors["t"] = {{2, 2}, {1, 2, 3}};
  EXPECT_EQ(SerializeSafetensors(file).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace stipple
