#include "server/url_fetch.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

namespace qwenvl::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// URLs are echoed in error messages; a long one is cut (at a UTF-8 character boundary, since the
// message becomes JSON).
std::string ForMessage(const std::string& url) {
  constexpr size_t kMaxChars = 256;
  if (url.size() <= kMaxChars) return url;
  size_t end = kMaxChars;
  while (end > 0 && (static_cast<unsigned char>(url[end]) & 0xc0) == 0x80) --end;
  return url.substr(0, end) + "...";
}

[[noreturn]] void ThrowFailed(const std::string& url) {
  throw FetchError(FetchError::Reason::kFailed, "could not fetch " + ForMessage(url));
}

[[noreturn]] void ThrowNotAllowed(const std::string& url) {
  throw FetchError(FetchError::Reason::kNotAllowed, "could not fetch " + ForMessage(url) +
                                                        ": not allowed: private/loopback address");
}

[[noreturn]] void ThrowTooLarge(const std::string& url, int64_t max_bytes) {
  throw FetchError(FetchError::Reason::kTooLarge, "could not fetch " + ForMessage(url) +
                                                      ": larger than " + std::to_string(max_bytes) +
                                                      " bytes");
}

[[noreturn]] void ThrowInvalid(const std::string& url, const std::string& why) {
  throw FetchError(FetchError::Reason::kInvalidUrl, "invalid URL " + ForMessage(url) + ": " + why);
}

// IANA's special-purpose IPv4 blocks that are not globally reachable, plus multicast and the
// reserved 240/4 (which holds the limited broadcast address).
bool IsPublicV4(uint32_t address) {
  struct Block {
    uint32_t network;
    int prefix;
  };
  static constexpr Block kBlocked[] = {
      {0x00000000, 8},   // 0.0.0.0/8 "this network" (0.0.0.0 reaches the host itself)
      {0x0a000000, 8},   // 10.0.0.0/8 private
      {0x64400000, 10},  // 100.64.0.0/10 carrier-grade NAT
      {0x7f000000, 8},   // 127.0.0.0/8 loopback
      {0xa9fe0000, 16},  // 169.254.0.0/16 link-local (cloud metadata services)
      {0xac100000, 12},  // 172.16.0.0/12 private
      {0xc0000000, 24},  // 192.0.0.0/24 IETF protocol assignments
      {0xc0000200, 24},  // 192.0.2.0/24 documentation
      {0xc0586300, 24},  // 192.88.99.0/24 6to4 relay anycast
      {0xc0a80000, 16},  // 192.168.0.0/16 private
      {0xc6120000, 15},  // 198.18.0.0/15 benchmarking
      {0xc6336400, 24},  // 198.51.100.0/24 documentation
      {0xcb007100, 24},  // 203.0.113.0/24 documentation
      {0xe0000000, 4},   // 224.0.0.0/4 multicast
      {0xf0000000, 4},   // 240.0.0.0/4 reserved, 255.255.255.255 broadcast
  };
  for (const Block& block : kBlocked) {
    const uint32_t mask = ~uint32_t{0} << (32 - block.prefix);
    if ((address & mask) == block.network) return false;
  }
  return true;
}

bool IsPublicV6(const asio::ip::address_v6& address) {
  const asio::ip::address_v6::bytes_type b = address.to_bytes();
  const auto zero = [&b](size_t from, size_t to) {
    return std::all_of(b.begin() + from, b.begin() + to, [](uint8_t x) { return x == 0; });
  };
  const auto v4_at = [&b](size_t i) {
    return uint32_t{b[i]} << 24 | uint32_t{b[i + 1]} << 16 | uint32_t{b[i + 2]} << 8 | b[i + 3];
  };
  // Forms that carry an IPv4 address which the kernel or a translator will reach: judged by it.
  if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff) return IsPublicV4(v4_at(12));  // ::ffff:0:0/96
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12)) {
    return IsPublicV4(v4_at(12));  // 64:ff9b::/96 NAT64
  }
  if (b[0] == 0x20 && b[1] == 0x02) return IsPublicV4(v4_at(2));  // 2002::/16 6to4
  // Only global unicast 2000::/3 is public. Outside it: ::, ::1, the IPv4-compatible ::/96, the
  // local NAT64 64:ff9b:1::/48, discard 100::/64, ULA fc00::/7, link-local fe80::/10, site-local
  // fec0::/10, multicast ff00::/8.
  if ((b[0] & 0xe0) != 0x20) return false;
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02) return false;  // 2001::/23 (Teredo 2001::/32)
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;  // 2001:db8::/32
  if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0) return false;            // 3fff::/20
  return true;
}

bool IsPublic(const asio::ip::address& address) {
  return address.is_v4() ? IsPublicV4(address.to_v4().to_uint()) : IsPublicV6(address.to_v6());
}

// What one request goes to, taken from a URL.
struct Target {
  bool https = false;
  std::string host;  // a name, or a numeric address without brackets: looked up, sent as SNI
  bool numeric_host = false;
  uint16_t port = 0;
  std::string host_header;
  std::string request_target;  // path and query
};

Target ParseTarget(const std::string& url) {
  const auto parsed = urls::parse_absolute_uri(url);
  if (!parsed) ThrowInvalid(url, "not an absolute URL");
  const urls::url_view u = *parsed;
  Target t;
  if (u.scheme_id() == urls::scheme::https) {
    t.https = true;
  } else if (u.scheme_id() != urls::scheme::http) {
    ThrowInvalid(url, "only http:// and https:// URLs can be fetched");
  }
  if (!u.has_authority()) ThrowInvalid(url, "no host");
  if (u.has_userinfo()) ThrowInvalid(url, "user names and passwords are not accepted");
  switch (u.host_type()) {
    case urls::host_type::ipv4:
      t.host = u.host_address();
      t.numeric_host = true;
      t.host_header = t.host;
      break;
    case urls::host_type::ipv6:
      t.host = u.host_address();
      t.numeric_host = true;
      t.host_header = "[" + t.host + "]";
      break;
    case urls::host_type::name: {
      // Letters, digits, '-', '.', '_' only: no percent-escapes that would spell another host.
      const std::string_view name = u.encoded_host();
      const bool well_formed =
          !name.empty() && name.size() <= 253 && std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
          });
      if (!well_formed) ThrowInvalid(url, "malformed host name");
      t.host.resize(name.size());
      std::transform(name.begin(), name.end(), t.host.begin(),
                     [](char c) { return static_cast<char>(std::tolower(c)); });
      t.host_header = t.host;
      break;
    }
    default:
      ThrowInvalid(url, "malformed host");
  }
  const uint16_t default_port = t.https ? 443 : 80;
  t.port = default_port;
  if (u.has_port() && !u.port().empty()) {
    const std::string_view digits = u.port();
    const bool numeric =
        digits.size() <= 5 &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
    const long value = numeric ? std::stol(std::string(digits)) : 0;
    if (value < 1 || value > 65535) ThrowInvalid(url, "port must be 1 to 65535");
    t.port = static_cast<uint16_t>(value);
  }
  if (t.port != default_port) t.host_header += ":" + std::to_string(t.port);
  t.request_target = std::string(u.encoded_path());
  if (t.request_target.empty()) t.request_target = "/";
  if (u.has_query()) t.request_target += "?" + std::string(u.encoded_query());
  return t;
}

std::vector<asio::ip::address> Addresses(const addrinfo* list) {
  std::vector<asio::ip::address> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    asio::ip::address address;
    if (ai->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      address = asio::ip::address_v4(ntohl(sin->sin_addr.s_addr));
    } else if (ai->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &sin6->sin6_addr, bytes.size());
      address = asio::ip::address_v6(bytes, sin6->sin6_scope_id);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(address);
  }
  return out;
}

struct Lookup {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::vector<asio::ip::address> addresses;
};

// Every address of `host`; empty when the lookup fails or does not end before `deadline`.
// getaddrinfo also reads the numeric spellings inet_aton accepts ("127.1", "0x7f000001",
// "2130706433", "017700000001"), so those are judged by the address they stand for.
std::vector<asio::ip::address> Resolve(const Target& target, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* list = nullptr;
  if (getaddrinfo(target.host.c_str(), nullptr, &hints, &list) == 0) {
    auto addresses = Addresses(list);
    freeaddrinfo(list);
    return addresses;
  }
  if (target.numeric_host) return {};
  // A DNS lookup cannot be cancelled: it runs on a thread of its own, and one that outlives the
  // deadline finishes there and frees its state without anyone waiting for it.
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host = target.host] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* list = nullptr;
      std::vector<asio::ip::address> addresses;
      if (getaddrinfo(host.c_str(), nullptr, &hints, &list) == 0) {
        addresses = Addresses(list);
        freeaddrinfo(list);
      }
      std::lock_guard lock(lookup->mutex);
      lookup->addresses = std::move(addresses);
      lookup->done = true;
      lookup->done_cv.notify_all();
    }).detach();
  } catch (const std::system_error&) {
    return {};
  }
  std::unique_lock lock(lookup->mutex);
  if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->done; })) return {};
  return std::move(lookup->addresses);
}

ssl::context& TlsContext() {
  static ssl::context context = [] {
    ssl::context c(ssl::context::tls_client);
    c.set_default_verify_paths();
    c.set_verify_mode(ssl::verify_peer);
    return c;
  }();
  return context;
}

bool IsRedirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

struct Answer {
  std::optional<std::string> location;  // set for a redirect
  std::vector<uint8_t> body;
};

struct Exchange {
  const Target& target;
  const std::string& url;  // the client's URL, for messages
  int64_t max_bytes;

  template <class Stream>
  asio::awaitable<Answer> Run(Stream& stream) const {
    beast::error_code ec;
    auto on_error = asio::redirect_error(asio::use_awaitable, ec);
    http::request<http::empty_body> request{http::verb::get, target.request_target, 11};
    request.set(http::field::host, target.host_header);
    request.set(http::field::user_agent, "qwenvl");
    request.set(http::field::accept, "*/*");
    request.set(http::field::accept_encoding, "identity");
    request.set(http::field::connection, "close");
    co_await http::async_write(stream, request, on_error);
    if (ec) ThrowFailed(url);

    beast::flat_buffer buffer;
    http::response_parser<http::vector_body<uint8_t>> parser;
    // The size is judged after the status: a refused answer's size must not show in the message.
    parser.body_limit(boost::none);
    co_await http::async_read_header(stream, buffer, parser, on_error);
    if (ec) ThrowFailed(url);
    const auto& head = parser.get();
    if (IsRedirect(head.result_int())) {
      const auto location = head.find(http::field::location);
      if (location == head.end()) ThrowFailed(url);
      co_return Answer{std::string(location->value()), {}};
    }
    if (head.result_int() != 200) ThrowFailed(url);
    const auto declared = parser.content_length();
    if (declared && *declared > static_cast<uint64_t>(max_bytes)) ThrowTooLarge(url, max_bytes);
    parser.body_limit(static_cast<uint64_t>(max_bytes));
    co_await http::async_read(stream, buffer, parser, on_error);
    if (ec == http::error::body_limit) ThrowTooLarge(url, max_bytes);
    if (ec == ssl::error::stream_truncated && parser.need_eof()) {
      // A TLS peer that closes without close_notify ends a body that runs to the end of the
      // connection all the same.
      parser.put_eof(ec);
    }
    if (ec || !parser.is_done()) ThrowFailed(url);
    co_return Answer{std::nullopt, parser.release().body()};
  }
};

asio::awaitable<Answer> FetchOnce(const Exchange& exchange, const std::vector<tcp::endpoint>& to,
                                  Clock::time_point deadline) {
  const auto executor = co_await asio::this_coro::executor;
  beast::error_code ec;
  auto on_error = asio::redirect_error(asio::use_awaitable, ec);
  const Target& target = exchange.target;
  if (!target.https) {
    beast::tcp_stream stream(executor);
    stream.expires_at(deadline);
    co_await stream.async_connect(to, on_error);
    if (ec) ThrowFailed(exchange.url);
    co_return co_await exchange.Run(stream);
  }
  beast::ssl_stream<beast::tcp_stream> stream(executor, TlsContext());
  beast::get_lowest_layer(stream).expires_at(deadline);
  if (!target.numeric_host &&
      !SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str())) {
    ThrowFailed(exchange.url);
  }
  stream.set_verify_callback(ssl::host_name_verification(target.host));
  co_await beast::get_lowest_layer(stream).async_connect(to, on_error);
  if (ec) ThrowFailed(exchange.url);
  co_await stream.async_handshake(ssl::stream_base::client, on_error);
  if (ec) ThrowFailed(exchange.url);
  co_return co_await exchange.Run(stream);
}

// One request to the already vetted `addresses`, all of it before `deadline`.
Answer RunRequest(const Exchange& exchange, const std::vector<asio::ip::address>& addresses,
                  Clock::time_point deadline) {
  std::vector<tcp::endpoint> endpoints;
  for (const auto& address : addresses) endpoints.emplace_back(address, exchange.target.port);
  asio::io_context io;
  std::exception_ptr error;
  std::optional<Answer> answer;
  asio::co_spawn(io, FetchOnce(exchange, endpoints, deadline), [&](std::exception_ptr e, Answer a) {
    error = e;
    if (!e) answer = std::move(a);
  });
  // The streams' expiry ends every operation at the deadline; this bound is the backstop.
  io.run_until(deadline + std::chrono::seconds(1));
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const FetchError&) {
      throw;
    } catch (...) {
      ThrowFailed(exchange.url);
    }
  }
  if (!answer) ThrowFailed(exchange.url);
  return std::move(*answer);
}

}  // namespace

bool IsPublicAddress(std::string_view numeric_address) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(std::string(numeric_address), ec);
  return !ec && IsPublic(address);
}

std::vector<uint8_t> FetchUrl(const std::string& url, const FetchOptions& options) {
  const Clock::time_point deadline = Clock::now() + options.timeout;
  std::string current = url;
  for (int redirects = 0;; ++redirects) {
    Target target;
    try {
      target = ParseTarget(current);
    } catch (const FetchError&) {
      if (redirects == 0) throw;
      ThrowFailed(url);  // a redirect to somewhere this fetcher does not go
    }
    const auto addresses = Resolve(target, deadline);
    if (addresses.empty()) ThrowFailed(url);
    const auto allowed = [&options](const asio::ip::address& address) {
      if (options.allow_private_addresses) return true;
      if (options.address_allowed) return options.address_allowed(address.to_string());
      return IsPublic(address);
    };
    if (!std::all_of(addresses.begin(), addresses.end(), allowed)) ThrowNotAllowed(url);
    Answer answer = RunRequest(Exchange{target, url, options.max_bytes}, addresses, deadline);
    if (!answer.location) return std::move(answer.body);
    if (redirects == options.max_redirects) ThrowFailed(url);
    const auto reference = urls::parse_uri_reference(*answer.location);
    if (!reference) ThrowFailed(url);
    urls::url next;
    if (urls::resolve(urls::url_view(current), *reference, next).has_error()) ThrowFailed(url);
    current = std::string(next.buffer());
  }
}

std::function<std::vector<uint8_t>(const std::string& url)> UrlFetcher(FetchOptions options) {
  return [options](const std::string& url) { return FetchUrl(url, options); };
}

}  // namespace qwenvl::server
