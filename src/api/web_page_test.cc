// GET / and /assets/{name}: the embedded web page, its types and caching, with and without keys.
#include <gtest/gtest.h>

#include "api/testing/http_test_support.h"
#include "api/web_assets.h"

namespace stipple::http::testing {
namespace {

TEST(WebPage, TheBinaryCarriesThePageAndItsFiles) {
  for (const char* name :
       {"index.html", "app.js", "api.js", "view.js", "image_input.js", "style.css"}) {
    const WebAsset* asset = FindWebAsset(name);
    ASSERT_NE(asset, nullptr) << name;
    EXPECT_FALSE(asset->bytes.empty()) << name;
    EXPECT_TRUE(asset->etag.starts_with('"') && asset->etag.ends_with('"')) << asset->etag;
  }
  EXPECT_EQ(FindWebAsset("nope.js"), nullptr);
  EXPECT_NE(FindWebAsset("index.html")->bytes.find("assets/app.js"), std::string_view::npos);
}

TEST(WebPage, IsServedAtTheRootWithTypeCachingAndAPolicy) {
  TestServer s;
  TestResponse page = s.Send("GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.headers.Get("Content-Type").value_or(""), "text/html; charset=utf-8");
  EXPECT_EQ(page.body, FindWebAsset("index.html")->bytes);
  EXPECT_EQ(page.headers.Get("Cache-Control").value_or(""), "no-cache");
  EXPECT_EQ(page.headers.Get("X-Content-Type-Options").value_or(""), "nosniff");
  EXPECT_NE(page.headers.Get("Content-Security-Policy").value_or("").find("script-src 'self'"),
            std::string_view::npos);
  const std::string etag(page.headers.Get("ETag").value_or(""));
  ASSERT_FALSE(etag.empty());

  TestResponse again = s.Send("GET", "/", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(s.Send("GET", "/", {{"If-None-Match", "\"other\""}}).status, 200);
}

TEST(WebPage, AssetsHaveTheirContentTypes) {
  TestServer s;
  TestResponse js = s.Send("GET", "/assets/app.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.headers.Get("Content-Type").value_or(""), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, FindWebAsset("app.js")->bytes);
  TestResponse css = s.Send("GET", "/assets/style.css");
  ASSERT_EQ(css.status, 200);
  EXPECT_EQ(css.headers.Get("Content-Type").value_or(""), "text/css; charset=utf-8");
  TestResponse missing = s.Send("GET", "/assets/nope.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers.Get("Content-Type").value_or(""), "application/problem+json");
  EXPECT_EQ(s.Send("GET", "/assets/index.html").status, 404);  // the page lives at /
  EXPECT_EQ(s.Send("POST", "/").status, 405);
}

TEST(WebPage, NeedsNoKeyWhileTheApiDoes) {
  TestServer s;
  Result<ApiKeys> keys = ApiKeys::Parse("acme sk-test\n");
  ASSERT_TRUE(keys.ok());
  s.server->gateway().SetApiKeys(std::move(keys).value());
  EXPECT_EQ(s.Send("GET", "/").status, 200);
  EXPECT_EQ(s.Send("GET", "/assets/app.js").status, 200);
  EXPECT_EQ(s.Send("GET", "/v1/tasks").status, 401);
  EXPECT_EQ(s.Send("GET", "/v1/tasks", {{"Authorization", "Bearer sk-test"}}).status, 200);
}

}  // namespace
}  // namespace stipple::http::testing
