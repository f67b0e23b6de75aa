// Fuzz target: the worker protocol's wire codec (src/service/worker_wire.h), which the gateway
// runs on every body a remote worker posts and the worker on every answer. Properties: any bytes
// give a message or a Status; what decodes re-encodes to a text that decodes again and encodes to
// the same text (the encoding is a fixed point).
#include "service/worker_wire.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body = stipple::fuzz::AsText(data, size);
  namespace wire = stipple::wire;

  if (auto request = wire::DecodeRequest(body); request.ok()) {
    std::string encoded = wire::EncodeRequest(request.value());
    auto again = wire::DecodeRequest(encoded);
    FUZZ_CHECK(again.ok(), again.status().ToString() + " for " + encoded);
    FUZZ_CHECK(wire::EncodeRequest(again.value()) == encoded, encoded);
  }
  if (auto response = wire::DecodeResponse(body); response.ok()) {
    std::string encoded = wire::EncodeResponse(response.value());
    auto again = wire::DecodeResponse(encoded);
    FUZZ_CHECK(again.ok(), again.status().ToString() + " for " + encoded);
    FUZZ_CHECK(wire::EncodeResponse(again.value()) == encoded, encoded);
  }
  return 0;
}
