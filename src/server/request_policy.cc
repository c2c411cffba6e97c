#include "server/request_policy.h"

#include <algorithm>
#include <cctype>
#include <span>
#include <string>

#include "util/sha256.h"

namespace qwenvl::server {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::array<uint8_t, 32> Digest(std::string_view s) {
  Sha256 h;
  h.Update(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  return h.Finish();
}

}  // namespace

bool ApiKeyMatches(std::string_view authorization, std::string_view key) {
  if (key.empty()) return true;
  const auto given = Digest(authorization);
  const auto expected = Digest("Bearer " + std::string(key));
  uint8_t diff = 0;
  for (size_t i = 0; i < given.size(); ++i) diff |= given[i] ^ expected[i];
  return diff == 0;
}

bool OriginMatches(std::string_view origin, std::string_view host, std::string_view cors_origin) {
  if (cors_origin == "*") return true;
  const std::string o = Lower(Trim(origin));
  if (!cors_origin.empty() && o == Lower(Trim(cors_origin))) return true;
  if (host.empty()) return false;
  const size_t scheme_end = o.find("://");
  if (scheme_end == std::string::npos) return false;  // "null" and other opaque origins
  return o.substr(scheme_end + 3) == Lower(Trim(host));
}

std::optional<ApiError> CheckJsonContentType(std::string_view content_type) {
  const std::string type = Lower(Trim(content_type.substr(0, content_type.find(';'))));
  if (type == "application/json") return std::nullopt;
  std::string message = "Content-Type must be application/json";
  if (type.empty()) {
    message += " (the request has none)";
  } else {
    message += ", got " + type;
    if (type == "application/x-www-form-urlencoded")
      message += " (curl -d sends that: add -H 'Content-Type: application/json')";
  }
  return ApiError(415, message, "", "unsupported_media_type");
}

std::optional<ApiError> CheckTransferEncoding(
    const boost::beast::http::request<boost::beast::http::string_body>& request) {
  const auto te = request.find(boost::beast::http::field::transfer_encoding);
  if (te == request.end()) return std::nullopt;
  if (Lower(Trim(te->value())) == "chunked") return std::nullopt;
  return ApiError(501, "only the chunked transfer encoding is supported", "",
                  "unsupported_transfer_encoding");
}

ApiError BodyTooLarge(int64_t max_body_bytes) {
  return ApiError(413,
                  "request body is larger than the limit of " + std::to_string(max_body_bytes) +
                      " bytes (--max-body-bytes)",
                  "", "body_too_large");
}

}  // namespace qwenvl::server
