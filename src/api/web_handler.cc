// GET / and GET /assets/{name}: the web page (docs/web.md), served from the files embedded in
// the binary (web_assets.h).
#include "api/handlers.h"
#include "api/web_assets.h"
#include "http/problem.h"

namespace stipple::http {
namespace {

// The page talks only to this server and loads nothing from elsewhere.
constexpr const char* kPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

void Serve(const WebAsset& asset, const HttpRequest& request, Exchange& exchange) {
  HttpResponse r;
  r.headers.Set("ETag", std::string(asset.etag));
  // Revalidate every time (a cheap 304): a new build's page is picked up at once.
  r.headers.Set("Cache-Control", "no-cache");
  r.headers.Set("X-Content-Type-Options", "nosniff");
  if (asset.content_type.starts_with("text/html")) {
    r.headers.Set("Content-Security-Policy", kPagePolicy);
    r.headers.Set("Referrer-Policy", "no-referrer");
  }
  auto if_none_match = request.headers.Get("If-None-Match");
  if (if_none_match && IfNoneMatchHits(*if_none_match, asset.etag)) {
    r.status = 304;
    return exchange.Respond(std::move(r));
  }
  r.headers.Set("Content-Type", std::string(asset.content_type));
  r.body = std::string(asset.bytes);
  exchange.Respond(std::move(r));
}

}  // namespace

const WebAsset* FindWebAsset(std::string_view name) {
  for (size_t i = 0; i < kWebAssetCount; ++i) {
    if (kWebAssets[i].name == name) return &kWebAssets[i];
  }
  return nullptr;
}

void GetWebPage(HandlerContext&, HttpRequest& request, ExchangePtr exchange) {
  const WebAsset* page = FindWebAsset("index.html");
  if (page == nullptr) {
    return exchange->Respond(ErrorResponse(NotFoundError("this build has no web page")));
  }
  Serve(*page, request, *exchange);
}

void GetWebAsset(HandlerContext&, HttpRequest& request, ExchangePtr exchange) {
  const std::string& name = request.path_params["name"];
  const WebAsset* asset = name == "index.html" ? nullptr : FindWebAsset(name);
  if (asset == nullptr) {
    return exchange->Respond(ErrorResponse(NotFoundError("no such asset: " + name)));
  }
  Serve(*asset, request, *exchange);
}

}  // namespace stipple::http
