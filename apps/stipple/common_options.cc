#include "common_options.h"

#include <cstdio>
#include <utility>

#include "common/log.h"

namespace stipple::app {
namespace {

Status BadValue(const Config& config, std::string_view name, std::string_view expected) {
  return InvalidArgumentError("option --" + std::string(name) + " (" +
                              std::string(ConfigSourceName(config.SourceOf(name))) +
                              "): expected " + std::string(expected) + ", not '" +
                              config.GetString(name) + "'");
}

}  // namespace

std::span<const OptionSpec> CommonOptions() {
  static const OptionSpec kOptions[] = {
      {.name = "log-level",
       .default_value = "info",
       .help = "least severe log lines written: debug, info, warn or error",
       .value_name = "LEVEL"},
      {.name = "log-format",
       .default_value = "human",
       .help = "log lines as human-readable text or as JSON objects: human or json",
       .value_name = "FORMAT"},
  };
  return kOptions;
}

Status ApplyCommonOptions(const Config& config) {
  LogOptions options;
  if (!ParseLogLevel(config.GetString("log-level"), &options.level)) {
    return BadValue(config, "log-level", "debug, info, warn or error");
  }
  if (!ParseLogFormat(config.GetString("log-format"), &options.format)) {
    return BadValue(config, "log-format", "human or json");
  }
  ConfigureLogging(options);
  return Status::Ok();
}

ParsedOptions ParseCommandOptions(std::string_view usage, std::span<const OptionSpec> specs,
                                  std::span<const std::string> args) {
  return ParseCommandOptions(usage, specs, args, ProcessEnvironment());
}

ParsedOptions ParseCommandOptions(std::string_view usage, std::span<const OptionSpec> specs,
                                  std::span<const std::string> args, const Environment& env) {
  std::vector<OptionSpec> all(specs.begin(), specs.end());
  all.insert(all.end(), CommonOptions().begin(), CommonOptions().end());

  Result<Config> config = Config::Load(all, args, env);
  if (config.ok() && config->help_requested()) {
    std::fputs(Config::Help(usage, all).c_str(), stdout);
    return {.exit_code = kExitOk};
  }
  Status status = config.ok() ? ApplyCommonOptions(*config) : config.status();
  if (!status.ok()) {
    std::fprintf(stderr, "stipple: %s\n", status.message().c_str());
    return {.exit_code = kExitUsage};
  }
  return {.config = std::move(*config)};
}

}  // namespace stipple::app
