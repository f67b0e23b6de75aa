// Server-Sent Events framing (the WHATWG event-stream format): bytes in, whole events out. Handles
// LF, CRLF and CR line ends, multi-line data, comments (keep-alives) and frames split across
// reads. Knows nothing of stipple's event types.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stipple::client {

struct SseEvent {
  std::string type = "message";  // the "event:" field; "message" when absent
  std::string id;                // the "id:" field; empty when absent
  std::string data;              // "data:" lines joined with "\n"
};

class SseParser {
 public:
  // Feeds the next bytes of the stream; returns the events they complete, in order.
  std::vector<SseEvent> Feed(std::string_view bytes);

 private:
  void Line(std::string_view line, std::vector<SseEvent>& out);

  std::string partial_;  // an unterminated line
  bool last_was_cr_ = false;
  SseEvent current_;
  bool has_data_ = false;
};

}  // namespace stipple::client
