// HTTP for the hub through libcurl: one easy handle per HttpSession (a worker thread owns one, so
// connections are reused), https verified by the system's CA store, http and https only (also
// after redirects), at most kMaxRedirects redirects, and a stall limit instead of a fixed timeout
// (a multi-gigabyte file takes as long as it takes, a silent connection does not).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace qwenvl::hub {

inline constexpr long kMaxRedirects = 10;

struct HttpLimits {
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;  // abort when under 1 byte/s for this long
};

struct HttpRequest {
  std::string url;
  bool head = false;
  bool follow_redirects = true;
  std::vector<std::string> headers;  // "Name: value"
  int64_t range_from = -1;           // >= 0: Range: bytes=N-
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // the final response's, names lowercased
  std::string url;                             // the final URL (after redirects)
  std::string Header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Receives the body in pieces with the status of the response it belongs to; returning false
// aborts the transfer (Perform then throws with the sink's `abort_reason`).
using BodySink = std::function<bool(long status, const char* data, size_t size)>;

class HttpSession {
 public:
  explicit HttpSession(HttpLimits limits = {});
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Performs the request; the body (of any status) goes to `sink`. Throws Error(kIo) when the
  // transfer fails (connection, TLS, a sink abort: `abort_reason` names it), Error(kOutOfRange)
  // after more than kMaxRedirects redirects.
  HttpResponse Perform(const HttpRequest& request, const BodySink& sink);
  // A body kept in memory, at most `limit` bytes (more is an Error(kOutOfRange)).
  HttpResponse Fetch(const HttpRequest& request, std::string& body, size_t limit);

  // Set by a sink before it returns false: the message Perform throws.
  std::string abort_reason;

 private:
  void* curl_;
  HttpLimits limits_;
};

// The path segment `s` percent-encoded (everything but unreserved characters; '/' kept when
// `keep_slash`), as huggingface_hub quotes revisions and file names in URLs.
std::string UrlEncode(const std::string& s, bool keep_slash);

}  // namespace qwenvl::hub
