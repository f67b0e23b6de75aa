// S3ResultStore: the images of finished tasks as objects in an S3-compatible bucket (AWS S3,
// MinIO, Ceph RGW, ...), for the distributed deployment where every gateway must serve any task's
// outputs and the images should not live in Redis's memory.
//
// Layout: one object per output, "<prefix><task_id>/<fencing>-<index>", holding exactly the
// image's bytes (Content-Type application/octet-stream) with the SHA-256 of the bytes as the
// object's metadata x-amz-meta-sha256. DeleteLease lists "<prefix><task_id>/<fencing>-" and
// Delete lists "<prefix><task_id>/" (task ids hold no '/', and the '-' after the fencing number
// keeps lease 1 from matching lease 11), then deletes what they found one object at a time.
//
// The contract (result_store.h), on S3's guarantees:
//  - Atomic: S3 replaces an object whole (a PUT is all or nothing, and a GET after it sees the
//    new object). Some S3-compatible servers are weaker — s3rver rewrites the object's file in
//    place — so Get checks the bytes against their checksum and, when they do not match, reads
//    again (at least twice, and for up to `reread_window`) before it answers kDataLoss: a reader
//    racing an overwrite gets the old bytes or the new ones, never a mix. Puts of one key from this
//    process are serialized (one of put_locks_, chosen by the key's hash), so two of them never
//    interleave on such a server either. Every call is safe from any thread.
//  - Durable: a PUT that S3 acknowledged is stored by S3 (its durability, not ours).
//  - Verified: the upload carries x-amz-content-sha256, which AWS checks against the bytes it
//    received; Get recomputes the SHA-256 of what it read and compares it with the metadata.
//  - Expiry is the caller's, as for every store: nothing here deletes on its own. A production
//    bucket should still have a lifecycle rule expiring objects under the prefix some days after
//    the service's output retention (docs/results.md), as the safety net the Redis store's TTL is.
//  - Transient failures (a broken connection, a 5xx, a 429) are retried by the client
//    (s3_client.h) before they become kUnavailable.
//  - Errors: kNotFound (no object), kDataLoss (checksum mismatch or missing checksum),
//    kInvalidArgument (bad task id or index), kUnavailable (endpoint unreachable, 5xx, 429),
//    kInternal otherwise — credentials refused (403) and a missing bucket included, with messages
//    that say so. Open reports those two as kPermissionDenied and kFailedPrecondition.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/thread_annotations.h"
#include "results/result_store.h"
#include "results/s3/s3_client.h"

namespace stipple {

struct S3ResultStoreOptions {
  std::string endpoint;  // "http(s)://HOST[:PORT]"; empty: AWS's, https://s3.REGION.amazonaws.com
  std::string region = "us-east-1";
  std::string bucket;
  std::string prefix;  // key prefix; a '/' is added when missing
  enum class Addressing {
    kAuto,         // virtual-host on AWS's endpoint (bucket names without dots), else path style
    kPath,         // ENDPOINT/BUCKET/KEY
    kVirtualHost,  // BUCKET.HOST/KEY
  } addressing = Addressing::kAuto;
  s3::Credentials credentials;
  Millis connect_timeout{3000};
  Millis request_timeout{30000};
  // How long Get reads again an object whose bytes do not match their checksum (a server that
  // is not atomic on overwrite) before answering kDataLoss, counted from the first mismatch;
  // there are always at least three reads.
  Millis reread_window{2000};
};

// The options for `--results s3://BUCKET[/PREFIX]`. `endpoint` and `region` are the flags' values
// ("" when not given); the environment `env` gives what they leave open (AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL; AWS_REGION, AWS_DEFAULT_REGION; else AWS's endpoint and us-east-1) and the
// credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Errors name the
// flag or variable; they never hold a secret.
Result<S3ResultStoreOptions> S3ResultStoreOptionsFor(std::string_view url, std::string endpoint,
                                                     std::string region,
                                                     const std::map<std::string, std::string>& env);

class S3ResultStore final : public ResultStore {
 public:
  // Checks the options, lists the bucket (one key) and writes and deletes a probe object under
  // the prefix, so that a wrong endpoint, bucket or credentials fail here and not at the first
  // finished task: kInvalidArgument (options), kUnavailable (unreachable), kPermissionDenied
  // (credentials refused), kFailedPrecondition (no such bucket).
  static Result<std::unique_ptr<S3ResultStore>> Open(const S3ResultStoreOptions& options);

  Result<StoredOutput> Put(const std::string& task_id, uint64_t fencing, int index,
                           std::string_view bytes) override;
  Result<OutputBytes> Get(const std::string& task_id, uint64_t fencing, int index) override;
  Status DeleteLease(const std::string& task_id, uint64_t fencing) override;
  Status Delete(const std::string& task_id) override;

  // The object key of one output (for tests and operators).
  std::string ObjectKey(const std::string& task_id, uint64_t fencing, int index) const;
  // "s3://BUCKET/PREFIX at ENDPOINT" (no credentials), for logs.
  std::string Describe() const;

 private:
  S3ResultStore(S3ResultStoreOptions options, s3::ClientOptions client);
  Status DeleteUnder(const std::string& key_prefix);

  const S3ResultStoreOptions options_;
  s3::Client client_;
  std::array<Mutex, 32> put_locks_;  // Puts of one key, one at a time (by key hash)
};

}  // namespace stipple
