// Configuration: every setting of a command comes from one table of OptionSpecs and is read, in
// rising precedence, from its default, the config file, the environment and the command line.
//
//   flag        --data-dir DIR  or  --data-dir=DIR   (booleans: --flag, --flag=false)
//   environment STIPPLE_DATA_DIR=DIR                   (lists: comma-separated)
//   file        data-dir = DIR                         (lists: repeat the line)
//
// The config file is named by --config FILE or STIPPLE_CONFIG. Unknown flags and unknown keys in
// the file are errors naming them; unknown STIPPLE_* variables are ignored (they may belong to
// another command). The option tables themselves live with the commands (apps/stipple) and are
// printed by `stipple CMD --help` and documented in docs/configuration.md.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple {

enum class OptionKind {
  kValue,  // takes one value
  kFlag,   // boolean; `--name` alone means true
  kList,   // repeatable; every occurrence adds a value
};

struct OptionSpec {
  std::string name;           // lower-case, dash-separated: "data-dir"
  std::string default_value;  // "" means unset
  std::string help;
  OptionKind kind = OptionKind::kValue;
  char short_name = 0;  // e.g. 'o' for -o
  std::string value_name = "VALUE";
};

enum class ConfigSource { kDefault, kFile, kEnvironment, kFlag };
std::string_view ConfigSourceName(ConfigSource source);

using Environment = std::map<std::string, std::string>;
// The process environment (only STIPPLE_* variables).
Environment ProcessEnvironment();
// "data-dir" → "STIPPLE_DATA_DIR".
std::string EnvironmentName(std::string_view option_name);

class Config {
 public:
  // Parses `args` (the words after the command name). Words that are not flags are positional.
  // "--help"/"-h" set help_requested() instead of failing on anything else.
  static Result<Config> Load(std::span<const OptionSpec> specs, std::span<const std::string> args,
                             const Environment& env);

  bool help_requested() const { return help_requested_; }
  const std::vector<std::string>& positional() const { return positional_; }

  // Whether the option has a value from any source, its default included.
  bool Has(std::string_view name) const;
  std::string GetString(std::string_view name) const;
  // Errors name the option and the source the bad value came from.
  Result<int64_t> GetInt(std::string_view name) const;
  Result<double> GetDouble(std::string_view name) const;
  Result<bool> GetBool(std::string_view name) const;
  std::vector<std::string> GetList(std::string_view name) const;
  ConfigSource SourceOf(std::string_view name) const;

  // The usage text: one line per option with its environment name and default.
  static std::string Help(std::string_view usage, std::span<const OptionSpec> specs);

 private:
  struct Value {
    std::vector<std::string> values;
    ConfigSource source = ConfigSource::kDefault;
  };
  const Value* Find(std::string_view name) const;
  Status Set(const OptionSpec& spec, std::string value, ConfigSource source);

  std::map<std::string, Value, std::less<>> values_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
};

}  // namespace stipple
