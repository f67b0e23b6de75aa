#include "worker/shutdown_signal.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include <semaphore.h>
#include <signal.h>

namespace stipple {
namespace {

// sem_post is on POSIX's list of async-signal-safe functions; a condition variable is not.
struct SignalState {
  SignalState() { ::sem_init(&sem, 0, 0); }
  sem_t sem;
  std::atomic<int> last_signal{0};
};

SignalState& State() {
  static SignalState* state = new SignalState();  // never destroyed: a handler may still run
  return *state;
}

void Handle(int signo) { ShutdownSignal::Notify(signo); }

}  // namespace

Status ShutdownSignal::Install() {
  State();  // create it before any handler can run
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = Handle;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signo : {SIGTERM, SIGINT}) {
    if (::sigaction(signo, &action, nullptr) != 0) {
      return InternalError("sigaction(" + std::to_string(signo) + "): " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

void ShutdownSignal::Notify(int signo) noexcept {
  SignalState& state = State();
  state.last_signal.store(signo, std::memory_order_relaxed);
  ::sem_post(&state.sem);
}

int ShutdownSignal::Wait() {
  SignalState& state = State();
  while (::sem_wait(&state.sem) != 0 && errno == EINTR) {
  }
  return state.last_signal.load(std::memory_order_relaxed);
}

}  // namespace stipple
