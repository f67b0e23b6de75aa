#include "reload_signal.h"

#include <semaphore.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

namespace stipple::app {
namespace {

// sem_post is async-signal-safe; never destroyed, as a handler may still run.
sem_t* Semaphore() {
  static sem_t* sem = [] {
    auto* s = new sem_t;
    ::sem_init(s, 0, 0);
    return s;
  }();
  return sem;
}

void OnSighup(int) { ::sem_post(Semaphore()); }

}  // namespace

struct ReloadSignal::Impl {
  std::function<void()> on_reload;
  std::atomic<bool> stop{false};
  std::thread thread;
};

Result<std::unique_ptr<ReloadSignal>> ReloadSignal::Install(std::function<void()> on_reload) {
  Semaphore();  // before any handler can run
  auto impl = std::make_unique<Impl>();
  impl->on_reload = std::move(on_reload);
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnSighup;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (::sigaction(SIGHUP, &action, nullptr) != 0) {
    return InternalError(std::string("sigaction(SIGHUP): ") + std::strerror(errno));
  }
  Impl* d = impl.get();
  d->thread = std::thread([d] {
    while (true) {
      while (::sem_wait(Semaphore()) != 0 && errno == EINTR) {
      }
      if (d->stop) return;
      // Merge a burst of signals into one reload.
      while (::sem_trywait(Semaphore()) == 0) {
      }
      d->on_reload();
    }
  });
  return std::unique_ptr<ReloadSignal>(new ReloadSignal(std::move(impl)));
}

ReloadSignal::ReloadSignal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ReloadSignal::~ReloadSignal() {
  ::signal(SIGHUP, SIG_IGN);
  impl_->stop = true;
  ::sem_post(Semaphore());
  impl_->thread.join();
}

}  // namespace stipple::app
