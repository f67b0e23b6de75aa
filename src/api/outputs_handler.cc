// /v1/tasks/{id}/outputs/{index} and /v1/tasks/{id}/preview: the images.
#include <charconv>

#include "api/handlers.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

std::string_view StripWeak(std::string_view tag) {
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  return tag;
}

}  // namespace

bool IfNoneMatchHits(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    header.remove_prefix(comma == std::string_view::npos ? header.size() : comma + 1);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag == "*" || (!tag.empty() && StripWeak(tag) == StripWeak(etag))) return true;
  }
  return false;
}

void GetOutput(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  const std::string& id = request.path_params["id"];
  if (Status s = CheckTaskId(id); !s.ok()) return exchange->Respond(ErrorResponse(s));
  const std::string& text = request.path_params["index"];
  int index = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
  if (ec != std::errc() || end != text.data() + text.size() || index < 0) {
    return exchange->Respond(ErrorResponse(NotFoundError("no such output: " + text)));
  }
  Result<OutputBlob> blob =
      ctx.service.Output(HandlerContext::ViewTenant(request.principal), id, index);
  if (!blob.ok()) {
    return exchange->Respond(ErrorResponse(blob.status(), ctx.options.retry_after_s));
  }
  HttpResponse r;
  // Outputs never change once written: clients and caches may keep them.
  r.headers.Set("Cache-Control", "private, max-age=86400, immutable");
  if (!blob->etag.empty()) r.headers.Set("ETag", blob->etag);
  auto if_none_match = request.headers.Get("If-None-Match");
  if (if_none_match && !blob->etag.empty() && IfNoneMatchHits(*if_none_match, blob->etag)) {
    r.status = 304;
    return exchange->Respond(std::move(r));
  }
  r.status = 200;
  r.headers.Set("Content-Type", blob->content_type);
  r.body = std::move(blob->bytes);
  exchange->Respond(std::move(r));
}

void GetPreview(HandlerContext& ctx, HttpRequest& request, ExchangePtr exchange) {
  const std::string& id = request.path_params["id"];
  if (Status s = CheckTaskId(id); !s.ok()) return exchange->Respond(ErrorResponse(s));
  Result<std::string> png = ctx.service.Preview(HandlerContext::ViewTenant(request.principal), id);
  if (!png.ok()) return exchange->Respond(ErrorResponse(png.status(), ctx.options.retry_after_s));
  HttpResponse r;
  r.headers.Set("Content-Type", "image/png");
  r.headers.Set("Cache-Control", "no-store");  // the next step replaces it
  r.body = std::move(png).value();
  exchange->Respond(std::move(r));
}

}  // namespace stipple::http
