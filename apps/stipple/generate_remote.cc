// `stipple generate PROMPT` through a server: submits the request, follows the task — a live
// progress bar on a terminal (tasks ahead while queued, then step i/n with an ETA), plain lines
// otherwise, nothing but the final JSON with --json — and downloads the images. Ctrl-C once asks,
// a second time cancels the task, a third stops following it.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "client_format.h"
#include "client_options.h"
#include "common/thread_annotations.h"
#include "core/json.h"
#include "generate.h"

namespace stipple::app {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(100);
constexpr auto kQueuePollEvery = std::chrono::milliseconds(1000);

std::atomic<int> g_interrupts{0};
extern "C" void CountInterrupt(int) { g_interrupts.fetch_add(1); }

// Counts SIGINTs instead of dying on the first, for its lifetime.
class InterruptCounter {
 public:
  InterruptCounter() {
    g_interrupts = 0;
    struct sigaction action = {};
    action.sa_handler = CountInterrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptCounter() { sigaction(SIGINT, &previous_, nullptr); }
  int count() const { return g_interrupts.load(); }

 private:
  struct sigaction previous_ = {};
};

// What the follower thread has learnt about the task; guarded by mu.
struct Followed {
  Mutex mu;
  std::condition_variable cv;
  ProgressView view GUARDED_BY(mu);
  int eta_base_step GUARDED_BY(mu) = -1;  // the first step seen in this attempt, and when
  SteadyClock::time_point eta_base_time GUARDED_BY(mu);
  bool ended GUARDED_BY(mu) = false;     // the follower is done
  bool terminal GUARDED_BY(mu) = false;  // ... because the task ended
  Status status GUARDED_BY(mu);          // ... else why
};

void Apply(Followed& f, const TaskEvent& event) REQUIRES(f.mu) {
  ProgressView& v = f.view;
  switch (event.type) {
    case TaskEventType::kQueued:
    case TaskEventType::kRetrying:
      v.state = TaskState::kQueued;
      v.progress.reset();
      v.eta_s.reset();
      f.eta_base_step = -1;
      break;
    case TaskEventType::kStarted:
      v.state = TaskState::kRunning;
      v.queue_position.reset();
      v.eta_s.reset();
      f.eta_base_step = -1;
      break;
    case TaskEventType::kProgress: {
      v.state = TaskState::kRunning;
      if (!event.progress) break;
      v.progress = event.progress;
      const auto now = SteadyClock::now();
      if (f.eta_base_step < 0 || event.progress->step < f.eta_base_step) {
        f.eta_base_step = event.progress->step;
        f.eta_base_time = now;
      } else if (event.progress->step > f.eta_base_step) {
        const double per_step = std::chrono::duration<double>(now - f.eta_base_time).count() /
                                (event.progress->step - f.eta_base_step);
        v.eta_s = per_step * (event.progress->steps - event.progress->step);
      }
      break;
    }
    default:
      if (event.task) v.state = event.task->state;
      v.eta_s.reset();
      break;
  }
}

// Follows the task until it ends: its events when a display wants them (falling back to a long
// poll if the stream fails), else a long poll.
void Follow(client::Client& client, const std::string& id, bool use_events, Followed& f,
            const std::stop_token& stop) {
  Status status;
  bool terminal = false;
  if (use_events) {
    status = client.StreamEvents(
        id, 0,
        [&](const client::EventSnapshot& e) {
          MutexLock lock(f.mu);
          Apply(f, e.event);
          terminal = IsTerminalEvent(e.event.type);
          f.cv.notify_all();
          return true;
        },
        stop);
  }
  if (!terminal && !stop.stop_requested() && status.code() != StatusCode::kNotFound) {
    Result<client::TaskSnapshot> task = client.Wait(id, std::nullopt, stop);
    status = task.status();
    terminal = task.ok() && IsTerminal(task->task.state);
  }
  MutexLock lock(f.mu);
  f.ended = true;
  f.terminal = terminal;
  f.status = status;
  f.cv.notify_all();
}

// The progress shown on stderr: a redrawn line on a terminal, plain lines otherwise, nothing
// with --json.
class Display {
 public:
  enum class Mode { kTerminal, kPlain, kQuiet };
  Display(Mode mode, std::string id) : mode_(mode), id_(std::move(id)) {}

  void Update(const ProgressView& view) {
    if (mode_ == Mode::kTerminal) {
      std::string line = id_ + "  " + ProgressBarLine(view, Width() - int(id_.size()) - 3);
      if (line != drawn_) {
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
        std::fflush(stderr);
        drawn_ = line;
      }
    } else if (mode_ == Mode::kPlain) {
      std::string line;
      if (view.state != last_state_) {
        line = id_ + "  " + std::string(TaskStateName(view.state));
        if (view.state == TaskState::kQueued && view.queue_position) {
          line += "  " + std::to_string(*view.queue_position) + " ahead";
        }
        last_state_ = view.state;
        last_tenth_ = -1;
      }
      if (view.state == TaskState::kRunning && view.progress && view.progress->steps > 0) {
        const int tenth = view.progress->step * 10 / view.progress->steps;
        if (tenth != last_tenth_) {
          if (!line.empty()) Print(line);
          line = id_ + "  step " + std::to_string(view.progress->step) + "/" +
                 std::to_string(view.progress->steps);
          last_tenth_ = tenth;
        }
      }
      if (!line.empty()) Print(line);
    }
  }

  // A message on its own line (the live line is redrawn after it).
  void Note(const std::string& message) {
    if (mode_ == Mode::kQuiet) return;
    Clear();
    Print(message);
  }

  void Clear() {
    if (mode_ == Mode::kTerminal && !drawn_.empty()) {
      std::fputs("\r\033[K", stderr);
      std::fflush(stderr);
      drawn_.clear();
    }
  }

 private:
  static void Print(const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  }
  static int Width() {
    struct winsize size = {};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20) return size.ws_col;
    return 80;
  }

  Mode mode_;
  std::string id_;
  std::string drawn_;
  std::optional<TaskState> last_state_;
  int last_tenth_ = -1;
};

std::string TaskJsonWithFiles(const std::string& task_json, const std::vector<std::string>& files) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(task_json, ec);
  if (ec || !value.is_object()) return task_json;
  boost::json::array paths;
  for (const std::string& file : files) paths.emplace_back(file);
  value.as_object()["files"] = std::move(paths);
  return WriteJson(value);
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "stipple generate: %s\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int GenerateThroughServer(const Config& config, const std::string& body) {
  const bool json = WantsJson(config);
  Result<bool> async = config.GetBool("async");
  if (!async.ok()) return Usage(async.status().message());
  std::optional<SteadyClock::time_point> deadline;
  if (config.Has("wait")) {
    Result<double> wait_s = config.GetDouble("wait");
    if (!wait_s.ok()) return Usage(wait_s.status().message());
    if (*wait_s <= 0) return Usage("option --wait: expected a number of seconds above 0");
    if (*async) return Usage("--async and --wait exclude each other");
    deadline = SteadyClock::now() + std::chrono::milliseconds(int64_t(*wait_s * 1000));
  }
  Result<std::unique_ptr<client::Client>> made = MakeClient(config);
  if (!made.ok()) return Usage(made.status().message());
  client::Client& client = **made;

  const auto started = SteadyClock::now();
  Result<client::SubmitResult> submitted = client.Submit(body);
  if (!submitted.ok()) return ReportError("generate", submitted.status(), config);
  const std::string id = submitted->task.task.id;
  if (*async) {
    std::printf("%s\n", json ? submitted->task.json.c_str() : id.c_str());
    return kExitOk;
  }

  InterruptCounter interrupts;
  Display display(json                    ? Display::Mode::kQuiet
                  : isatty(STDERR_FILENO) ? Display::Mode::kTerminal
                                          : Display::Mode::kPlain,
                  id);
  Followed followed;
  {
    MutexLock lock(followed.mu);  // uncontended: the follower starts below
    followed.view.task_id = id;
    followed.view.state = submitted->task.task.state;
    followed.view.queue_position = submitted->task.task.queue_position;
    followed.view.eta_s = submitted->task.eta_s;
  }
  std::jthread follower(
      [&](const std::stop_token& stop) { Follow(client, id, !json, followed, stop); });

  int exit_code = -1;
  bool asked = false, cancel_sent = false;
  auto last_poll = SteadyClock::now();
  while (true) {
    ProgressView view;
    {
      MutexLock lock(followed.mu);
      followed.cv.wait_for(lock.native(), kTick,
                           [&]() REQUIRES(followed.mu) { return followed.ended; });
      if (followed.ended) break;
      view = followed.view;
    }
    const int count = interrupts.count();
    if (count >= 3) {
      display.Note("stipple generate: stopped following " + id + "; 'stipple status " + id +
                   "' shows where it is");
      exit_code = kExitInterrupted;
      break;
    }
    if (count == 2 && !cancel_sent) {
      cancel_sent = true;
      display.Note("canceling " + id + " (Ctrl-C again stops waiting for it)");
      Result<client::CancelResult> canceled = client.Cancel(id);
      if (!canceled.ok()) display.Note("stipple generate: cancel: " + canceled.status().message());
    } else if (count == 1 && !asked) {
      asked = true;
      display.Note("press Ctrl-C again to cancel " + id + "; it goes on otherwise");
    }
    const auto now = SteadyClock::now();
    if (deadline && now >= *deadline) {
      display.Clear();
      std::fprintf(stderr,
                   "stipple generate: %s has not ended within --wait; it goes on ('stipple wait "
                   "%s' follows it)\n",
                   id.c_str(), id.c_str());
      if (json) {
        Result<client::TaskSnapshot> now_task = client.Get(id);
        if (now_task.ok()) std::printf("%s\n", now_task->json.c_str());
      }
      exit_code = kExitTimeout;
      break;
    }
    if (!json && view.state == TaskState::kQueued && now - last_poll >= kQueuePollEvery) {
      // Events do not carry the queue position; the task does.
      last_poll = now;
      Result<client::TaskSnapshot> polled = client.Get(id, follower.get_stop_token());
      if (polled.ok() && polled->task.state == TaskState::kQueued) {
        MutexLock lock(followed.mu);
        if (followed.view.state == TaskState::kQueued) {
          followed.view.queue_position = polled->task.queue_position;
          followed.view.eta_s = polled->eta_s;
          view = followed.view;
        }
      }
    }
    display.Update(view);
  }
  follower.request_stop();
  follower.join();
  if (exit_code >= 0) return exit_code;
  display.Clear();
  {
    MutexLock lock(followed.mu);  // uncontended: the follower has ended
    if (!followed.terminal) return ReportError("generate", followed.status, config);
  }

  Result<client::TaskSnapshot> ended = client.Wait(id);  // its final form, outputs included
  if (!ended.ok()) return ReportError("generate", ended.status(), config);
  const Task& task = ended->task;
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  if (task.state != TaskState::kSucceeded) {
    std::string why = task.error ? ": " + task.error->code + ": " + task.error->message : "";
    std::fprintf(stderr, "stipple generate: %s %s after %s%s\n", id.c_str(),
                 std::string(TaskStateName(task.state)).c_str(), FormatSeconds(seconds).c_str(),
                 why.c_str());
    if (json) std::printf("%s\n", ended->json.c_str());
    return ExitCodeForState(task.state);
  }
  const std::string output = config.Has("output") ? config.GetString("output") : id + ".png";
  std::vector<std::string> files;
  for (const TaskOutput& out : task.outputs) {
    const std::string path = OutputPath(output, out.index, static_cast<int>(task.outputs.size()));
    Status saved = client.DownloadOutputTo(id, out.index, path);
    if (!saved.ok()) return ReportError("generate", saved, config);
    files.push_back(path);
  }
  if (json) {
    std::printf("%s\n", TaskJsonWithFiles(ended->json, files).c_str());
    return kExitOk;
  }
  std::fprintf(stderr, "%s  succeeded in %s\n", id.c_str(), FormatSeconds(seconds).c_str());
  for (size_t i = 0; i < files.size(); ++i) {
    std::printf("%s  %dx%d  seed %u\n", files[i].c_str(), task.outputs[i].width,
                task.outputs[i].height, task.outputs[i].seed);
  }
  return kExitOk;
}

}  // namespace stipple::app
