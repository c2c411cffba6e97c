#include "server/web_assets.h"

namespace qwenvl::server {
namespace {

std::string_view ContentType(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

bool FindWebAsset(std::string_view url_path, WebAsset& out) {
  std::string_view name = url_path == "/" ? "index.html" : url_path;
  if (!name.empty() && name[0] == '/') name.remove_prefix(1);
  // Browsers and tools that ignore the page's <link rel="icon"> ask for /favicon.ico; modern ones
  // all show an SVG icon served under that name.
  if (name == "favicon.ico") name = "favicon.svg";
  for (size_t i = 0; i < kEmbeddedWebFileCount; ++i) {
    const EmbeddedFile& f = kEmbeddedWebFiles[i];
    if (name == f.name) {
      out = {ContentType(name), {reinterpret_cast<const char*>(f.data), f.size}};
      return true;
    }
  }
  return false;
}

}  // namespace qwenvl::server
