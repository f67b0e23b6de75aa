// Logging: one line per event to stderr, as human-readable text or as JSON lines.
//
//   LogInfo("task leased", {{"task_id", id}, {"worker", w}});
//
// Fields are key/value strings. A LogContext adds fields (a request id, a task id) to every line
// logged on the current thread while it lives. Thread-safe; a line is written with one write().
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stipple {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kHuman, kJson };

using LogField = std::pair<std::string, std::string>;
using LogFields = std::vector<LogField>;

struct LogOptions {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kHuman;
  int fd = 2;  // where lines go; stderr by default
};

// Process-wide; call once at start-up (before other threads log).
void ConfigureLogging(const LogOptions& options);
bool ParseLogLevel(std::string_view text, LogLevel* out);
bool ParseLogFormat(std::string_view text, LogFormat* out);

void Log(LogLevel level, std::string_view message, const LogFields& fields = {});
inline void LogDebug(std::string_view m, const LogFields& f = {}) { Log(LogLevel::kDebug, m, f); }
inline void LogInfo(std::string_view m, const LogFields& f = {}) { Log(LogLevel::kInfo, m, f); }
inline void LogWarn(std::string_view m, const LogFields& f = {}) { Log(LogLevel::kWarn, m, f); }
inline void LogError(std::string_view m, const LogFields& f = {}) { Log(LogLevel::kError, m, f); }

// Formats one line without writing it (exposed for tests).
std::string FormatLogLine(LogFormat format, LogLevel level, std::string_view time,
                          std::string_view message, const LogFields& fields);

// Adds fields to every line logged by this thread until destroyed. Nestable; not movable.
class LogContext {
 public:
  explicit LogContext(LogFields fields);
  ~LogContext();
  LogContext(const LogContext&) = delete;
  LogContext& operator=(const LogContext&) = delete;

 private:
  size_t added_;
};

}  // namespace stipple
