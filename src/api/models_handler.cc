// /v1/models: the models given to the server, the first being the default, each with the LoRA
// files of its family.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "api/handlers.h"
#include "core/json.h"
#include "http/problem.h"

namespace stipple::http {

void ListModels(HandlerContext& ctx, HttpRequest&, ExchangePtr exchange) {
  namespace json = boost::json;
  json::array data;
  for (const ModelLimits& m : ctx.models.models) {
    json::array sizes;
    sizes.push_back(json::array{m.width, m.height});
    for (const auto& [w, h] : m.sizes) {
      if (w != m.width || h != m.height) sizes.push_back(json::array{w, h});
    }
    json::array schedulers;
    for (const std::string& s : m.schedulers) schedulers.push_back(json::value(s));
    json::array loras;
    for (const LoraInfo& lora : ctx.models.loras) {
      if (lora.family != m.family) continue;
      loras.push_back(json::object{{"name", lora.name}, {"bytes", lora.bytes}});
    }
    json::value size_rule = nullptr;
    if (m.size_multiple > 0) {
      size_rule =
          json::object{{"multiple", m.size_multiple}, {"min", m.min_size}, {"max", m.max_size}};
    }
    data.push_back(
        json::object{{"id", m.name},
                     {"object", "model"},
                     {"family", m.family.empty() ? json::value(nullptr) : json::value(m.family)},
                     {"width", m.width},
                     {"height", m.height},
                     {"sizes", std::move(sizes)},
                     {"size_rule", std::move(size_rule)},
                     {"max_steps", m.max_steps},
                     {"schedulers", std::move(schedulers)},
                     {"default_steps", m.default_steps},
                     {"default_guidance_scale", m.default_guidance_scale},
                     {"default_scheduler", m.default_scheduler},
                     {"max_clip_skip", m.max_clip_skip},
                     {"inpainting", m.inpainting},
                     {"loras", std::move(loras)},
                     {"default", &m == ctx.models.Default()}});
  }
  exchange->Respond(JsonResponse(200, WriteJson(json::object{{"object", "list"}, {"data", data}})));
}

}  // namespace stipple::http
