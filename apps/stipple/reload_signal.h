// ReloadSignal: SIGHUP as a call on an ordinary thread, for `stipple serve` to reload its API
// keys file (API.md: "Reloaded on SIGHUP"). The handler only posts a semaphore; the thread calls
// `on_reload` once per SIGHUP (signals arriving together may be merged into one call).
//
//   auto reload = ReloadSignal::Install([&] { ... reload ... });   // one per process
//   ...
//   reload.reset();   // stops the thread; SIGHUP is ignored from then on
#pragma once

#include <functional>
#include <memory>

#include "common/status.h"

namespace stipple::app {

class ReloadSignal {
 public:
  static Result<std::unique_ptr<ReloadSignal>> Install(std::function<void()> on_reload);
  ~ReloadSignal();
  ReloadSignal(const ReloadSignal&) = delete;
  ReloadSignal& operator=(const ReloadSignal&) = delete;

 private:
  struct Impl;
  explicit ReloadSignal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stipple::app
