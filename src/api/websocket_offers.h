// The subprotocols a WebSocket upgrade offers (Sec-WebSocket-Protocol), shared by the handler
// (which agrees to "stipple.v1") and the gateway's authentication (which reads "bearer.KEY").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stipple::http {

// The header's comma-separated offers, trimmed, empty ones left out; none without the header.
std::vector<std::string> OfferedProtocols(std::optional<std::string_view> header);

}  // namespace stipple::http
