#include "bench/bench_report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <thread>
#include <utility>

namespace stipple::bench {
namespace {

// The table shows four significant digits (enough to read); the JSON lines keep six (enough to
// compare runs). Not-a-number is JSON's null.
std::string FormatNumber(double v, int digits) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}
constexpr int kTableDigits = 4;
constexpr int kJsonDigits = 6;

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace

std::optional<double> Figure::ratio() const {
  if (!baseline || *baseline == 0) return std::nullopt;
  return value / *baseline;
}

MachineInfo DescribeMachine() {
  MachineInfo info;
  info.cores = std::thread::hardware_concurrency();
  info.cpu_model = "unknown";
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      if (size_t colon = line.find(':'); colon != std::string::npos) {
        info.cpu_model = Trim(line.substr(colon + 1));
      }
      break;
    }
  }
  return info;
}

void BenchReport::Add(std::string metric, double value, std::string unit) {
  figures_.push_back({bench_, std::move(metric), value, std::move(unit), std::nullopt});
}

void BenchReport::Add(std::string metric, double value, std::string unit, double baseline) {
  figures_.push_back({bench_, std::move(metric), value, std::move(unit), baseline});
}

std::string BenchReport::MachineLine(const MachineInfo& machine) {
  return "machine: " + machine.cpu_model + " · " + std::to_string(machine.cores) + " cores";
}

std::string BenchReport::Table() const {
  std::vector<std::vector<std::string>> rows = {
      {"bench", "metric", "value", "unit", "baseline", "ratio"}};
  for (const Figure& f : figures_) {
    std::optional<double> ratio = f.ratio();
    rows.push_back({f.bench, f.metric, FormatNumber(f.value, kTableDigits), f.unit,
                    f.baseline ? FormatNumber(*f.baseline, kTableDigits) : "-",
                    ratio ? FormatNumber(*ratio, kTableDigits) : "-"});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string BenchReport::JsonLines() const {
  std::string out;
  for (const Figure& f : figures_) {
    out += "{\"bench\": " + JsonString(f.bench) + ", \"metric\": " + JsonString(f.metric) +
           ", \"value\": " + FormatNumber(f.value, kJsonDigits) +
           ", \"unit\": " + JsonString(f.unit);
    if (std::optional<double> ratio = f.ratio()) {
      out += ", \"baseline\": " + FormatNumber(*f.baseline, kJsonDigits) +
             ", \"ratio\": " + FormatNumber(*ratio, kJsonDigits);
    }
    out += "}\n";
  }
  return out;
}

void BenchReport::Print(std::FILE* out) const {
  std::string text = MachineLine(DescribeMachine()) + "\n" + Table() + JsonLines();
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

std::chrono::nanoseconds Percentile(std::vector<std::chrono::nanoseconds> samples, double p) {
  if (samples.empty()) return std::chrono::nanoseconds(0);
  std::sort(samples.begin(), samples.end());
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  double rank = std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(samples.size()));
  size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return samples[std::min(index, samples.size() - 1)];
}

}  // namespace stipple::bench
