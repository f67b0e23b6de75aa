// What every stipple command shares: its exit codes, the options all of them take (--log-level,
// --log-format) and the parsing each command starts with.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace stipple::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed
inline constexpr int kExitUsage = 2;    // bad command line or configuration
// The client commands' outcomes (docs/cli.md, "Exit codes").
inline constexpr int kExitCanceled = 3;       // the task was canceled
inline constexpr int kExitExpired = 4;        // the task expired before it started
inline constexpr int kExitUnreachable = 5;    // no answer from the server, or it is unavailable
inline constexpr int kExitUnauthorized = 6;   // the server refused the API key
inline constexpr int kExitNotFound = 7;       // no such task
inline constexpr int kExitTimeout = 8;        // the wait ended before the task did
inline constexpr int kExitInterrupted = 130;  // Ctrl-C three times: stopped following the task

// --log-level (debug|info|warn|error, default info), --log-format (human|json, default human).
std::span<const OptionSpec> CommonOptions();

// Configures logging from the common options. Errors name the option and where its value came
// from.
Status ApplyCommonOptions(const Config& config);

// A command's parsed configuration, or the exit code it should return at once.
struct ParsedOptions {
  std::optional<Config> config;  // set: run the command
  int exit_code = kExitOk;       // when config is empty
};

// Loads the command's own `specs` plus CommonOptions() from `args`, the process environment and
// the config file, then applies the common options. On --help it prints the help (headed by
// `usage`) to stdout and returns kExitOk; on an error it prints it to stderr and returns
// kExitUsage.
ParsedOptions ParseCommandOptions(std::string_view usage, std::span<const OptionSpec> specs,
                                  std::span<const std::string> args);
// The same, reading `env` instead of the process environment.
ParsedOptions ParseCommandOptions(std::string_view usage, std::span<const OptionSpec> specs,
                                  std::span<const std::string> args, const Environment& env);

}  // namespace stipple::app
