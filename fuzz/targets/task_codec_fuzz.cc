// Fuzz target: the codecs that read what a server sends (src/client/task_codec.h: tasks, events,
// task pages, models, queue figures, workers) and the names of states, priorities and event types
// (src/core). Property: any bytes give a value or a Status, never a crash; a parsed event's type
// names itself back.
#include "client/task_codec.h"
#include "core/task_event.h"
#include "core/task_state.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = stipple::fuzz::AsText(data, size);
  (void)stipple::client::ParseTaskSnapshot(text);
  (void)stipple::client::ParseEventSnapshot(text);
  (void)stipple::client::ParseTaskPage(text);
  (void)stipple::client::ParseModelList(text);
  (void)stipple::client::ParseQueueFigures(text);
  (void)stipple::client::ParseWorkerList(text);

  if (auto state = stipple::ParseTaskState(text)) {
    FUZZ_CHECK(stipple::TaskStateName(*state) == text, text);
  }
  if (auto priority = stipple::ParsePriority(text)) {
    FUZZ_CHECK(stipple::PriorityName(*priority) == text, text);
  }
  if (auto type = stipple::ParseTaskEventType(text)) {
    FUZZ_CHECK(stipple::TaskEventTypeName(*type) == text, text);
  }
  return 0;
}
