// http:// and https:// downloads for --allow-remote-urls (cpp-httplib's client; https needs the
// library's OpenSSL support, which Debian's build has).
#include <httplib.h>

#include "server/api_error.h"
#include "server/media_source.h"

namespace qwenvl::server {

std::vector<uint8_t> FetchHttpUrl(const std::string& url, int64_t max_bytes) {
  const std::string param = "image_url.url";
  const bool https = url.rfind("https://", 0) == 0;
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
  if (https) {
    throw BadRequest("https URLs are not supported by this build (no TLS); send a data: URI", param,
                     "unsupported_url");
  }
#endif
  const size_t host_start = https ? 8 : 7;
  const size_t path_start = url.find('/', host_start);
  const std::string host = url.substr(host_start, path_start - host_start);
  const std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);
  httplib::Client client((https ? "https://" : "http://") + host);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  client.set_follow_location(true);
  std::string body;
  bool too_big = false;
  auto response = client.Get(path.c_str(), [&](const char* data, size_t size) {
    body.append(data, size);
    too_big = static_cast<int64_t>(body.size()) > max_bytes;
    return !too_big;
  });
  if (too_big) {
    throw BadRequest(
        "remote media " + url + " is larger than " + std::to_string(max_bytes) + " bytes", param,
        "media_too_large");
  }
  if (!response) {
    throw BadRequest("cannot fetch " + url + ": " + httplib::to_string(response.error()), param,
                     "fetch_failed");
  }
  if (response->status != 200) {
    throw BadRequest("cannot fetch " + url + ": HTTP " + std::to_string(response->status), param,
                     "fetch_failed");
  }
  return std::vector<uint8_t>(body.begin(), body.end());
}

}  // namespace qwenvl::server
