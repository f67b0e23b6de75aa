// What the soak harness samples of a running server from /proc (Linux): a process's resident
// memory, threads and open descriptors, summed over the process and all its descendants (`stipple
// serve --worker-processes N` runs its workers as children).
//
// Contract:
// - ParseProcStatus reads VmRSS (kB) and Threads from the text of /proc/<pid>/status; a kernel
//   thread or zombie without VmRSS reads as 0 bytes. kInvalidArgument when Threads is missing.
// - ReadProcess reads /proc/<pid>/status and counts the entries of /proc/<pid>/fd (the caller
//   must be allowed to list them: the same user). kNotFound when the process is gone.
// - ProcessTree lists `root` first, then its descendants breadth first, from
//   /proc/<pid>/task/<tid>/children. Empty when root is gone.
// - ReadTree sums ReadProcess over ProcessTree(root); a descendant that exits between the listing
//   and its read is left out. kNotFound when root itself is gone.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace stipple::soak {

struct ProcessFigures {
  int64_t rss_bytes = 0;
  int64_t threads = 0;
  int64_t fds = 0;
};

Result<ProcessFigures> ParseProcStatus(std::string_view status);
Result<ProcessFigures> ReadProcess(pid_t pid);
std::vector<pid_t> ProcessTree(pid_t root);

struct TreeFigures {
  int64_t processes = 0;
  ProcessFigures total;  // summed over the tree
  ProcessFigures root;   // the root alone
};

Result<TreeFigures> ReadTree(pid_t root);

}  // namespace stipple::soak
