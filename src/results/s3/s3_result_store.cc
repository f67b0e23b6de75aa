#include "results/s3/s3_result_store.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "common/digest.h"
#include "common/id.h"

namespace stipple {
namespace {

constexpr char kShaMeta[] = "sha256";  // x-amz-meta-sha256

Status CheckKey(const std::string& task_id, int index) {
  if (!IsValidOutputKey(task_id)) {
    return InvalidArgumentError("'" + task_id + "' cannot name a task's outputs");
  }
  if (index < 0) return InvalidArgumentError("output index must not be negative");
  return Status::Ok();
}

// The ResultStore contract knows kInternal for what is neither missing, corrupt nor transient:
// refused credentials and a missing bucket keep their message under that code.
Status ForContract(const Status& s) {
  if (s.code() == StatusCode::kPermissionDenied || s.code() == StatusCode::kFailedPrecondition) {
    return InternalError(s.message());
  }
  return s;
}

std::string Lookup(const std::map<std::string, std::string>& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

bool ValidRegion(std::string_view region) {
  if (region.empty() || region.size() > 64) return false;
  return std::all_of(region.begin(), region.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

Result<S3ResultStoreOptions> S3ResultStoreOptionsFor(
    std::string_view url, std::string endpoint, std::string region,
    const std::map<std::string, std::string>& env) {
  ASSIGN_OR_RETURN(s3::BucketPrefix where, s3::ParseS3Url(url));
  S3ResultStoreOptions o;
  o.bucket = where.bucket;
  o.prefix = where.prefix;
  if (endpoint.empty()) endpoint = Lookup(env, "AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = Lookup(env, "AWS_ENDPOINT_URL");
  o.endpoint = endpoint;
  if (region.empty()) region = Lookup(env, "AWS_REGION");
  if (region.empty()) region = Lookup(env, "AWS_DEFAULT_REGION");
  if (!region.empty()) o.region = region;
  o.credentials.access_key_id = Lookup(env, "AWS_ACCESS_KEY_ID");
  o.credentials.secret_access_key = Lookup(env, "AWS_SECRET_ACCESS_KEY");
  o.credentials.session_token = Lookup(env, "AWS_SESSION_TOKEN");
  return o;
}

S3ResultStore::S3ResultStore(S3ResultStoreOptions options, s3::ClientOptions client)
    : options_(std::move(options)), client_(std::move(client)) {}

Result<std::unique_ptr<S3ResultStore>> S3ResultStore::Open(const S3ResultStoreOptions& options) {
  s3::ClientOptions c;
  if (!ValidRegion(options.region)) {
    return InvalidArgumentError("S3 region '" + options.region +
                                "' is not valid (lower-case letters, digits and '-')");
  }
  ASSIGN_OR_RETURN(s3::BucketPrefix where, s3::ParseS3Url("s3://" + options.bucket));
  if (options.credentials.access_key_id.empty() || options.credentials.secret_access_key.empty()) {
    return InvalidArgumentError(
        "S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  if (options.endpoint.empty()) {
    c.endpoint = s3::AwsEndpoint(options.region);
  } else {
    ASSIGN_OR_RETURN(c.endpoint, s3::ParseEndpoint(options.endpoint));
  }
  switch (options.addressing) {
    case S3ResultStoreOptions::Addressing::kAuto:
      c.virtual_host = options.endpoint.empty() && options.bucket.find('.') == std::string::npos;
      break;
    case S3ResultStoreOptions::Addressing::kPath: c.virtual_host = false; break;
    case S3ResultStoreOptions::Addressing::kVirtualHost: c.virtual_host = true; break;
  }
  c.region = options.region;
  c.bucket = where.bucket;
  c.credentials = options.credentials;
  c.connect_timeout = options.connect_timeout;
  c.request_timeout = options.request_timeout;
  S3ResultStoreOptions normalized = options;
  if (!normalized.prefix.empty() && normalized.prefix.back() != '/') normalized.prefix += '/';
  auto store =
      std::unique_ptr<S3ResultStore>(new S3ResultStore(std::move(normalized), std::move(c)));
  RETURN_IF_ERROR(store->client_.CheckBucket(store->options_.prefix));
  const std::string probe = store->options_.prefix + ".stipple-probe-" + NewId("prb");
  RETURN_IF_ERROR(store->client_.PutObject(probe, "probe", {}));
  RETURN_IF_ERROR(store->client_.DeleteObject(probe));
  return store;
}

std::string S3ResultStore::ObjectKey(const std::string& task_id, uint64_t fencing,
                                     int index) const {
  return options_.prefix + task_id + "/" + std::to_string(fencing) + "-" + std::to_string(index);
}

std::string S3ResultStore::Describe() const {
  return "s3://" + options_.bucket + "/" + options_.prefix + " at " +
         (options_.endpoint.empty() ? s3::AwsEndpoint(options_.region).ToString()
                                    : options_.endpoint) +
         " (" + options_.region + ")";
}

Result<StoredOutput> S3ResultStore::Put(const std::string& task_id, uint64_t fencing, int index,
                                        std::string_view bytes) {
  RETURN_IF_ERROR(CheckKey(task_id, index));
  StoredOutput record;
  record.size_bytes = static_cast<int64_t>(bytes.size());
  record.sha256_hex = Sha256Hex(bytes);
  record.etag = EtagForSha256(record.sha256_hex);
  const std::string key = ObjectKey(task_id, fencing, index);
  MutexLock lock(put_locks_[std::hash<std::string>{}(key) % put_locks_.size()]);
  RETURN_IF_ERROR(ForContract(client_.PutObject(key, bytes, {{kShaMeta, record.sha256_hex}})));
  return record;
}

Result<OutputBytes> S3ResultStore::Get(const std::string& task_id, uint64_t fencing, int index) {
  RETURN_IF_ERROR(CheckKey(task_id, index));
  const std::string key = ObjectKey(task_id, fencing, index);
  // The re-read window starts at the first mismatch, and there are at least three reads.
  std::chrono::steady_clock::time_point deadline{};
  Millis pause{5};
  for (int reads = 1;; ++reads) {
    Result<s3::Response> got = client_.GetObject(key);
    Status problem;
    if (got.ok()) {
      OutputBytes out;
      out.bytes = std::move(got->body);
      out.record.size_bytes = static_cast<int64_t>(out.bytes.size());
      out.record.sha256_hex = Sha256Hex(out.bytes);
      out.record.etag = EtagForSha256(out.record.sha256_hex);
      auto recorded = got->headers.find(std::string("x-amz-meta-") + kShaMeta);
      if (recorded != got->headers.end() && recorded->second == out.record.sha256_hex) return out;
      problem = DataLossError("output " + std::to_string(index) + " of task " + task_id + " (" +
                              key + ") " +
                              (recorded == got->headers.end() ? "has no recorded checksum"
                                                              : "does not match its checksum"));
    } else if (got.status().code() == StatusCode::kNotFound) {
      return NotFoundError("no output " + std::to_string(index) + " of task " + task_id +
                           " under lease " + std::to_string(fencing));
    } else if (got.status().code() == StatusCode::kDataLoss) {
      problem = got.status();
    } else {
      return ForContract(got.status());
    }
    const auto now = std::chrono::steady_clock::now();
    if (reads == 1) deadline = now + options_.reread_window;
    if (reads >= 3 && now >= deadline) return problem;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, Millis(200));
  }
}

Status S3ResultStore::DeleteUnder(const std::string& key_prefix) {
  Result<std::vector<std::string>> keys = client_.ListKeys(key_prefix);
  if (!keys.ok()) return ForContract(keys.status());
  for (const std::string& key : *keys) RETURN_IF_ERROR(ForContract(client_.DeleteObject(key)));
  return Status::Ok();
}

Status S3ResultStore::DeleteLease(const std::string& task_id, uint64_t fencing) {
  RETURN_IF_ERROR(CheckKey(task_id, 0));
  return DeleteUnder(options_.prefix + task_id + "/" + std::to_string(fencing) + "-");
}

Status S3ResultStore::Delete(const std::string& task_id) {
  RETURN_IF_ERROR(CheckKey(task_id, 0));
  return DeleteUnder(options_.prefix + task_id + "/");
}

}  // namespace stipple
