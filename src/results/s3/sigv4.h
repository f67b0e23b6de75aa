// AWS Signature Version 4 (header signing) for the S3 client: the canonical request, the string
// to sign, the signing key and the Authorization header, as AWS specifies them
// (docs.aws.amazon.com, "Signature Version 4 signing process"). URI encoding is common/hex.h's
// PercentEncode (SigV4's rules are RFC 3986's); digests come from common/digest.h. Pure functions,
// no I/O, so the published test vectors check them exactly (sigv4_test.cc).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stipple::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none (long-term keys)
};

// What the signature covers. Header names may have any case; values are trimmed and inner runs
// of spaces collapsed, as the canonical form requires. Every header given is signed (the caller
// adds host, x-amz-date, x-amz-content-sha256 and x-amz-security-token; see SignedHeadersFor).
struct SigningRequest {
  std::string method;                                      // "GET", "PUT", ...
  std::string path;                                        // already URI-encoded, "/" at least
  std::vector<std::pair<std::string, std::string>> query;  // decoded names and values
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256_hex;  // lowercase hex SHA-256 of the body
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // 64 lowercase hex digits
  std::string authorization;  // the Authorization header's value
};

// Signs `request` at `amz_date` ("YYYYMMDDTHHMMSSZ", the request's x-amz-date) for `region`
// and `service` ("s3").
Signature SignV4(const SigningRequest& request, const Credentials& credentials,
                 std::string_view region, std::string_view service, std::string_view amz_date);

// "YYYYMMDDTHHMMSSZ" for a point in time (UTC).
std::string AmzDate(std::chrono::system_clock::time_point at);

}  // namespace stipple::s3
