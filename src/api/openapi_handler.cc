// /openapi.json: the OpenAPI 3.0 document, generated from the route table (so every route is
// described and nothing else is) plus the schemas of the bodies.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <cctype>

#include "api/handlers.h"
#include "core/json.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

namespace json = boost::json;

// The component schemas, by name (what ResponseSpec::schema and Route::request_schema name).
constexpr const char* kSchemas = R"({
"Problem": {"type": "object", "required": ["type", "title", "status"], "properties": {
  "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
  "detail": {"type": "string"},
  "errors": {"type": "array", "items": {"type": "object", "properties": {
    "field": {"type": "string"}, "message": {"type": "string"}}}}}},
"GenerationRequest": {"type": "object", "required": ["prompt"], "additionalProperties": false,
 "properties": {
  "prompt": {"type": "string", "minLength": 1, "maxLength": 1000},
  "negative_prompt": {"type": "string", "maxLength": 1000},
  "model": {"type": "string"}, "width": {"type": "integer"}, "height": {"type": "integer"},
  "steps": {"type": "integer", "minimum": 1, "maximum": 150},
  "guidance_scale": {"type": "number", "minimum": 0, "maximum": 30},
  "scheduler": {"type": "string", "enum": ["ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "lcm"]},
  "clip_skip": {"type": "integer", "minimum": 0,
   "description": "text-encoder layers to skip for the prompt (diffusers' clip_skip; A1111's Clip skip N is N-1), up to the model's max_clip_skip"},
  "seed": {"type": "integer", "minimum": 0, "maximum": 4294967295},
  "num_images": {"type": "integer", "minimum": 1, "maximum": 8},
  "priority": {"type": "string", "enum": ["high", "normal", "low"]},
  "ttl_s": {"type": "integer", "minimum": 1, "maximum": 604800, "nullable": true},
  "timeout_s": {"type": "integer", "minimum": 1, "maximum": 3600},
  "webhook": {"type": "object", "nullable": true, "required": ["url"],
   "additionalProperties": false, "properties": {"url": {"type": "string"},
   "events": {"type": "array", "items": {"type": "string",
     "enum": ["started", "progress", "completed"]}}}},
  "metadata": {"type": "object"},
  "init_image": {"$ref": "#/components/schemas/ImageInput"},
  "mask_image": {"$ref": "#/components/schemas/ImageInput"},
  "strength": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1,
   "description": "with init_image: the share of the schedule that runs; default 0.8, or 1.0 with mask_image"},
  "loras": {"type": "array", "maxItems": 8,
   "description": "LoRA adapters of the model's family (GET /v1/models lists them), applied in order",
   "items": {"type": "object", "required": ["name"], "additionalProperties": false,
    "properties": {"name": {"type": "string"},
     "scale": {"type": "number", "minimum": -10, "maximum": 10}}}}}},
"ImageInput": {"nullable": true, "oneOf": [
  {"type": "string", "description": "as sent: a base64 data: URL of a PNG, JPEG or WebP, or an https:// URL the gateway fetches once; see docs/http.md, Image inputs"},
  {"type": "object", "description": "as stored and answered: the image by content hash",
   "required": ["sha256", "media_type", "width", "height"], "properties": {
   "sha256": {"type": "string"}, "media_type": {"type": "string"},
   "width": {"type": "integer"}, "height": {"type": "integer"}}}]},
"Task": {"type": "object", "required": ["id", "status", "created_at", "request", "urls"],
 "properties": {
  "id": {"type": "string"},
  "status": {"type": "string",
   "enum": ["queued", "running", "succeeded", "failed", "canceled", "expired"]},
  "created_at": {"type": "string", "format": "date-time"},
  "started_at": {"type": "string", "format": "date-time", "nullable": true},
  "completed_at": {"type": "string", "format": "date-time", "nullable": true},
  "request": {"$ref": "#/components/schemas/GenerationRequest"},
  "queue_position": {"type": "integer", "nullable": true},
  "eta_s": {"type": "number", "nullable": true},
  "progress": {"type": "object", "nullable": true, "properties": {
    "step": {"type": "integer"}, "steps": {"type": "integer"}}},
  "attempts": {"type": "integer"}, "cancel_requested": {"type": "boolean"},
  "error": {"type": "object", "nullable": true, "properties": {
    "code": {"type": "string"}, "message": {"type": "string"}}},
  "outputs": {"type": "array", "items": {"type": "object", "properties": {
    "index": {"type": "integer"}, "url": {"type": "string"}, "content_type": {"type": "string"},
    "width": {"type": "integer"}, "height": {"type": "integer"}, "seed": {"type": "integer"}}}},
  "outputs_expire_at": {"type": "string", "format": "date-time", "nullable": true},
  "metadata": {"type": "object"},
  "urls": {"type": "object", "additionalProperties": {"type": "string"}}}},
"TaskPage": {"type": "object", "properties": {
  "data": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
  "next_cursor": {"type": "string", "nullable": true}}},
"ModelList": {"type": "object", "properties": {"object": {"type": "string"},
  "data": {"type": "array", "items": {"type": "object", "properties": {
    "id": {"type": "string"}, "object": {"type": "string"}, "width": {"type": "integer"},
    "height": {"type": "integer"}, "max_steps": {"type": "integer"},
    "schedulers": {"type": "array", "items": {"type": "string"}},
    "max_clip_skip": {"type": "integer"},
    "inpainting": {"type": "boolean", "description": "a dedicated inpainting model: requests give init_image and mask_image"},
    "loras": {"type": "array", "description": "the LoRA files of the model's family, in the loras folder",
      "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "bytes": {"type": "integer"}}}},
    "default": {"type": "boolean"}}}}}},
"QueueFigures": {"type": "object", "properties": {
  "queued": {"type": "object", "additionalProperties": {"type": "integer"}},
  "running": {"type": "integer"},
  "workers": {"type": "object", "additionalProperties": {"type": "integer"}},
  "oldest_queued_age_s": {"type": "number", "nullable": true},
  "throughput_per_min": {"type": "number"}, "mean_run_s": {"type": "number"},
  "estimated_wait_s": {"type": "number", "nullable": true},
  "desired_workers": {"type": "integer"},
  "models": {"type": "array", "items": {"type": "object"}}}},
"WorkerList": {"type": "object", "properties": {
  "workers": {"type": "array", "items": {"type": "object", "properties": {
    "id": {"type": "string"}, "host": {"type": "string"}, "device": {"type": "string"},
    "models": {"type": "array", "items": {"type": "string"}},
    "state": {"type": "string", "enum": ["idle", "busy", "draining"]},
    "current_tasks": {"type": "array", "items": {"type": "string"}},
    "last_seen": {"type": "string", "format": "date-time", "nullable": true}}}}}},
"OpenAiImageRequest": {"type": "object", "required": ["prompt"], "additionalProperties": false,
 "properties": {
  "prompt": {"type": "string", "minLength": 1, "maxLength": 1000},
  "model": {"type": "string"}, "n": {"type": "integer", "minimum": 1, "maximum": 8},
  "size": {"type": "string", "description": "WIDTHxHEIGHT, or auto"},
  "response_format": {"type": "string", "enum": ["b64_json", "url"]},
  "user": {"type": "string", "maxLength": 256},
  "steps": {"type": "integer", "minimum": 1, "maximum": 150},
  "seed": {"type": "integer", "minimum": 0, "maximum": 4294967295},
  "guidance_scale": {"type": "number", "minimum": 0, "maximum": 30},
  "negative_prompt": {"type": "string", "maxLength": 1000},
  "scheduler": {"type": "string", "enum": ["ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "lcm"]},
  "clip_skip": {"type": "integer", "minimum": 0}}},
"OpenAiImageEditRequest": {"type": "object", "required": ["image", "prompt"],
 "additionalProperties": false, "properties": {
  "image": {"type": "string", "format": "binary",
   "description": "PNG, JPEG or WebP; image[] is taken too (one image). Becomes init_image; without a mask, a PNG's fully transparent pixels are the area to edit"},
  "mask": {"type": "string", "format": "binary",
   "description": "PNG with alpha, the image's size: its fully transparent pixels are repainted"},
  "prompt": {"type": "string", "minLength": 1, "maxLength": 1000},
  "model": {"type": "string"}, "n": {"type": "integer", "minimum": 1, "maximum": 8},
  "size": {"type": "string", "description": "WIDTHxHEIGHT (the image's size), or auto"},
  "response_format": {"type": "string", "enum": ["b64_json", "url"]},
  "user": {"type": "string", "maxLength": 256},
  "strength": {"type": "number", "minimum": 0, "maximum": 1},
  "steps": {"type": "integer", "minimum": 1, "maximum": 150},
  "seed": {"type": "integer", "minimum": 0, "maximum": 4294967295},
  "guidance_scale": {"type": "number", "minimum": 0, "maximum": 30},
  "negative_prompt": {"type": "string", "maxLength": 1000},
  "scheduler": {"type": "string", "enum": ["ddim", "ddpm", "euler", "euler_a", "dpmpp_2m", "lcm"]},
  "clip_skip": {"type": "integer", "minimum": 0}}},
"OpenAiImages": {"type": "object", "required": ["created", "data"], "properties": {
  "created": {"type": "integer"},
  "data": {"type": "array", "items": {"type": "object", "properties": {
    "b64_json": {"type": "string"}, "url": {"type": "string"}}}}}},
"OpenAiError": {"type": "object", "required": ["error"], "properties": {
  "error": {"type": "object", "required": ["message", "type"], "properties": {
    "message": {"type": "string"}, "type": {"type": "string"},
    "param": {"type": "string", "nullable": true},
    "code": {"type": "string", "nullable": true}}}}},
"WebhookDeliveryList": {"type": "object", "properties": {
  "data": {"type": "array", "items": {"type": "object", "properties": {
    "id": {"type": "string"}, "event": {"type": "string"}, "url": {"type": "string"},
    "created_at": {"type": "string", "format": "date-time"},
    "status": {"type": "string", "enum": ["pending", "delivered", "failed", "dropped"]},
    "next_attempt_at": {"type": "string", "format": "date-time", "nullable": true},
    "attempts": {"type": "array", "items": {"type": "object", "properties": {
      "attempt": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
      "response_status": {"type": "integer", "nullable": true},
      "error": {"type": "string", "nullable": true},
      "duration_s": {"type": "number"}}}}}}}}}
})";

json::object Ref(const std::string& schema) {
  return json::object{{"$ref", "#/components/schemas/" + schema}};
}

json::object Operation(const Route& route) {
  json::object op;
  op["operationId"] = route.operation_id;
  op["summary"] = route.summary;
  op["tags"] = json::array{json::value(route.tag)};
  json::array params;
  std::string_view pattern = route.pattern;
  for (size_t open = pattern.find('{'); open != std::string_view::npos;
       open = pattern.find('{', open + 1)) {
    std::string name(pattern.substr(open + 1, pattern.find('}', open) - open - 1));
    params.push_back(json::object{{"name", name},
                                  {"in", "path"},
                                  {"required", true},
                                  {"schema", {{"type", name == "index" ? "integer" : "string"}}}});
  }
  auto add = [&params](const ParamSpec& p, const char* in) {
    params.push_back(json::object{{"name", p.name},
                                  {"in", in},
                                  {"required", false},
                                  {"description", p.description},
                                  {"schema", {{"type", p.type}}}});
  };
  for (const ParamSpec& p : route.query) add(p, "query");
  for (const ParamSpec& p : route.headers) add(p, "header");
  if (!params.empty()) op["parameters"] = std::move(params);
  if (!route.request_schema.empty()) {
    op["requestBody"] = json::object{
        {"required", true},
        {"content", {{route.request_content_type, {{"schema", Ref(route.request_schema)}}}}}};
  }
  json::object responses;
  for (const ResponseSpec& r : route.responses) {
    json::object response{{"description", r.description}};
    if (!r.content_type.empty()) {
      json::object media;
      media["schema"] =
          r.schema.empty()
              ? (r.content_type == "image/png"
                     ? json::object{{"type", "string"}, {"format", "binary"}}
                     : json::object{{"type",
                                     r.content_type == "application/json" ? "object" : "string"}})
              : Ref(r.schema);
      response["content"] = json::object{{r.content_type, std::move(media)}};
    }
    responses[std::to_string(r.status)] = std::move(response);
  }
  op["responses"] = std::move(responses);
  if (route.needs_key) op["security"] = json::array{json::object{{"bearer", json::array{}}}};
  return op;
}

}  // namespace

std::string BuildOpenApi(const RouteTable& routes) {
  json::object paths;
  for (const Route& route : routes.routes()) {
    std::string method;
    for (char c : route.method)
      method += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    json::value& entry = paths[route.pattern];
    if (!entry.is_object()) entry.emplace_object();
    entry.get_object()[method] = Operation(route);
  }
  json::object doc;
  doc["openapi"] = "3.0.3";
  doc["info"] = json::object{{"title", "stipple"}, {"version", "1"}};
  doc["paths"] = std::move(paths);
  doc["components"] =
      json::object{{"schemas", json::parse(kSchemas)},
                   {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}};
  return WriteJson(doc);
}

void GetOpenApi(HandlerContext& ctx, HttpRequest&, ExchangePtr exchange) {
  exchange->Respond(JsonResponse(200, BuildOpenApi(*ctx.routes)));
}

}  // namespace stipple::http
