#include "client_format.h"

#include <gtest/gtest.h>

namespace stipple::app {
namespace {

client::TaskSnapshot Snapshot(TaskState state) {
  client::TaskSnapshot s;
  s.task.id = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";
  s.task.state = state;
  return s;
}

TEST(ClientFormat, SecondsReadNaturally) {
  EXPECT_EQ(FormatSeconds(0.42), "0.4s");
  EXPECT_EQ(FormatSeconds(12.4), "12s");
  EXPECT_EQ(FormatSeconds(185), "3m05s");
  EXPECT_EQ(FormatSeconds(7380), "2h03m");
}

TEST(ClientFormat, TaskLineShowsWhatMattersInEachState) {
  client::TaskSnapshot queued = Snapshot(TaskState::kQueued);
  queued.task.queue_position = 2;
  queued.eta_s = 8;
  EXPECT_EQ(FormatTaskLine(queued), queued.task.id + "  queued  2 tasks ahead  eta 8.0s");

  client::TaskSnapshot running = Snapshot(TaskState::kRunning);
  running.task.progress = TaskProgress{12, 20};
  EXPECT_EQ(FormatTaskLine(running), running.task.id + "  running  step 12/20");

  client::TaskSnapshot failed = Snapshot(TaskState::kFailed);
  failed.task.error = TaskError{"engine_error", "out of memory"};
  EXPECT_EQ(FormatTaskLine(failed), failed.task.id + "  failed  engine_error: out of memory");

  client::TaskSnapshot done = Snapshot(TaskState::kSucceeded);
  done.task.outputs.push_back(TaskOutput{.index = 0, .width = 32, .height = 32, .seed = 7});
  EXPECT_EQ(FormatTaskLine(done), done.task.id + "  succeeded  1 image  32x32  seed 7");
}

TEST(ClientFormat, ProgressBarFillsWithTheStepsAndFitsTheWidth) {
  ProgressView view;
  view.state = TaskState::kRunning;
  view.progress = TaskProgress{5, 10};
  std::string line = ProgressBarLine(view, 40);
  EXPECT_LE(line.size(), 40u);
  EXPECT_NE(line.find("5/10"), std::string::npos);
  const size_t filled = std::count(line.begin(), line.end(), '#');
  const size_t empty = std::count(line.begin(), line.end(), '-');
  EXPECT_EQ(filled, empty);

  view.state = TaskState::kQueued;
  view.queue_position = 0;
  EXPECT_EQ(ProgressBarLine(view, 80), "queued  next in line");
}

}  // namespace
}  // namespace stipple::app
