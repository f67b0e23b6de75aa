#include "serve_results_s3.h"

#include <cstdlib>
#include <map>

#include "results/s3/s3_client.h"
#include "results/s3/s3_result_store.h"

namespace stipple::app {
namespace {

const OptionSpec kS3Options[] = {
    {.name = "s3-endpoint",
     .help = "with --results s3://...: the S3 endpoint, http(s)://HOST[:PORT] (path-style "
             "requests); none: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS's for the region",
     .value_name = "URL"},
    {.name = "s3-region",
     .help = "with --results s3://...: the bucket's region (signs requests); none: AWS_REGION, "
             "AWS_DEFAULT_REGION, else us-east-1",
     .value_name = "REGION"},
};

// The variables the S3 store reads; secrets among them stay in this map only.
std::map<std::string, std::string> AwsEnvironment() {
  std::map<std::string, std::string> env;
  for (const char* name :
       {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      env[name] = value;
    }
  }
  return env;
}

}  // namespace

std::span<const OptionSpec> S3ResultOptions() { return kS3Options; }

bool IsS3Results(const std::string& results) { return s3::IsS3Url(results); }

Result<S3ResultSettings> ReadS3ResultSettings(const Config& config, const std::string& results) {
  S3ResultSettings s;
  if (!IsS3Results(results)) return s;
  Result<s3::BucketPrefix> url = s3::ParseS3Url(results);
  if (!url.ok()) return InvalidArgumentError("--results: " + url.status().message());
  s.url = results;
  if (config.Has("s3-endpoint")) {
    s.endpoint = config.GetString("s3-endpoint");
    Result<s3::Endpoint> endpoint = s3::ParseEndpoint(s.endpoint);
    if (!endpoint.ok())
      return InvalidArgumentError("--s3-endpoint: " + endpoint.status().message());
  }
  if (config.Has("s3-region")) s.region = config.GetString("s3-region");
  return s;
}

Result<std::unique_ptr<ResultStore>> OpenS3ResultStore(const S3ResultSettings& settings,
                                                       std::string* where) {
  ASSIGN_OR_RETURN(
      S3ResultStoreOptions options,
      S3ResultStoreOptionsFor(settings.url, settings.endpoint, settings.region, AwsEnvironment()));
  ASSIGN_OR_RETURN(auto store, S3ResultStore::Open(options));
  *where = store->Describe();
  return std::unique_ptr<ResultStore>(std::move(store));
}

}  // namespace stipple::app
