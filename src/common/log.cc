#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "common/clock.h"

namespace stipple {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kHuman)};
std::atomic<int> g_fd{2};
thread_local LogFields t_context;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

}  // namespace

void ConfigureLogging(const LogOptions& options) {
  g_level = static_cast<int>(options.level);
  g_format = static_cast<int>(options.format);
  g_fd = options.fd;
}

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == LevelName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool ParseLogFormat(std::string_view text, LogFormat* out) {
  if (text == "human") {
    *out = LogFormat::kHuman;
  } else if (text == "json") {
    *out = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

std::string FormatLogLine(LogFormat format, LogLevel level, std::string_view time,
                          std::string_view message, const LogFields& fields) {
  std::string line;
  line.reserve(128);
  if (format == LogFormat::kJson) {
    line += "{\"ts\":";
    AppendJsonString(line, time);
    line += ",\"level\":";
    AppendJsonString(line, LevelName(level));
    line += ",\"msg\":";
    AppendJsonString(line, message);
    for (const auto& [k, v] : fields) {
      line += ',';
      AppendJsonString(line, k);
      line += ':';
      AppendJsonString(line, v);
    }
    line += "}\n";
  } else {
    line += time;
    line += ' ';
    std::string_view name = LevelName(level);
    for (char c : name) line += static_cast<char>(c - 'a' + 'A');
    line += ' ';
    line += message;
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      if (NeedsQuotes(v)) {
        AppendJsonString(line, v);
      } else {
        line += v;
      }
    }
    line += '\n';
  }
  return line;
}

void Log(LogLevel level, std::string_view message, const LogFields& fields) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  const LogFields* all = &fields;
  LogFields merged;
  if (!t_context.empty()) {
    merged = t_context;
    merged.insert(merged.end(), fields.begin(), fields.end());
    all = &merged;
  }
  std::string line = FormatLogLine(static_cast<LogFormat>(g_format.load()), level,
                                   FormatRfc3339(SystemClock::Get()->Now()), message, *all);
  // One write() per line keeps lines whole when several threads log at once.
  ssize_t unused = ::write(g_fd.load(), line.data(), line.size());
  (void)unused;
}

LogContext::LogContext(LogFields fields) : added_(fields.size()) {
  t_context.insert(t_context.end(), fields.begin(), fields.end());
}

LogContext::~LogContext() { t_context.resize(t_context.size() - added_); }

}  // namespace stipple
