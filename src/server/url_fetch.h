// http:// and https:// downloads of pictures and videos named in chat requests, made so that a
// client cannot use the server to reach what only the server can reach: the host's own services,
// its private network, cloud metadata addresses. Every address a host name resolves to is vetted
// before connecting, the connection goes to exactly the vetted addresses (no second lookup that a
// rebinding DNS server could answer differently), and every redirect is vetted the same way.
// One deadline bounds a whole fetch and one cap bounds its size, so a slow or endless source costs
// the server a bounded time and memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace qwenvl::server {

struct FetchOptions {
  // Loopback, private, link-local, CGNAT, multicast, reserved and documentation addresses (and
  // their IPv4-mapped, 6to4 and NAT64 forms) are refused unless this is set.
  bool allow_private_addresses = false;
  // Largest body accepted: a larger Content-Length is refused before the body is read, and a body
  // without one is cut off as soon as it passes this.
  int64_t max_bytes = 32LL << 20;
  // For the whole fetch: name lookups, connects, TLS handshakes, every redirect and every read.
  std::chrono::milliseconds timeout{20000};
  // When set, decides instead of IsPublicAddress which resolved addresses may be connected to
  // (one internal media host, a test's loopback origin); allow_private_addresses still allows all.
  std::function<bool(std::string_view numeric_address)> address_allowed;
  // Redirects followed (each to a URL vetted like the first); one more fails the fetch.
  int max_redirects = 5;
};

// Why a fetch failed. The message names the URL the client gave and only what the server itself
// decided; what the far side answered (HTTP status, refused connection, timeout, bad certificate)
// all read the same, so that fetches cannot map what lies behind the server.
class FetchError : public std::runtime_error {
 public:
  enum class Reason {
    kInvalidUrl,  // not an http(s) URL this fetcher accepts: "invalid URL <url>: <why>"
    kNotAllowed,  // "could not fetch <url>: not allowed: private/loopback address"
    kTooLarge,    // "could not fetch <url>: larger than N bytes"
    kFailed,      // "could not fetch <url>"
  };
  FetchError(Reason reason, const std::string& message)
      : std::runtime_error(message), reason_(reason) {}
  Reason reason() const { return reason_; }

 private:
  Reason reason_;
};

// GETs an http:// or https:// URL (https: the peer's certificate verified against the system's
// default trust store, for the URL's host name) and returns the body of its 200 answer. URLs with
// userinfo, another scheme, an empty or malformed host, or a port outside 1..65535 are
// kInvalidUrl. Throws FetchError, nothing else.
std::vector<uint8_t> FetchUrl(const std::string& url, const FetchOptions& options = {});

// FetchUrl with `options`, in the shape of MediaPolicy::fetch_url.
std::function<std::vector<uint8_t>(const std::string& url)> UrlFetcher(FetchOptions options);

// Whether a numeric IPv4 or IPv6 address (inet_pton form: "8.8.8.8", "2001:4860::8888",
// "::ffff:10.0.0.1") is one a fetch may connect to without allow_private_addresses. Anything that
// does not parse is not public.
bool IsPublicAddress(std::string_view numeric_address);

}  // namespace qwenvl::server
