// The process the store crash test kills: it enqueues, leases and completes tasks at full speed
// on a SqliteTaskStore and reports on stdout, one line per event and one write() per line:
//   I <id>            about to enqueue (intent)
//   E <id>            enqueue acknowledged
//   L <fencing>       a lease was handed out with this fencing number
//   C <id>            completion acknowledged
// It runs until it is killed.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common/id.h"
#include "store/sqlite/sqlite_task_store.h"

namespace {

void Report(char kind, const std::string& id) {
  std::string line = std::string(1, kind) + " " + id + "\n";
  if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(3);
}

stipple::GenerationRequest Request() {
  stipple::GenerationRequest r;
  r.prompt = "a small blue triangle at the top";
  r.model = "shapes-32";
  r.width = r.height = 32;
  r.steps = 20;
  r.guidance_scale = 4;
  r.scheduler = "ddim";
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: store_crash_child DB_PATH\n");
    return 2;
  }
  auto opened = stipple::SqliteTaskStore::Open({.path = argv[1]});
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  stipple::TaskStore& store = **opened;
  Report('R', "ready");

  std::vector<std::thread> threads;
  for (int p = 0; p < 8; ++p) {
    threads.emplace_back([&] {
      while (true) {
        stipple::NewTask nt;
        nt.id = stipple::NewId("tsk");
        nt.tenant = "crash";
        nt.request = Request();
        Report('I', nt.id);
        if (!store.Enqueue(nt).ok()) _exit(4);
        Report('E', nt.id);
      }
    });
  }
  threads.emplace_back([&] {
    while (true) {
      auto leased = store.Lease({.worker_id = "crash-worker",
                                 .models = {"shapes-32"},
                                 .max_tasks = 64,
                                 .lease_duration = stipple::Millis(60'000),
                                 .wait = stipple::Millis(100)});
      if (!leased.ok()) _exit(5);
      std::vector<stipple::Completion> done;
      for (auto& l : *leased) {
        Report('L', std::to_string(l.task.fencing));
        stipple::TaskOutput out;
        out.width = out.height = 32;
        out.size_bytes = 1;
        done.push_back({l.task.id, l.task.fencing, {out}, stipple::SystemClock::Get()->Now()});
      }
      auto results = store.Complete(std::span<const stipple::Completion>(done));
      for (size_t i = 0; i < results.size(); ++i) {
        if (!results[i].ok()) _exit(6);
        Report('C', done[i].task_id);
      }
    }
  });
  for (auto& t : threads) t.join();
}
