#include "hub/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "util/error.h"

namespace qwenvl::hub {
namespace {

struct Transfer {
  CURL* handle;
  HttpResponse* response;
  const BodySink* sink;
  bool sink_aborted = false;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * count);
  // Every response of a redirect chain passes here; keep the last one's headers only.
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();
    return line.size();
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return line.size();
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string value = line.substr(colon + 1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.pop_back();
  const size_t start = value.find_first_not_of(' ');
  t->response->headers[name] = start == std::string::npos ? std::string() : value.substr(start);
  return line.size();
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  long status = 0;
  curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
  if (!(*t->sink)(status, data, size * count)) {
    t->sink_aborted = true;
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  return size * count;
}

}  // namespace

HttpSession::HttpSession(HttpLimits limits) : limits_(limits) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw Error(ErrorCode::kInternal, "libcurl could not start");
}

HttpSession::~HttpSession() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpSession::Perform(const HttpRequest& request, const BodySink& sink) {
  CURL* h = static_cast<CURL*>(curl_);
  curl_easy_reset(h);
  HttpResponse response;
  Transfer transfer{h, &response, &sink};
  abort_reason.clear();
  curl_slist* headers = nullptr;
  for (const std::string& line : request.headers)
    headers = curl_slist_append(headers, line.c_str());
  // Sizes and hashes are of the stored bytes: no transparent compression.
  headers = curl_slist_append(headers, "Accept-Encoding: identity");
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "qwenvl/0.1.0");
  curl_easy_setopt(h, CURLOPT_NOBODY, request.head ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, kMaxRedirects);
  // Authorization goes to the hub only, never to the host a redirect leads to (libcurl's
  // default, stated here because the token must not leak to a CDN).
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, limits_.connect_timeout_s);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, limits_.stall_timeout_s);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  std::string range;
  if (request.range_from >= 0) {
    range = std::to_string(request.range_from) + "-";
    curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
  }
  const CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    if (transfer.sink_aborted && !abort_reason.empty())
      throw Error(ErrorCode::kIo, request.url + ": " + abort_reason);
    std::string why = error[0] ? error : curl_easy_strerror(rc);
    // Endless redirects are a broken server, not a broken connection: not worth a retry.
    if (rc == CURLE_TOO_MANY_REDIRECTS)
      throw Error(ErrorCode::kOutOfRange,
                  request.url + ": more than " + std::to_string(kMaxRedirects) + " redirects");
    throw Error(ErrorCode::kIo, request.url + ": " + why);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  char* final_url = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &final_url) == CURLE_OK && final_url)
    response.url = final_url;
  return response;
}

HttpResponse HttpSession::Fetch(const HttpRequest& request, std::string& body, size_t limit) {
  body.clear();
  bool too_large = false;
  try {
    return Perform(request, [&](long, const char* data, size_t size) {
      if (body.size() + size > limit) {
        too_large = true;
        abort_reason = "the answer is larger than " + std::to_string(limit) + " bytes";
        return false;
      }
      body.append(data, size);
      return true;
    });
  } catch (const Error& e) {
    if (too_large) throw Error(ErrorCode::kOutOfRange, e.what());
    throw;
  }
}

std::string UrlEncode(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace qwenvl::hub
