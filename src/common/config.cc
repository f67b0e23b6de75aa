#include "common/config.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

extern char** environ;

namespace stipple {
namespace {

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 &&
      ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\''))) {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

std::string NormalizeKey(std::string_view key) {
  std::string out;
  for (char c : key) {
    out += (c == '_') ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

const OptionSpec* FindSpec(std::span<const OptionSpec> specs, std::string_view name) {
  for (const auto& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const OptionSpec* FindShort(std::span<const OptionSpec> specs, char c) {
  for (const auto& s : specs) {
    if (s.short_name == c) return &s;
  }
  return nullptr;
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Result<bool> ParseBool(const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return InvalidArgumentError("not a boolean: '" + v + "'");
}

}  // namespace

std::string_view ConfigSourceName(ConfigSource source) {
  switch (source) {
    case ConfigSource::kDefault: return "default";
    case ConfigSource::kFile: return "config file";
    case ConfigSource::kEnvironment: return "environment";
    case ConfigSource::kFlag: return "flag";
  }
  return "default";
}

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.substr(0, 8) != "STIPPLE_") continue;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

std::string EnvironmentName(std::string_view option_name) {
  std::string out = "STIPPLE_";
  for (char c : option_name) {
    out += (c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

Status Config::Set(const OptionSpec& spec, std::string value, ConfigSource source) {
  // Load applies the sources in rising precedence, so a new source replaces what the lower one
  // set; within one source a list accumulates and a value is replaced.
  Value& v = values_[spec.name];
  if (v.source != source) {
    v.values.clear();
    v.source = source;
  }
  if (spec.kind == OptionKind::kFlag) {
    if (value.empty()) value = "true";
    auto b = ParseBool(value);
    if (!b.ok()) {
      return InvalidArgumentError("option --" + spec.name + " (" +
                                  std::string(ConfigSourceName(source)) +
                                  "): " + b.status().message());
    }
    v.values = {*b ? "true" : "false"};
  } else if (spec.kind == OptionKind::kList) {
    if (source == ConfigSource::kEnvironment) {
      for (auto& item : SplitCommas(value)) v.values.push_back(item);
    } else {
      v.values.push_back(std::move(value));
    }
  } else {
    v.values = {std::move(value)};
  }
  return Status::Ok();
}

Result<Config> Config::Load(std::span<const OptionSpec> specs, std::span<const std::string> args,
                            const Environment& env) {
  Config config;
  for (const auto& spec : specs) {
    if (!spec.default_value.empty()) {
      RETURN_IF_ERROR(config.Set(spec, spec.default_value, ConfigSource::kDefault));
    }
  }

  // First pass over the flags: collect them (so --config is known before the file is read).
  struct Flag {
    const OptionSpec* spec;
    std::string value;
  };
  std::vector<Flag> flags;
  std::string config_file;
  if (auto it = env.find("STIPPLE_CONFIG"); it != env.end()) config_file = it->second;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      config.help_requested_ = true;
      return config;
    }
    if (a == "--") {
      for (++i; i < args.size(); ++i) config.positional_.push_back(args[i]);
      break;
    }
    const OptionSpec* spec = nullptr;
    std::string value;
    bool has_value = false;
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2);
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      if (name == "config") {
        if (!has_value) {
          if (i + 1 >= args.size()) return InvalidArgumentError("option --config needs a FILE");
          value = args[++i];
        }
        config_file = value;
        continue;
      }
      spec = FindSpec(specs, name);
      if (!spec) return InvalidArgumentError("unknown option --" + name);
    } else if (a.size() == 2 && a[0] == '-' && a[1] != '-') {
      spec = FindShort(specs, a[1]);
      if (!spec) return InvalidArgumentError("unknown option " + a);
    } else {
      config.positional_.push_back(a);
      continue;
    }
    if (!has_value && spec->kind != OptionKind::kFlag) {
      if (i + 1 >= args.size()) {
        return InvalidArgumentError("option --" + spec->name + " needs a " + spec->value_name);
      }
      value = args[++i];
    }
    flags.push_back({spec, value});
  }

  if (!config_file.empty()) {
    std::ifstream in(config_file);
    if (!in) return InvalidArgumentError("cannot read config file '" + config_file + "'");
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      std::string t = Trim(line);
      if (t.empty() || t[0] == '#') continue;
      size_t eq = t.find('=');
      std::string where = config_file + ":" + std::to_string(lineno);
      if (eq == std::string::npos) return InvalidArgumentError(where + ": expected 'name = value'");
      std::string key = NormalizeKey(Trim(t.substr(0, eq)));
      const OptionSpec* spec = FindSpec(specs, key);
      if (!spec) return InvalidArgumentError(where + ": unknown option '" + key + "'");
      RETURN_IF_ERROR(config.Set(*spec, Unquote(Trim(t.substr(eq + 1))), ConfigSource::kFile)
                          .WithContext(where));
    }
  }

  for (const auto& spec : specs) {
    if (auto it = env.find(EnvironmentName(spec.name)); it != env.end()) {
      RETURN_IF_ERROR(config.Set(spec, it->second, ConfigSource::kEnvironment));
    }
  }
  for (auto& f : flags) {
    RETURN_IF_ERROR(config.Set(*f.spec, std::move(f.value), ConfigSource::kFlag));
  }
  return config;
}

const Config::Value* Config::Find(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.values.empty()) return nullptr;
  return &it->second;
}

bool Config::Has(std::string_view name) const { return Find(name) != nullptr; }

std::string Config::GetString(std::string_view name) const {
  const Value* v = Find(name);
  return v ? v->values.back() : std::string();
}

Result<int64_t> Config::GetInt(std::string_view name) const {
  const Value* v = Find(name);
  if (!v) return InvalidArgumentError("option --" + std::string(name) + " is not set");
  const std::string& s = v->values.back();
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE) {
    return InvalidArgumentError("option --" + std::string(name) + " (" +
                                std::string(ConfigSourceName(v->source)) + "): not an integer: '" +
                                s + "'");
  }
  return static_cast<int64_t>(n);
}

Result<double> Config::GetDouble(std::string_view name) const {
  const Value* v = Find(name);
  if (!v) return InvalidArgumentError("option --" + std::string(name) + " is not set");
  const std::string& s = v->values.back();
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0') {
    return InvalidArgumentError("option --" + std::string(name) + " (" +
                                std::string(ConfigSourceName(v->source)) + "): not a number: '" +
                                s + "'");
  }
  return d;
}

Result<bool> Config::GetBool(std::string_view name) const {
  const Value* v = Find(name);
  if (!v) return false;
  return ParseBool(v->values.back());
}

std::vector<std::string> Config::GetList(std::string_view name) const {
  const Value* v = Find(name);
  return v ? v->values : std::vector<std::string>{};
}

ConfigSource Config::SourceOf(std::string_view name) const {
  const Value* v = Find(name);
  return v ? v->source : ConfigSource::kDefault;
}

std::string Config::Help(std::string_view usage, std::span<const OptionSpec> specs) {
  std::string out =
      "usage: " + std::string(usage) + "\n\noptions (flag · environment · default):\n";
  for (const auto& s : specs) {
    std::string flag = "  ";
    flag += s.short_name ? std::string("-") + s.short_name + ", " : "    ";
    flag += "--" + s.name;
    if (s.kind != OptionKind::kFlag) flag += " " + s.value_name;
    out += flag;
    out += flag.size() < 34 ? std::string(34 - flag.size(), ' ') : "\n" + std::string(34, ' ');
    out += s.help;
    out += "\n" + std::string(34, ' ') + EnvironmentName(s.name);
    if (!s.default_value.empty()) out += " · default: " + s.default_value;
    if (s.kind == OptionKind::kList) out += " · repeatable";
    out += "\n";
  }
  out +=
      "  --config FILE                   read options from FILE ('name = value' lines)\n"
      "                                  STIPPLE_CONFIG\n"
      "  -h, --help                      this text\n";
  return out;
}

}  // namespace stipple
