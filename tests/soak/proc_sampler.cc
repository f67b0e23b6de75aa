#include "proc_sampler.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace stipple::soak {
namespace {

namespace fs = std::filesystem;

// The number after "Name:" on its line of /proc/<pid>/status, if the line is there.
std::optional<int64_t> Field(std::string_view status, std::string_view name) {
  size_t at = 0;
  while (at < status.size()) {
    size_t end = status.find('\n', at);
    if (end == std::string_view::npos) end = status.size();
    std::string_view line = status.substr(at, end - at);
    at = end + 1;
    if (line.size() <= name.size() || line.substr(0, name.size()) != name ||
        line[name.size()] != ':') {
      continue;
    }
    std::string_view rest = line.substr(name.size() + 1);
    const size_t digits = rest.find_first_of("0123456789");
    if (digits == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(digits);
    int64_t value = 0;
    if (std::from_chars(rest.data(), rest.data() + rest.size(), value).ec != std::errc()) {
      return std::nullopt;
    }
    return value;
  }
  return std::nullopt;
}

}  // namespace

Result<ProcessFigures> ParseProcStatus(std::string_view status) {
  const std::optional<int64_t> threads = Field(status, "Threads");
  if (!threads) return InvalidArgumentError("/proc status: no Threads line");
  ProcessFigures figures;
  figures.threads = *threads;
  figures.rss_bytes = Field(status, "VmRSS").value_or(0) * 1024;
  return figures;
}

Result<ProcessFigures> ReadProcess(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream in(dir + "/status");
  if (!in) return NotFoundError(dir + "/status: no such process");
  std::stringstream text;
  text << in.rdbuf();
  ASSIGN_OR_RETURN(ProcessFigures figures, ParseProcStatus(text.str()));
  std::error_code ec;
  for (fs::directory_iterator it(dir + "/fd", ec), end; !ec && it != end; it.increment(ec)) {
    ++figures.fds;
  }
  if (ec) return NotFoundError(dir + "/fd: " + ec.message());
  return figures;
}

std::vector<pid_t> ProcessTree(pid_t root) {
  std::vector<pid_t> tree;
  if (!fs::exists("/proc/" + std::to_string(root))) return tree;
  tree.push_back(root);
  for (size_t next = 0; next < tree.size(); ++next) {
    std::error_code ec;
    const fs::path tasks = "/proc/" + std::to_string(tree[next]) + "/task";
    for (fs::directory_iterator it(tasks, ec), end; !ec && it != end; it.increment(ec)) {
      std::ifstream children(it->path() / "children");
      for (pid_t pid; children >> pid;) tree.push_back(pid);
    }
  }
  return tree;
}

Result<TreeFigures> ReadTree(pid_t root) {
  const std::vector<pid_t> tree = ProcessTree(root);
  if (tree.empty()) return NotFoundError("process " + std::to_string(root) + " is gone");
  TreeFigures out;
  for (pid_t pid : tree) {
    Result<ProcessFigures> one = ReadProcess(pid);
    if (!one.ok()) {
      if (pid == root) return one.status();
      continue;  // a child that exited meanwhile
    }
    if (pid == root) out.root = *one;
    ++out.processes;
    out.total.rss_bytes += one->rss_bytes;
    out.total.threads += one->threads;
    out.total.fds += one->fds;
  }
  return out;
}

}  // namespace stipple::soak
