#include "server/http_exchange.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>

#include "server/api_error.h"

namespace qwenvl::server {

namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {
constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
}

net::awaitable<bool> HttpExchange::Send(Response response) {
  if (failed_) co_return false;
  response.version(11);
  response.keep_alive(keep_alive_);
  decorate_(response.base());
  if (!keep_alive_) response.erase(http::field::keep_alive);
  response.prepare_payload();
  if (request_.method() == http::verb::head) {  // the length of what GET would send, no body
    const auto length = response.body().size();
    response.body().clear();
    response.content_length(length);
  }
  record_.status = response.result_int();
  stream_.expires_after(write_timeout_);
  const auto [ec, n] = co_await http::async_write(stream_, response, kNoThrow);
  if (ec) failed_ = true, keep_alive_ = false;
  co_return !ec;
}

net::awaitable<bool> HttpExchange::SendJson(int status, const nlohmann::json& body) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  co_return co_await Send(std::move(res));
}

net::awaitable<bool> HttpExchange::SendError(const ApiError& error) {
  // A named value: GCC destroys a conditional expression's temporary twice across a co_await.
  const nlohmann::json body = error_body_ ? error_body_(error) : error.ToJson();
  co_return co_await SendJson(error.status(), body);
}

net::awaitable<bool> HttpExchange::BeginStream(int status, std::string_view content_type) {
  if (failed_) co_return false;
  http::response<http::empty_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Accel-Buffering", "no");  // reverse proxies: pass each event on at once
  res.keep_alive(keep_alive_);
  decorate_(res.base());
  if (!keep_alive_) res.erase(http::field::keep_alive);
  res.chunked(true);
  record_.status = status;
  streaming_ = true;
  http::response_serializer<http::empty_body> serializer{res};
  stream_.expires_after(write_timeout_);
  const auto [ec, n] = co_await http::async_write_header(stream_, serializer, kNoThrow);
  if (ec) failed_ = true, keep_alive_ = false;
  co_return !ec;
}

net::awaitable<bool> HttpExchange::SendChunk(std::string_view data) {
  if (failed_) co_return false;
  if (data.empty()) co_return true;  // an empty chunk would end the stream
  stream_.expires_after(write_timeout_);
  const auto [ec, n] =
      co_await net::async_write(stream_, http::make_chunk(net::buffer(data)), kNoThrow);
  if (ec) failed_ = true, keep_alive_ = false;
  co_return !ec;
}

net::awaitable<bool> HttpExchange::EndStream() {
  if (failed_) co_return false;
  stream_.expires_after(write_timeout_);
  const auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(), kNoThrow);
  if (ec) failed_ = true, keep_alive_ = false;
  co_return !ec;
}

bool HttpExchange::PeerGone() const {
  auto& socket = const_cast<boost::beast::tcp_stream&>(stream_).socket();
  if (!socket.is_open()) return true;
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // orderly shutdown by the client
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return false;
}

}  // namespace qwenvl::server
