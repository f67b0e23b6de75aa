// The process the service crash test kills: a ServiceStack over a SqliteTaskStore and an
// FsResultStore (both with fsync, as `stipple serve` opens them) into which it submits tasks at
// full speed while a worker loop leases batches and completes them with CompleteBatch (every
// image of the batch in one pack, then every completion in one transaction). It reports on
// stdout, one line per event and one write() per line:
//   I <id>            about to submit (intent)
//   E <id>            submit acknowledged
//   L <fencing>       a lease was handed out with this fencing number
//   C <id>            completion acknowledged
// Each task's one image is "png:<id>". It runs until it is killed.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common/id.h"
#include "notify/in_memory_event_bus.h"
#include "results/fs_result_store.h"
#include "service/service_stack.h"
#include "store/sqlite/sqlite_task_store.h"

namespace {

void Report(char kind, const std::string& id) {
  std::string line = std::string(1, kind) + " " + id + "\n";
  if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: service_crash_child DB_PATH OUTPUTS_DIR\n");
    return 2;
  }
  auto store = stipple::SqliteTaskStore::Open({.path = argv[1]});
  auto results = stipple::FsResultStore::Open({.dir = argv[2]});
  if (!store.ok() || !results.ok()) {
    std::fprintf(stderr, "%s %s\n", store.status().ToString().c_str(),
                 results.status().ToString().c_str());
    return 1;
  }
  stipple::InMemoryEventBus bus;
  stipple::ServiceStack service(**store, bus, **results, {.max_queue = 0});
  Report('R', "ready");

  std::vector<std::thread> threads;
  for (int p = 0; p < 4; ++p) {
    threads.emplace_back([&] {
      while (true) {
        stipple::NewTask nt;
        nt.id = stipple::NewId("tsk");
        nt.tenant = "crash";
        nt.request.prompt = "a small blue triangle at the top";
        nt.request.model = "shapes-32";
        nt.request.width = nt.request.height = 32;
        nt.request.steps = 20;
        nt.request.guidance_scale = 4;
        nt.request.scheduler = "ddim";
        Report('I', nt.id);
        if (!service.tasks().Submit(nt).ok()) _exit(4);
        Report('E', nt.id);
      }
    });
  }
  threads.emplace_back([&] {
    while (true) {
      auto leased = service.work().Lease({.worker_id = "crash-worker",
                                          .models = {"shapes-32"},
                                          .max_tasks = 16,
                                          .lease_duration = stipple::Millis(60'000),
                                          .wait = stipple::Millis(100)});
      if (!leased.ok()) _exit(5);
      std::vector<stipple::TaskImages> batch;
      for (auto& l : *leased) {
        Report('L', std::to_string(l.task.fencing));
        batch.push_back({l.task.id, l.task.fencing, {{"png:" + l.task.id, 32, 32, 1}}});
      }
      std::vector<std::string> ids;
      for (const auto& t : batch) ids.push_back(t.task_id);
      auto done = service.work().CompleteBatch(std::move(batch));
      for (size_t i = 0; i < done.size(); ++i) {
        if (!done[i].ok()) _exit(6);
        Report('C', ids[i]);
      }
    }
  });
  for (auto& t : threads) t.join();
}
