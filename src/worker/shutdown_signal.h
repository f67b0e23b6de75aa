// ShutdownSignal: turns SIGTERM/SIGINT into a call the app's main thread can wait for, so the
// app drains its workers (Worker::Drain) on an ordinary thread instead of inside a signal
// handler, where almost nothing is allowed.
//
//   ShutdownSignal::Install();            // first thing in main
//   ... start the workers ...
//   int signo = ShutdownSignal::Wait();   // blocks until SIGTERM or SIGINT
//   for (auto& w : workers) w->Drain(grace);   // see docs/worker.md for draining in parallel
//
// An app with its own handler calls ShutdownSignal::Notify(signo) from it instead of Install().
#pragma once

#include "common/status.h"

namespace stipple {

class ShutdownSignal {
 public:
  // Installs Notify as the SIGTERM and SIGINT handler (sigaction, SA_RESTART).
  static Status Install();
  // Async-signal-safe (a sem_post): records the signal and wakes Wait.
  static void Notify(int signo) noexcept;
  // Blocks until Notify has been called since the last Wait returned; returns the signal.
  static int Wait();
};

}  // namespace stipple
