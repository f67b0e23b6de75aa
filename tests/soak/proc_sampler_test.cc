#include "proc_sampler.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace stipple::soak {
namespace {

TEST(ParseProcStatus, ReadsResidentMemoryAndThreads) {
  Result<ProcessFigures> f = ParseProcStatus(
      "Name:\tstipple\nVmPeak:\t  900000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 100 kB\n"
      "Threads:\t17\n");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->rss_bytes, 12345 * 1024);
  EXPECT_EQ(f->threads, 17);
}

TEST(ParseProcStatus, AProcessWithoutMemoryReadsAsZeroAndNoThreadsIsAnError) {
  Result<ProcessFigures> f = ParseProcStatus("Name:\tkthreadd\nThreads:\t1\n");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->rss_bytes, 0);
  EXPECT_EQ(ParseProcStatus("Name:\tx\nVmRSS:\t1 kB\n").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ReadTree, SumsThisProcessAndAChild) {
  Result<TreeFigures> alone = ReadTree(getpid());
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  EXPECT_GE(alone->processes, 1);
  EXPECT_GT(alone->root.rss_bytes, 0);
  EXPECT_GE(alone->root.fds, 3);  // stdin, stdout, stderr
  std::jthread extra([] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); });
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  Result<TreeFigures> two = ReadTree(getpid());
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->processes, alone->processes + 1);
  EXPECT_GE(two->root.threads, 2);  // this thread and `extra`
  EXPECT_GT(two->total.rss_bytes, two->root.rss_bytes);
  EXPECT_GT(two->total.threads, two->root.threads);
  EXPECT_GT(two->total.fds, two->root.fds);
  const std::vector<pid_t> tree = ProcessTree(getpid());
  ASSERT_FALSE(tree.empty());
  EXPECT_EQ(tree.front(), getpid());
  EXPECT_NE(std::find(tree.begin(), tree.end(), child), tree.end());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

TEST(ReadTree, AProcessThatIsGoneIsNotFound) {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(ReadTree(child).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(ProcessTree(child).empty());
}

}  // namespace
}  // namespace stipple::soak
