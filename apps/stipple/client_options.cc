#include "client_options.h"

#include <cstdio>

namespace stipple::app {

std::span<const OptionSpec> ClientOptionSpecs() {
  static const OptionSpec kOptions[] = {
      {.name = "server",
       .default_value = "http://127.0.0.1:8080",
       .help = "the stipple server's URL (also read from STIPPLE_URL)",
       .value_name = "URL"},
      {.name = "api-key",
       .help = "API key, sent as 'Authorization: Bearer KEY' (none: an open server)",
       .value_name = "KEY"},
      {.name = "json",
       .help = "print JSON for scripts: one object a line, nothing else on stdout",
       .kind = OptionKind::kFlag},
      {.name = "retries",
       .default_value = "3",
       .help = "retries of a request that could not connect or got 429/503 (after Retry-After)",
       .value_name = "N"},
  };
  return kOptions;
}

ParsedOptions ParseClientCommandOptions(std::string_view usage, std::span<const OptionSpec> specs,
                                        std::span<const std::string> args) {
  std::vector<OptionSpec> all(specs.begin(), specs.end());
  all.insert(all.end(), ClientOptionSpecs().begin(), ClientOptionSpecs().end());
  Environment env = ProcessEnvironment();
  if (!env.contains("STIPPLE_SERVER") && env.contains("STIPPLE_URL")) {
    env["STIPPLE_SERVER"] = env["STIPPLE_URL"];
  }
  return ParseCommandOptions(usage, all, args, env);
}

Result<std::unique_ptr<client::Client>> MakeClient(const Config& config) {
  client::ClientOptions options;
  options.server_url = config.GetString("server");
  options.api_key = config.GetString("api-key");
  ASSIGN_OR_RETURN(int64_t retries, config.GetInt("retries"));
  if (retries < 0 || retries > 100) {
    return InvalidArgumentError("option --retries: expected 0..100, not " +
                                std::to_string(retries));
  }
  options.max_attempts = static_cast<int>(retries) + 1;
  options.user_agent = "stipple-cli";
  Result<std::unique_ptr<client::Client>> client = client::Client::Create(std::move(options));
  if (!client.ok()) return client.status().WithContext("option --server");
  return client;
}

bool WantsJson(const Config& config) {
  Result<bool> json = config.GetBool("json");
  return json.ok() && *json;
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kInvalidArgument: return kExitUsage;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return kExitUnauthorized;
    case StatusCode::kNotFound: return kExitNotFound;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded: return kExitUnreachable;
    case StatusCode::kCancelled: return kExitInterrupted;
    default: return kExitFailure;
  }
}

int ExitCodeForState(TaskState state) {
  switch (state) {
    case TaskState::kSucceeded: return kExitOk;
    case TaskState::kFailed: return kExitFailure;
    case TaskState::kCanceled: return kExitCanceled;
    case TaskState::kExpired: return kExitExpired;
    case TaskState::kQueued:
    case TaskState::kRunning: return kExitTimeout;
  }
  return kExitFailure;
}

int ReportError(std::string_view command, const Status& status, const Config& config) {
  std::string message;
  const std::string server = config.GetString("server");
  switch (status.code()) {
    case StatusCode::kUnavailable:
      if (status.message().find("cannot reach") != std::string::npos) {
        message = status.message() + " (is 'stipple serve' running? set --server or STIPPLE_URL)";
      } else {
        message = "the server at " + server + " is unavailable: " + status.message();
      }
      break;
    case StatusCode::kDeadlineExceeded: message = status.message(); break;
    case StatusCode::kUnauthenticated:
      message = config.GetString("api-key").empty()
                    ? "the server at " + server + " needs an API key (--api-key or STIPPLE_API_KEY)"
                    : "the server at " + server + " refused the API key";
      break;
    case StatusCode::kPermissionDenied:
      message = "the API key may not do this: " + status.message();
      break;
    case StatusCode::kInvalidArgument:
      message = "the server refused the request: ";
      if (status.field_errors().empty()) message += status.message();
      for (size_t i = 0; i < status.field_errors().size(); ++i) {
        const FieldError& field = status.field_errors()[i];
        message += (i ? "; " : "") + field.field + ": " + field.message;
      }
      break;
    default: message = status.message(); break;
  }
  std::fprintf(stderr, "stipple %s: %s\n", std::string(command).c_str(), message.c_str());
  return ExitCodeFor(status);
}

}  // namespace stipple::app
