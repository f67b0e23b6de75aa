// A small S3 REST client over libcurl, signed with SigV4 (sigv4.h): just what S3ResultStore
// needs — PUT, GET and DELETE of one object and ListObjectsV2 — against AWS S3 or any
// S3-compatible server (MinIO, Ceph RGW, s3rver, ...).
//
// Addressing: path style (ENDPOINT/BUCKET/KEY), which every S3-compatible server understands, or
// virtual-host style (BUCKET.HOST/KEY), which AWS prefers.
//
// Requests are sent again, up to 3 times in all with a growing pause, after a broken
// connection, a 5xx or a 429 (they are all idempotent), as AWS's SDKs do.
//
// Thread-safe: each request takes a curl handle from a pool (handles keep their connections
// open between requests), so any number of threads may send at once.
//
// Errors (Status): the endpoint cannot be reached, the connection broke, a 5xx or a 429 →
// kUnavailable; 403 → kPermissionDenied naming the credentials; no such bucket →
// kFailedPrecondition naming the bucket; a bucket in another region (or behind another
// endpoint) → kFailedPrecondition naming the region; no such key → kNotFound; a body cut short of
// its Content-Length → kDataLoss; anything else → kInternal with S3's error code and message.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "results/s3/sigv4.h"

namespace stipple::s3 {

// scheme://host[:port], nothing after it but an optional "/".
struct Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;    // a name, an IPv4 address or a bracketed IPv6 address
  int port = 0;        // 0: the scheme's default
  // host[:port] as the Host header carries it (the port only when not the default).
  std::string HostPort() const;
  std::string ToString() const;  // "scheme://host[:port]"
};

// Errors name what is wrong: "http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com".
Result<Endpoint> ParseEndpoint(std::string_view url);
// The AWS endpoint of a region: https://s3.REGION.amazonaws.com.
Endpoint AwsEndpoint(std::string_view region);

// "s3://BUCKET[/PREFIX]": the bucket and the key prefix (without a leading '/'; given a trailing
// '/' when not empty). Bucket names: 3..63 of [a-z0-9.-], starting and ending with a letter or
// digit (S3's rules).
struct BucketPrefix {
  std::string bucket;
  std::string prefix;
};
Result<BucketPrefix> ParseS3Url(std::string_view url);
bool IsS3Url(std::string_view url);  // starts with "s3://"

struct ClientOptions {
  Endpoint endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  bool virtual_host = false;  // BUCKET.HOST/KEY instead of HOST/BUCKET/KEY
  Credentials credentials;
  Millis connect_timeout{3000};
  Millis request_timeout{30000};
  int max_attempts = 3;       // sends of one request (see Send)
  int list_page_size = 1000;  // max-keys of one ListObjectsV2 page (S3's maximum)
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // PUT of a whole object with `metadata` as x-amz-meta-NAME headers.
  Status PutObject(const std::string& key, std::string_view bytes,
                   const std::map<std::string, std::string>& metadata);
  // GET of a whole object: its bytes and its headers (x-amz-meta-* included).
  Result<Response> GetObject(const std::string& key);
  // DELETE of one object; OK when there is none (S3 answers 204 either way).
  Status DeleteObject(const std::string& key);
  // Every key starting with `prefix` (ListObjectsV2, following continuation tokens).
  Result<std::vector<std::string>> ListKeys(const std::string& prefix);
  // One listing of at most one key: the bucket exists and the credentials may list it.
  Status CheckBucket(const std::string& prefix);

  // The bucket's description in messages: "bucket 'B' at ENDPOINT".
  std::string Where() const;

 private:
  struct Request {
    std::string method;
    std::string key;  // "" for the bucket itself
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view body;
  };
  // Sends one signed request, again (up to max_attempts) after a broken connection, a 5xx or a
  // 429. Transport errors are statuses; an HTTP error is a Response.
  Result<Response> Send(const Request& request);
  Result<Response> SendOnce(const Request& request, int* curl_code);
  // The Status for an S3 error answer to `what` ("reading KEY").
  Status ErrorFor(const Response& response, const std::string& what) const;

  void* Acquire();
  void Release(void* handle);

  const ClientOptions options_;
  Mutex mu_;
  std::vector<void*> idle_ GUARDED_BY(mu_);  // CURL* handles
};

// The text of the first <NAME>...</NAME> element of an XML document, entities decoded; "" when
// there is none. (S3's answers are small and flat enough for this.)
std::string XmlElement(std::string_view xml, std::string_view name, size_t* pos = nullptr);

}  // namespace stipple::s3
