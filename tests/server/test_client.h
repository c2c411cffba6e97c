// A small HTTP/1.1 client for the server tests: well-formed requests, and raw bytes for the hostile
// ones (pipelining, lying headers, trickling clients). Plain blocking sockets with poll() for the
// read deadline, and Boost.Beast's parser for the responses.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace qwenvl::server::testing {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// One connection, kept alive between requests. A read gives up after `timeout` (then it returns
// nullopt), so a test never hangs on a server that does not answer.
class TestConnection {
 public:
  explicit TestConnection(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      if (fd_ >= 0) ::close(fd_);
      throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
  }
  ~TestConnection() { ::close(fd_); }
  TestConnection(const TestConnection&) = delete;
  TestConnection& operator=(const TestConnection&) = delete;

  void SetTimeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  std::optional<Reply> Send(const std::string& method, const std::string& target,
                            const std::string& body = "",
                            std::map<std::string, std::string> headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty() && !headers.count("Content-Type"))
      req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    std::ostringstream text;
    text << req;
    if (!SendRaw(text.str())) return std::nullopt;
    return Read();
  }

  // Sends bytes as they are; false once the server closed or reset the connection.
  bool SendRaw(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one response (any framing); nullopt on timeout, a closed connection or a bad response.
  std::optional<Reply> Read() {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 << 20);
    boost::beast::error_code ec;
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (!parser.is_done()) {
      if (!pending_.empty()) {
        const size_t used = parser.put(boost::asio::buffer(pending_), ec);
        pending_.erase(0, used);
        if (ec == http::error::need_more) ec = {};
        if (ec) return std::nullopt;
        if (parser.is_done()) break;
        if (used > 0) continue;
      }
      const ssize_t n = ReadSome(deadline);
      if (n == 0) {  // end of stream: a body framed by the close ends here
        parser.put_eof(ec);
        if (ec || !parser.is_done()) return std::nullopt;
        break;
      }
      if (n < 0) return std::nullopt;
    }
    Reply r;
    const auto& res = parser.get();
    r.status = res.result_int();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    r.body = res.body();
    return r;
  }

  // True when the server closed the connection (end of stream or reset) within the timeout.
  bool ClosedByServer() {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (;;) {
      const ssize_t n = ReadSome(deadline);
      if (n == 0) return true;
      if (n == -2) return true;  // reset
      if (n < 0) return false;   // timeout
      pending_.clear();          // discard what came before the close
    }
  }

  int fd() const { return fd_; }

 private:
  // >0: bytes appended to pending_; 0: end of stream; -1: timeout; -2: error.
  ssize_t ReadSome(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return -1;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return -1;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0) return -2;
    pending_.append(chunk, static_cast<size_t>(n));
    return n;
  }

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string pending_;  // received, not yet parsed
};

inline std::optional<Reply> Fetch(int port, const std::string& method, const std::string& target,
                                  const std::string& body = "",
                                  std::map<std::string, std::string> headers = {}) {
  try {
    TestConnection c(port);
    return c.Send(method, target, body, std::move(headers));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace qwenvl::server::testing
