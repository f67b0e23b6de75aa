// CancelToken: a flag one thread raises and the engine polls between denoising steps.
//
// Thread-safe: Cancel() and cancelled() may be called from any thread at any time. The token is
// owned by whoever asked for the work (the worker, the CLI); the engine only reads it and never
// keeps a pointer to it after Generate returns.
#pragma once

#include <atomic>

namespace stipple {

class CancelToken {
 public:
  CancelToken() = default;
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace stipple
