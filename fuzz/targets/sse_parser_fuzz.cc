// Fuzz target: the client's Server-Sent Events parser (src/client/sse_parser.h). The first two
// bytes choose where the stream is cut into reads; the rest is the stream. Properties: no crash,
// and the events do not depend on how the stream was cut (fed whole, fed in two reads at the
// chosen point, and fed one byte at a time give the same events).
#include "client/sse_parser.h"

#include "fuzz_support.h"

namespace {

using stipple::client::SseEvent;

bool Same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type != b[i].type || a[i].id != b[i].id || a[i].data != b[i].data) return false;
  }
  return true;
}

void Append(std::vector<SseEvent>& all, std::vector<SseEvent> more) {
  all.insert(all.end(), more.begin(), more.end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t cut = (static_cast<size_t>(data[0]) << 8 | data[1]);
  std::string_view stream = stipple::fuzz::AsText(data + 2, size - 2);
  cut = stream.empty() ? 0 : cut % (stream.size() + 1);

  stipple::client::SseParser whole;
  std::vector<SseEvent> expected = whole.Feed(stream);

  stipple::client::SseParser two;
  std::vector<SseEvent> split = two.Feed(stream.substr(0, cut));
  Append(split, two.Feed(stream.substr(cut)));
  FUZZ_CHECK(Same(expected, split), "cut at " + std::to_string(cut));

  stipple::client::SseParser bytes;
  std::vector<SseEvent> one_by_one;
  for (char c : stream) Append(one_by_one, bytes.Feed(std::string_view(&c, 1)));
  FUZZ_CHECK(Same(expected, one_by_one), "fed byte by byte");
  return 0;
}
