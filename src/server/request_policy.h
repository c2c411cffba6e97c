// Decisions the server makes from a request's headers alone, before reading its body: who may
// call (API key, browser origin), what it may send (content type, transfer encoding, size).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

#include "server/api_error.h"

namespace qwenvl::server {

// Whether an `Authorization` header carries "Bearer <key>". An empty key accepts everything. The
// comparison takes the same time wherever the header differs (digests compared in full), so the
// key cannot be guessed byte by byte from response times.
bool ApiKeyMatches(std::string_view authorization, std::string_view key);

// Whether a browser's `Origin` may call the server: the configured CORS origin ("*": any), or the
// server's own origin (the Origin's host:port equals the request's Host: the built-in web page).
// An empty `host` checks the configured origin only.
bool OriginMatches(std::string_view origin, std::string_view host, std::string_view cors_origin);

// 415 unless the Content-Type is application/json (parameters such as charset allowed).
std::optional<ApiError> CheckJsonContentType(std::string_view content_type);

// 501 for a Transfer-Encoding other than exactly "chunked" (a body the server cannot frame).
std::optional<ApiError> CheckTransferEncoding(
    const boost::beast::http::request<boost::beast::http::string_body>& request);

ApiError BodyTooLarge(int64_t max_body_bytes);

}  // namespace qwenvl::server
