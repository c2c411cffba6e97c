// The web page served at / (src/server/web/), compiled into the binary at build time.
#pragma once

#include <cstddef>
#include <string_view>

namespace qwenvl::server {

struct EmbeddedFile {
  const char* name;  // file name, e.g. "app.js"
  const unsigned char* data;
  size_t size;
};
extern const EmbeddedFile kEmbeddedWebFiles[];
extern const size_t kEmbeddedWebFileCount;

struct WebAsset {
  std::string_view content_type;
  std::string_view body;
};

// The asset for a URL path ("/" is index.html); false when there is none.
bool FindWebAsset(std::string_view url_path, WebAsset& out);

}  // namespace qwenvl::server
