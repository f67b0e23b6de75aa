// The S3 part of `stipple serve` and `stipple gateway`: `--results s3://BUCKET[/PREFIX]` with
// --s3-endpoint and --s3-region, and the credentials from the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), which are never printed or logged.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "common/config.h"
#include "results/result_store.h"

namespace stipple::app {

// --s3-endpoint, --s3-region.
std::span<const OptionSpec> S3ResultOptions();

struct S3ResultSettings {
  std::string url;       // "s3://BUCKET[/PREFIX]"; empty: --results is not an S3 URL
  std::string endpoint;  // the flag's value, "" when not given
  std::string region;    // the flag's value, "" when not given
};

// Whether --results names an S3 bucket.
bool IsS3Results(const std::string& results);

// Checks the URL and the flags (not the environment: that is Open's). Errors name the flag.
Result<S3ResultSettings> ReadS3ResultSettings(const Config& config, const std::string& results);

// The store, opened with the process environment's credentials and fallbacks; `where` gets
// "s3://BUCKET/PREFIX at ENDPOINT (REGION)" for the startup line.
Result<std::unique_ptr<ResultStore>> OpenS3ResultStore(const S3ResultSettings& settings,
                                                       std::string* where);

}  // namespace stipple::app
