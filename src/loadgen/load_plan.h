// LoadPlan: what `stipple bench` sends and when — an open-loop schedule of requests at a fixed
// rate for a fixed time, each of one kind of the mix (async with polling, `Prefer: wait` sync,
// async followed over Server-Sent Events, async with a completion webhook, async canceled at once).
//
// Contract:
// - Open loop: request i is due at exactly i / rate seconds after the start, whatever the server
//   does; a sender that is late still measures from that intended time (no coordinated omission).
// - The mix is exact, not random: request kinds are interleaved by smooth weighted round robin,
//   so every prefix of the schedule holds each kind in proportion to its weight (within one).
// - Parse functions answer kInvalidArgument naming the flag.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple::loadgen {

enum class RequestKind { kAsync = 0, kSync = 1, kSse = 2, kWebhook = 3, kCancel = 4 };
inline constexpr int kRequestKinds = 5;

// "async", "sync", "sse", "webhook", "cancel".
std::string_view RequestKindName(RequestKind kind);

// Relative weights per kind (non-negative, at least one positive).
struct Mix {
  std::array<double, kRequestKinds> weights = {1, 0, 0, 0, 0};
  double Weight(RequestKind kind) const { return weights[static_cast<int>(kind)]; }
};

// "async=70,sync=10,sse=10,webhook=10" (any subset, any order; a kind alone means weight 1:
// "async,sse"). kInvalidArgument naming --mix for an unknown kind, a bad or negative weight, or
// all weights zero.
Result<Mix> ParseMix(std::string_view text);
// The inverse: "async=70,sync=10" (kinds of weight 0 left out).
std::string FormatMix(const Mix& mix);

class LoadPlan {
 public:
  // rate > 0 requests per second over duration > 0 seconds.
  LoadPlan(double rate, std::chrono::nanoseconds duration, const Mix& mix);

  // How many requests the run sends: floor(rate × duration), at least 1.
  int64_t count() const { return count_; }
  // When request i is due, from the start of the run.
  std::chrono::nanoseconds IntendedOffset(int64_t i) const;
  // The kind of the next request, for i = 0, 1, 2, … in order (smooth weighted round robin over
  // the mix). Not thread-safe: the caller takes indices and kinds together under one lock.
  RequestKind NextKind();

 private:
  double rate_;
  int64_t count_;
  Mix mix_;
  std::array<double, kRequestKinds> current_{};
};

}  // namespace stipple::loadgen
