// multipart/form-data: the boundary from Content-Type, the parts, and every bound and malformation
// answered as kInvalidArgument naming what is wrong.
#include "api/multipart.h"

#include <gtest/gtest.h>

namespace stipple::http {
namespace {

const std::string kCrlf = "\r\n";

std::string Message(const Status& s) { return s.message(); }

TEST(MultipartBoundary, ReadsTokenAndQuotedBoundaries) {
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=abc123").value(), "abc123");
  EXPECT_EQ(MultipartBoundary("Multipart/Form-Data;boundary=\"a b:c\"").value(), "a b:c");
  EXPECT_EQ(MultipartBoundary("multipart/form-data; charset=utf-8; BOUNDARY=----x").value(),
            "----x");
}

TEST(MultipartBoundary, RefusesOtherTypesAndBadBoundaries) {
  for (const char* bad :
       {"application/json", "multipart/form-data", "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"unclosed", "multipart/mixed; boundary=x",
        "multipart/form-data; boundary=a{b", "multipart/form-data; boundary=\"ends \""}) {
    Result<std::string> r = MultipartBoundary(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().field_errors().at(0).field, "Content-Type") << bad;
  }
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'b')).ok());
  EXPECT_TRUE(MultipartBoundary("multipart/form-data; boundary=" + std::string(70, 'b')).ok());
}

TEST(ParseMultipart, ReadsTextAndFileParts) {
  std::string png("\x89PNG\r\n--notit\r\n\0binary", 22);
  std::string body =
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"prompt\"\r\n\r\n"
      "a red\r\ncircle\r\n"
      "--XyZ\r\n"
      "content-disposition: form-data; name=\"image[]\"; filename=\"a;b \\\"c\\\".png\"\r\n"
      "Content-Type: image/PNG\r\n\r\n" +
      png +
      "\r\n--XyZ\r\n"
      "Content-Disposition: form-data; name=\"n\"\r\n\r\n"
      "\r\n--XyZ--\r\n";
  Result<std::vector<MultipartPart>> parts = ParseMultipart(body, "XyZ");
  ASSERT_TRUE(parts.ok()) << Message(parts.status());
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0].name, "prompt");
  EXPECT_EQ((*parts)[0].body, "a red\r\ncircle");
  EXPECT_FALSE((*parts)[0].filename.has_value());
  EXPECT_EQ((*parts)[1].name, "image[]");
  EXPECT_EQ((*parts)[1].filename, "a;b \"c\".png");
  EXPECT_EQ((*parts)[1].content_type, "image/png");
  EXPECT_EQ((*parts)[1].body, png);
  EXPECT_EQ((*parts)[2].name, "n");
  EXPECT_EQ((*parts)[2].body, "");
}

TEST(ParseMultipart, IgnoresPreambleEpilogueAndPadding) {
  std::string body =
      "this is a preamble\r\n--b  \r\n"
      "Content-Disposition: form-data; name=x\r\n\r\nvalue\r\n--b--\r\nepilogue";
  Result<std::vector<MultipartPart>> parts = ParseMultipart(body, "b");
  ASSERT_TRUE(parts.ok()) << Message(parts.status());
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "x");
  EXPECT_EQ((*parts)[0].body, "value");
  EXPECT_TRUE(ParseMultipart("--b--\r\n", "b").value().empty());
}

TEST(ParseMultipart, RefusesMalformedBodiesNamingTheProblem) {
  const std::string part = "Content-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n";
  struct Case {
    std::string body;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"", "no multipart boundary"},
           {"--other\r\n" + part + "--other--", "no multipart boundary"},
           {"--b\r\n" + part, "part 1 is not closed"},
           {"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue", "not closed"},
           {"--b\r\nContent-Disposition: form-data; name=\"a\"", "headers never end"},
           {"--bX\r\n" + part + "--b--", "must end with CRLF"},
           {"--b\r\n\r\nv\r\n--b--", "no Content-Disposition"},
           {"--b\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--b--", "form-data"},
           {"--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--", "has no name"},
           {"--b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nv\r\n--b--", "has no name"},
           {"--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--b--", "form-data"},
           {"--b\r\nno colon here\r\n\r\nv\r\n--b--", "malformed header"},
           {"--b\r\n" + part + "--b\r\n" + part.substr(0, part.size() - 2) + "--b--",
            "part 2 is not closed"},
           {"--b\r\nContent-Disposition: form-data; name=" + std::string(65, 'n') +
                "\r\n\r\nv\r\n--b--",
            "over 64 bytes"},
           {"--b\r\nX-Long: " + std::string(3000, 'h') + "\r\n" + part + "--b--",
            "headers are over"},
           {"--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: "
            "form-data; name=b\r\n\r\nv\r\n--b--",
            "two Content-Disposition"},
       }) {
    Result<std::vector<MultipartPart>> r = ParseMultipart(c.body, "b");
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().field_errors().at(0).field, "body");
    EXPECT_NE(Message(r.status()).find(c.says), std::string::npos)
        << Message(r.status()) << " should say " << c.says;
  }
}

TEST(ParseMultipart, BoundsTheNumberOfParts) {
  std::string body;
  for (int i = 0; i < 5; ++i) body += "--b\r\nContent-Disposition: form-data; name=p\r\n\r\nv\r\n";
  body += "--b--";
  EXPECT_EQ(ParseMultipart(body, "b", {.max_parts = 5}).value().size(), 5u);
  Result<std::vector<MultipartPart>> r = ParseMultipart(body, "b", {.max_parts = 4});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("more than 4 parts"), std::string::npos);
}

TEST(ParseMultipart, EveryPrefixOfAValidBodyIsAnswered) {
  std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f\"\r\n"
      "Content-Type: image/png\r\n\r\n\x01\x02\r\n--b--\r\n";
  for (size_t n = 0; n < body.size(); ++n) {
    Result<std::vector<MultipartPart>> r = ParseMultipart(std::string_view(body).substr(0, n), "b");
    // Only a prefix that reaches the closing "--b--" is whole.
    EXPECT_EQ(r.ok(), n >= body.size() - 2) << n;
  }
}

}  // namespace
}  // namespace stipple::http
