#include "loadgen/load_plan.h"

#include <charconv>
#include <cmath>

namespace stipple::loadgen {
namespace {

constexpr std::array<std::string_view, kRequestKinds> kNames = {"async", "sync", "sse", "webhook",
                                                                "cancel"};

Status BadMix(std::string_view text, const std::string& why) {
  return InvalidArgumentError("--mix '" + std::string(text) + "': " + why);
}

}  // namespace

std::string_view RequestKindName(RequestKind kind) { return kNames[static_cast<int>(kind)]; }

Result<Mix> ParseMix(std::string_view text) {
  Mix mix;
  mix.weights = {0, 0, 0, 0, 0};
  std::array<bool, kRequestKinds> seen{};
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(pos, comma - pos);
    pos = comma + 1;
    const size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    int kind = -1;
    for (int k = 0; k < kRequestKinds; ++k) {
      if (kNames[k] == name) kind = k;
    }
    if (kind < 0) {
      return BadMix(text, "unknown kind '" + std::string(name) +
                              "' (the kinds: async, sync, sse, webhook, cancel)");
    }
    if (seen[kind]) return BadMix(text, "'" + std::string(name) + "' given twice");
    seen[kind] = true;
    double weight = 1;
    if (eq != std::string_view::npos) {
      const std::string_view number = item.substr(eq + 1);
      auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), weight);
      if (ec != std::errc() || end != number.data() + number.size() || !std::isfinite(weight) ||
          weight < 0) {
        return BadMix(text, "the weight of " + std::string(name) + " must be a number >= 0");
      }
    }
    mix.weights[kind] = weight;
  }
  double total = 0;
  for (double w : mix.weights) total += w;
  if (total <= 0) return BadMix(text, "every weight is 0");
  return mix;
}

std::string FormatMix(const Mix& mix) {
  std::string out;
  for (int k = 0; k < kRequestKinds; ++k) {
    if (mix.weights[k] <= 0) continue;
    char number[32];
    auto [end, ec] = std::to_chars(number, number + sizeof number, mix.weights[k]);
    (void)ec;
    out += (out.empty() ? "" : ",") + std::string(kNames[k]) + "=" + std::string(number, end);
  }
  return out;
}

LoadPlan::LoadPlan(double rate, std::chrono::nanoseconds duration, const Mix& mix)
    : rate_(rate), mix_(mix) {
  const double seconds = std::chrono::duration<double>(duration).count();
  count_ = std::max<int64_t>(1, static_cast<int64_t>(std::floor(rate * seconds + 1e-9)));
}

std::chrono::nanoseconds LoadPlan::IntendedOffset(int64_t i) const {
  return std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate_));
}

RequestKind LoadPlan::NextKind() {
  // Smooth weighted round robin (as nginx balances upstreams): every kind gains its weight, the
  // one ahead is picked and pays back the total.
  double total = 0;
  int best = 0;
  for (int k = 0; k < kRequestKinds; ++k) {
    current_[k] += mix_.weights[k];
    total += mix_.weights[k];
    if (current_[k] > current_[best]) best = k;
  }
  current_[best] -= total;
  return static_cast<RequestKind>(best);
}

}  // namespace stipple::loadgen
