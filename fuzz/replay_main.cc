// The corpus replay driver: a main() for a fuzz target in the ordinary (GCC) build, so that ctest
// runs every target over its committed corpus without clang or libFuzzer.
//
//   <target>_replay [--mutants=N] [--only=K] [--save=PATH] FILE_OR_DIR...
//
// Runs LLVMFuzzerTestOneInput on each file (a directory: its regular files, sorted), then on N
// deterministic variants of each (a byte flipped, erased, inserted or repeated, the input cut
// short), so CI also explores a little past the seeds at no cost of a clang build. --only=K runs
// only variant K of each file (0: the file itself); --save writes that input to PATH (to hand a
// failing variant to the libFuzzer binary or a test). A crash prints which file and variant.
// Exit status: 0 when every input ran, 2 for bad arguments or no input files.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_support.h"

namespace {

namespace fs = std::filesystem;

char g_current[512] = "";  // what is running, for the crash handler

void OnCrash(int sig) {
  const char prefix[] = "\nreplay: crashed on ";
  ssize_t ignored = write(2, prefix, sizeof(prefix) - 1);
  ignored = write(2, g_current, strlen(g_current));
  ignored = write(2, "\n", 1);
  (void)ignored;
  signal(sig, SIG_DFL);
  raise(sig);
}

// xorshift64*: the variants must be the same on every machine and run.
uint64_t NextRandom(uint64_t& state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 2685821657736338717ULL;
}

// Variant k (k >= 1) of `input`.
std::string Variant(const std::string& input, int k) {
  uint64_t state =
      0x9E3779B97F4A7C15ULL ^ (static_cast<uint64_t>(k) * 0xBF58476D1CE4E5B9ULL) ^ input.size();
  std::string out = input;
  int edits = 1 + static_cast<int>(NextRandom(state) % 3);
  for (int e = 0; e < edits; ++e) {
    size_t pos = out.empty() ? 0 : NextRandom(state) % out.size();
    auto byte = static_cast<char>(NextRandom(state) & 0xff);
    switch (NextRandom(state) % 6) {
      case 0:  // flip one bit
        if (!out.empty()) out[pos] = static_cast<char>(out[pos] ^ (1 << (NextRandom(state) % 8)));
        break;
      case 1:  // erase a byte
        if (!out.empty()) out.erase(pos, 1);
        break;
      case 2:  // insert a byte
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(pos), byte);
        break;
      case 3:  // set a byte to an interesting value
        if (!out.empty()) {
          static const char kInteresting[] = {0, '\xff', '"', '\\', '\r', '\n', '-', '9', '{', ':'};
          out[pos] = kInteresting[NextRandom(state) % sizeof(kInteresting)];
        }
        break;
      case 4:  // cut short
        out.resize(pos);
        break;
      default:  // repeat a short run
        if (!out.empty()) {
          size_t len = std::min<size_t>(1 + NextRandom(state) % 16, out.size() - pos);
          out.insert(pos, out.substr(pos, len));
        }
        break;
    }
  }
  return out;
}

void Run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  int mutants = 0;
  int only = -1;
  std::string save;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--mutants=", 0) == 0) {
      mutants = std::atoi(arg.c_str() + 10);
    } else if (arg.rfind("--only=", 0) == 0) {
      only = std::atoi(arg.c_str() + 7);
    } else if (arg.rfind("--save=", 0) == 0) {
      save = arg.substr(7);
    } else if (fs::is_directory(arg)) {
      std::vector<fs::path> in_dir;
      for (const auto& entry : fs::directory_iterator(arg)) {
        if (entry.is_regular_file()) in_dir.push_back(entry.path());
      }
      std::sort(in_dir.begin(), in_dir.end());
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else if (fs::is_regular_file(arg)) {
      files.emplace_back(arg);
    } else {
      std::cerr << "replay: " << arg << ": no such file or directory\n";
      return 2;
    }
  }
  if (files.empty()) {
    std::cerr << "usage: " << argv[0]
              << " [--mutants=N] [--only=K] [--save=PATH] FILE_OR_DIR...  (no input files given)\n";
    return 2;
  }
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, OnCrash);

  size_t runs = 0;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::cerr << "replay: cannot read " << file << "\n";
      return 2;
    }
    int first = only >= 0 ? only : 0;
    int last = only >= 0 ? only : mutants;
    for (int k = first; k <= last; ++k) {
      std::snprintf(g_current, sizeof(g_current), "%s variant %d (rerun: --only=%d)", file.c_str(),
                    k, k);
      std::string bytes = k == 0 ? input : Variant(input, k);
      if (!save.empty()) {
        std::ofstream(save, std::ios::binary) << bytes;
      }
      Run(bytes);
      ++runs;
    }
  }
  std::cout << "replay: " << runs << " inputs from " << files.size() << " files ran\n";
  return 0;
}
