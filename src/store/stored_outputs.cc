#include "store/stored_outputs.h"

#include <boost/json.hpp>

#include "core/generation_request_codec.h"
#include "core/json.h"

namespace stipple {

namespace json = boost::json;

std::string StoredRequestToJson(const GenerationRequest& request) {
  return WriteJson(GenerationRequestToJson(request));
}

Result<GenerationRequest> StoredRequestFromJson(std::string_view text) {
  Result<json::object> object = ParseJsonObject(text);
  if (!object.ok()) return DataLossError("stored request " + object.status().message());
  return GenerationRequestFromJson(*object);
}

std::string StoredOutputsToJson(const std::vector<TaskOutput>& outputs) {
  if (outputs.empty()) return "";
  json::array a;
  for (const auto& o : outputs) {
    a.push_back(json::object{{"index", o.index},
                             {"content_type", o.content_type},
                             {"width", o.width},
                             {"height", o.height},
                             {"seed", o.seed},
                             {"size_bytes", o.size_bytes},
                             {"etag", o.etag}});
  }
  return json::serialize(a);
}

Result<std::vector<TaskOutput>> StoredOutputsFromJson(std::string_view text) {
  std::vector<TaskOutput> outputs;
  if (text.empty()) return outputs;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return DataLossError("stored outputs are not a JSON array");
  for (const json::value& e : v.get_array()) {
    if (!e.is_object()) return DataLossError("stored output is not an object");
    const json::object& o = e.get_object();
    TaskOutput out;
    auto num = [&](std::string_view k) -> int64_t {
      const json::value* x = o.if_contains(k);
      return x && x->is_number() ? x->to_number<int64_t>() : 0;
    };
    out.index = static_cast<int>(num("index"));
    out.width = static_cast<int>(num("width"));
    out.height = static_cast<int>(num("height"));
    out.seed = static_cast<uint32_t>(num("seed"));
    out.size_bytes = num("size_bytes");
    if (const json::value* ct = o.if_contains("content_type"); ct && ct->is_string()) {
      out.content_type = std::string(ct->get_string());
    }
    if (const json::value* et = o.if_contains("etag"); et && et->is_string())
      out.etag = std::string(et->get_string());
    outputs.push_back(std::move(out));
  }
  return outputs;
}

}  // namespace stipple
