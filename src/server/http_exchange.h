// One HTTP request and its response on a connection, as the route handlers see it: send a whole
// response, or a chunked stream piece by piece; learn whether the client is still there. All of it
// runs on the server's single event-loop thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace qwenvl::server {

class ApiError;

// What the access log says of one request.
struct AccessRecord {
  uint64_t id = 0;
  std::string client;  // address:port
  std::string method, target;
  int status = 0;
  int64_t prompt_tokens = -1, completion_tokens = -1, cached_tokens = -1;  // -1: not a generation
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

class HttpExchange {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  // Adds the headers every response carries (CORS when allowed).
  using Decorate = std::function<void(boost::beast::http::fields&)>;
  // The body of an error response: ApiError::ToJson (OpenAI's shape) unless set otherwise.
  using ErrorBody = std::function<nlohmann::json(const ApiError&)>;

  HttpExchange(boost::beast::tcp_stream& stream, Request& request, AccessRecord& record,
               Decorate decorate, std::chrono::milliseconds write_timeout, bool keep_alive)
      : stream_(stream),
        request_(request),
        record_(record),
        decorate_(std::move(decorate)),
        write_timeout_(write_timeout),
        keep_alive_(keep_alive) {}

  const Request& request() const { return request_; }
  AccessRecord& record() { return record_; }
  // Whether the connection stays open after this response.
  bool keep_alive() const { return keep_alive_; }
  void close_after() { keep_alive_ = false; }
  // How SendError words errors (an API with its own error shape, such as ollama's).
  void set_error_body(ErrorBody error_body) { error_body_ = std::move(error_body); }

  // A whole response. Returns false when the client could not be written to (then the connection
  // is closed).
  boost::asio::awaitable<bool> Send(Response response);
  boost::asio::awaitable<bool> SendJson(int status, const nlohmann::json& body);
  boost::asio::awaitable<bool> SendError(const ApiError& error);

  // A chunked response: the status line and headers, any number of chunks, the last chunk.
  boost::asio::awaitable<bool> BeginStream(int status, std::string_view content_type);
  boost::asio::awaitable<bool> SendChunk(std::string_view data);
  boost::asio::awaitable<bool> EndStream();
  bool streaming() const { return streaming_; }

  // True once the client closed or reset its side (a peek at the socket; data waiting, such as a
  // pipelined request, means it is still there).
  bool PeerGone() const;
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  boost::beast::tcp_stream& stream_;
  Request& request_;
  AccessRecord& record_;
  Decorate decorate_;
  ErrorBody error_body_;
  std::chrono::milliseconds write_timeout_;
  bool keep_alive_;
  bool streaming_ = false;
  bool failed_ = false;
};

}  // namespace qwenvl::server
