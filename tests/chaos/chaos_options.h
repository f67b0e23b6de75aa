// The chaos runs' shared settings: the deployments' shape and the load's mix, used by the CI-sized
// test (chaos_test.cc) and the long run (chaos_main.cc) alike.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "chaos_run.h"

namespace stipple::chaos {

// Every kind of request: polled, sync (Prefer: wait), SSE followers, webhooks, cancels.
inline constexpr const char* kChaosMix = "async=3,sync=2,sse=2,webhook=2,cancel=1";

// The seed: STIPPLE_CHAOS_SEED when set, otherwise a random one (printed by the report).
inline uint64_t ChaosSeed() {
  if (const char* s = std::getenv("STIPPLE_CHAOS_SEED"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  return std::random_device{}() * uint64_t{0x100000001} + std::random_device{}();
}

// rate submits per second for `duration`, the mix above; sync waits of 10 s and a drain long
// enough for the retried webhooks and the leases of killed workers.
inline ChaosOptions MakeChaosOptions(uint64_t seed, double rate, std::chrono::seconds duration) {
  ChaosOptions o;
  o.seed = seed;
  o.load.rate = rate;
  o.load.duration = duration;
  o.load.mix = loadgen::ParseMix(kChaosMix).value();
  o.load.connections = 8;
  o.load.wait_s = 10;
  o.load.poll_interval = std::chrono::milliseconds(200);
  o.load.pollers = 2;
  o.load.drain = std::chrono::seconds(90);
  o.load.queue_sample = std::chrono::seconds(1);
  return o;
}

}  // namespace stipple::chaos
