// The web page's files (web/ in the source tree), embedded in the binary at build time by
// cmake/EmbedFiles.cmake, so `stipple serve` serves the page with no files on disk.
#pragma once

#include <cstddef>
#include <string_view>

namespace stipple::http {

struct WebAsset {
  std::string_view name;          // the file name in web/: "index.html", "app.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view etag;          // a strong entity tag from the content's SHA-256, quoted
  std::string_view bytes;
};

// Defined by the generated web_assets_data.cc.
extern const WebAsset kWebAssets[];
extern const size_t kWebAssetCount;

// The embedded file named `name`, or nullptr.
const WebAsset* FindWebAsset(std::string_view name);

}  // namespace stipple::http
