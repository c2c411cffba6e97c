#include "server/url_fetch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/api_error.h"
#include "server/media_source.h"

namespace qwenvl::server {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A plain HTTP origin on 127.0.0.1 in the test process: each connection gets its own thread and
// the handler registered for the request's path writes whatever raw bytes it likes.
class TestOrigin {
 public:
  struct Connection {
    int fd;
    const std::atomic<bool>& stopping;
    // Sends all of `data`; false once the peer is gone.
    bool Send(std::string_view data) const {
      while (!data.empty()) {
        const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        data.remove_prefix(static_cast<size_t>(n));
      }
      return true;
    }
    // Waits up to `time` (in small steps, so that the origin stops promptly); false once stopping.
    bool Sleep(milliseconds time) const {
      for (auto end = Clock::now() + time; Clock::now() < end;) {
        if (stopping) return false;
        std::this_thread::sleep_for(milliseconds(10));
      }
      return !stopping;
    }
    // Holds the connection open until the peer closes it (or the origin stops).
    void HoldUntilClosed() const {
      char byte;
      while (!stopping) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 20) > 0 && recv(fd, &byte, 1, 0) <= 0) return;
      }
    }
  };
  using Handler = std::function<void(const Connection&)>;

  TestOrigin() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        listen(listener_, 16) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestOrigin() {
    stopping_ = true;
    acceptor_.join();
    std::vector<std::thread> connections;
    {
      std::lock_guard lock(mutex_);
      connections.swap(connections_);
    }
    for (auto& t : connections) t.join();
    close(listener_);
  }

  // Every connection goes to `handler` before anything is read from it (a TLS origin).
  void ServeRaw(Handler handler) {
    std::lock_guard lock(mutex_);
    raw_ = std::move(handler);
  }

  void Route(const std::string& path, Handler handler) {
    std::lock_guard lock(mutex_);
    routes_[path] = std::move(handler);
  }

  int port() const { return port_; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string last_host_header() {
    std::lock_guard lock(mutex_);
    return last_host_;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    Handler raw;
    {
      std::lock_guard lock(mutex_);
      raw = raw_;
    }
    if (raw) {
      raw(Connection{fd, stopping_});
      close(fd);
      return;
    }
    std::string request;
    char buffer[1024];
    while (request.find("\r\n\r\n") == std::string::npos && !stopping_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    // "GET <path> HTTP/1.1"
    const size_t path_start = request.find(' ') + 1;
    const std::string path = request.substr(path_start, request.find(' ', path_start) - path_start);
    Handler handler;
    {
      std::lock_guard lock(mutex_);
      const size_t host = request.find("\r\nHost: ");
      if (host != std::string::npos) {
        last_host_ = request.substr(host + 8, request.find("\r\n", host + 8) - host - 8);
      }
      const auto route = routes_.find(path);
      if (route != routes_.end()) handler = route->second;
    }
    const Connection connection{fd, stopping_};
    if (handler) {
      handler(connection);
    } else {
      connection.Send(
          "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
    }
    close(fd);
  }

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;
  Handler raw_;
  std::map<std::string, Handler> routes_;
  std::string last_host_;
};

TestOrigin::Handler Answer(std::string status_and_headers, std::string body) {
  return [=](const TestOrigin::Connection& c) {
    c.Send("HTTP/1.1 " + status_and_headers + "\r\nConnection: close\r\n\r\n" + body);
  };
}

TestOrigin::Handler Redirect(int status, const std::string& location) {
  return Answer(
      std::to_string(status) + " Moved\r\nLocation: " + location + "\r\nContent-Length: 0", "");
}

const std::string kPicture = std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + "picture bytes";

std::string ToString(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

// The error a fetch ends with (and a failure when it ends with bytes).
FetchError ErrorOf(const std::string& url, const FetchOptions& options) {
  try {
    const auto bytes = FetchUrl(url, options);
    ADD_FAILURE() << url << " was fetched (" << bytes.size() << " bytes)";
  } catch (const FetchError& e) {
    return e;
  }
  return FetchError(FetchError::Reason::kFailed, "");
}

FetchOptions PrivateAllowed() {
  FetchOptions options;
  options.allow_private_addresses = true;
  options.max_bytes = 1000;
  options.timeout = milliseconds(1000);
  return options;
}

// A port nothing listens on: bound, then closed.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

TEST(IsPublicAddress, RefusesEveryNonPublicRange) {
  for (const char* address :
       {"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
        "100.64.0.1", "100.127.255.255", "169.254.169.254", "172.16.0.1", "172.31.255.255",
        "192.0.0.1", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255",
        "198.51.100.1", "203.0.113.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255",
        // IPv6 and the IPv4 forms it carries
        "::", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1",
        "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::127.0.0.1", "::8.8.8.8", "::ffff:0:7f00:1",
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::c0a8:101", "64:ff9b:1::808:808",
        "2002:7f00:1::1", "2002:a00:1::", "2002:c0a8:101::1", "fe80::1", "fe80::1%1",
        "febf:ffff::1", "fec0::1", "fc00::1", "fd12:3456::1", "ff02::1", "ff05::1:3", "100::1",
        "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", "3fff::1", "5f00::1",
        // not numeric addresses at all
        "", "localhost", "127.1", "0x7f000001", "1.2.3.4.5", "[::1]"}) {
    EXPECT_FALSE(IsPublicAddress(address)) << address;
  }
}

TEST(IsPublicAddress, AllowsPublicAddresses) {
  for (const char* address : {"8.8.8.8",
                              "1.1.1.1",
                              "93.184.216.34",
                              "11.0.0.1",
                              "100.63.255.255",
                              "100.128.0.1",
                              "169.253.255.255",
                              "172.15.255.255",
                              "172.32.0.1",
                              "192.167.255.255",
                              "192.169.0.1",
                              "198.17.255.255",
                              "198.20.0.1",
                              "223.255.255.255",
                              "2606:4700:4700::1111",
                              "2001:4860:4860::8888",
                              "2a00:1450:4001::200e",
                              "::ffff:8.8.8.8",
                              "64:ff9b::808:808",
                              "2002:808:808::1",
                              "2001:200::1"}) {
    EXPECT_TRUE(IsPublicAddress(address)) << address;
  }
}

TEST(FetchUrl, RefusesEverySpellingOfAPrivateHostBeforeConnecting) {
  // A listening origin: a refusal that came from connecting would not read "not allowed".
  TestOrigin origin;
  origin.Route("/", Answer("200 OK\r\nContent-Length: 2", "hi"));
  const std::string port = ":" + std::to_string(origin.port());
  for (const std::string host : {"127.0.0.1",
                                 "127.1",
                                 "0x7f000001",
                                 "2130706433",
                                 "017700000001",
                                 "0177.0.0.1",
                                 "127.000.000.001",
                                 "0x7f.1",
                                 "[::1]",
                                 "[::ffff:127.0.0.1]",
                                 "[::ffff:7f00:1]",
                                 "[::127.0.0.1]",
                                 "[64:ff9b::7f00:1]",
                                 "[2002:7f00:1::]",
                                 "localhost",
                                 "LocalHost",
                                 "0",
                                 "0.0.0.0",
                                 "[::]",
                                 "10.0.0.1",
                                 "172.16.0.1",
                                 "192.168.0.1",
                                 "100.64.0.1",
                                 "169.254.169.254",
                                 "[fe80::1]",
                                 "[fd00::1]",
                                 "224.0.0.1",
                                 "255.255.255.255"}) {
    const std::string url = "http://" + host + port + "/";
    const FetchError e = ErrorOf(url, FetchOptions{});
    EXPECT_EQ(e.reason(), FetchError::Reason::kNotAllowed) << url << ": " << e.what();
    EXPECT_EQ(std::string(e.what()),
              "could not fetch " + url + ": not allowed: private/loopback address");
  }
  EXPECT_EQ(origin.last_host_header(), "");  // nothing reached the origin
}

TEST(FetchUrl, RefusesMalformedUrls) {
  for (const std::string url :
       {"ftp://8.8.8.8/x", "file:///etc/passwd", "gopher://8.8.8.8/", "http://user@8.8.8.8/",
        "http://user:secret@8.8.8.8/", "http://8.8.8.8:0/", "http://8.8.8.8:65536/",
        "http://8.8.8.8:99999999999/", "http:///path", "http://exa%6dple.com/", "http://[v1.x]/",
        "//8.8.8.8/", "not a url", "http://a b/"}) {
    EXPECT_EQ(ErrorOf(url, FetchOptions{}).reason(), FetchError::Reason::kInvalidUrl) << url;
  }
}

TEST(FetchUrl, OriginOnLoopbackOnlyWhenPrivateAddressesAreAllowed) {
  TestOrigin origin;
  origin.Route("/picture.png", Answer("200 OK\r\nContent-Type: image/png\r\nContent-Length: " +
                                          std::to_string(kPicture.size()),
                                      kPicture));
  FetchOptions options;
  EXPECT_EQ(ErrorOf(origin.Url("/picture.png"), options).reason(), FetchError::Reason::kNotAllowed);
  EXPECT_EQ(origin.last_host_header(), "");
  options.allow_private_addresses = true;
  EXPECT_EQ(ToString(FetchUrl(origin.Url("/picture.png"), options)), kPicture);
  EXPECT_EQ(origin.last_host_header(), "127.0.0.1:" + std::to_string(origin.port()));
}

TEST(FetchUrl, FollowsRelativeAndAbsoluteRedirects) {
  TestOrigin origin;
  origin.Route("/picture.png",
               Answer("200 OK\r\nContent-Length: " + std::to_string(kPicture.size()), kPicture));
  origin.Route("/a/hop1", Redirect(302, "hop2?x=1"));
  origin.Route("/a/hop2?x=1", Redirect(307, "/hop3"));
  origin.Route("/hop3", Redirect(301, origin.Url("/picture.png")));
  origin.Route("/loop", Redirect(302, "/loop"));
  origin.Route("/no-location", Answer("302 Found\r\nContent-Length: 0", ""));
  origin.Route("/to-file", Redirect(302, "file:///etc/passwd"));
  EXPECT_EQ(ToString(FetchUrl(origin.Url("/a/hop1"), PrivateAllowed())), kPicture);
  for (const std::string path : {"/loop", "/no-location", "/to-file"}) {
    const std::string url = origin.Url(path);
    const FetchError e = ErrorOf(url, PrivateAllowed());
    EXPECT_EQ(e.reason(), FetchError::Reason::kFailed) << path;
    EXPECT_EQ(std::string(e.what()), "could not fetch " + url) << path;
  }
  FetchOptions no_redirects = PrivateAllowed();
  no_redirects.max_redirects = 0;
  EXPECT_EQ(ErrorOf(origin.Url("/hop3"), no_redirects).reason(), FetchError::Reason::kFailed);
}

TEST(FetchUrl, VetsEveryRedirectTarget) {
  TestOrigin origin;
  const std::string port = std::to_string(origin.port());
  origin.Route("/picture.png",
               Answer("200 OK\r\nContent-Length: " + std::to_string(kPicture.size()), kPicture));
  origin.Route("/to-loopback", Redirect(302, "http://127.0.0.2:" + port + "/picture.png"));
  origin.Route("/to-decimal", Redirect(302, "http://2130706434:" + port + "/picture.png"));
  origin.Route("/to-mapped", Redirect(302, "http://[::ffff:127.0.0.1]:" + port + "/picture.png"));
  origin.Route("/to-metadata", Redirect(302, "http://169.254.169.254/latest/meta-data/"));
  // This origin alone counts as public: what it redirects to is judged like any other address.
  FetchOptions options = PrivateAllowed();
  options.allow_private_addresses = false;
  options.address_allowed = [](std::string_view address) { return address == "127.0.0.1"; };
  EXPECT_EQ(ToString(FetchUrl(origin.Url("/picture.png"), options)), kPicture);
  for (const std::string path : {"/to-loopback", "/to-decimal", "/to-mapped", "/to-metadata"}) {
    const std::string url = origin.Url(path);
    const FetchError e = ErrorOf(url, options);
    EXPECT_EQ(e.reason(), FetchError::Reason::kNotAllowed) << path;
    EXPECT_EQ(std::string(e.what()),
              "could not fetch " + url + ": not allowed: private/loopback address");
  }
}

TEST(FetchUrl, NotFoundAndConnectionRefusedReadTheSame) {
  TestOrigin origin;
  origin.Route("/teapot", Answer("418 I'm a teapot\r\nContent-Length: 5", "short"));
  origin.Route("/server-error", Answer("500 Oops\r\nContent-Length: 5000", std::string(5000, 'x')));
  origin.Route("/garbage", Answer("not http at all", ""));
  const std::vector<std::string> urls = {
      origin.Url("/missing"), origin.Url("/teapot"), origin.Url("/server-error"),
      origin.Url("/garbage"), "http://127.0.0.1:" + std::to_string(ClosedPort()) + "/missing"};
  for (const auto& url : urls) {
    const FetchError e = ErrorOf(url, PrivateAllowed());
    EXPECT_EQ(e.reason(), FetchError::Reason::kFailed) << url;
    EXPECT_EQ(std::string(e.what()), "could not fetch " + url);
  }
}

TEST(FetchUrl, SizeCapHoldsWithAndWithoutContentLength) {
  TestOrigin origin;
  origin.Route("/fits", Answer("200 OK\r\nContent-Length: 1000", std::string(1000, 'a')));
  // Declares too much, then sends nothing: refused on the header, long before the deadline.
  origin.Route("/declared", [](const TestOrigin::Connection& c) {
    if (c.Send("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")) c.HoldUntilClosed();
  });
  // No length: the body runs to the end of the connection, and never ends.
  origin.Route("/endless", [](const TestOrigin::Connection& c) {
    if (!c.Send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")) return;
    while (c.Send(std::string(4096, 'b')) && c.Sleep(milliseconds(1))) {
    }
  });
  origin.Route("/chunked", [](const TestOrigin::Connection& c) {
    if (!c.Send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
    while (c.Send("100\r\n" + std::string(256, 'c') + "\r\n") && c.Sleep(milliseconds(1))) {
    }
  });
  EXPECT_EQ(FetchUrl(origin.Url("/fits"), PrivateAllowed()).size(), 1000u);
  for (const std::string path : {"/declared", "/endless", "/chunked"}) {
    const std::string url = origin.Url(path);
    const auto start = Clock::now();
    const FetchError e = ErrorOf(url, PrivateAllowed());
    EXPECT_EQ(e.reason(), FetchError::Reason::kTooLarge) << path << ": " << e.what();
    EXPECT_EQ(std::string(e.what()), "could not fetch " + url + ": larger than 1000 bytes");
    EXPECT_LT(Clock::now() - start, milliseconds(900)) << path;  // not cut by the deadline
  }
}

TEST(FetchUrl, ContentLengthThatLies) {
  TestOrigin origin;
  // Fewer bytes than declared, then the connection closes: a failed fetch, not a short picture.
  origin.Route("/short", Answer("200 OK\r\nContent-Length: 100", "only ten.."));
  // More bytes than declared (far past the cap): the declared length is all that is read.
  origin.Route("/long", [](const TestOrigin::Connection& c) {
    if (!c.Send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd")) return;
    while (c.Send(std::string(4096, 'x')) && c.Sleep(milliseconds(1))) {
    }
  });
  EXPECT_EQ(ErrorOf(origin.Url("/short"), PrivateAllowed()).reason(), FetchError::Reason::kFailed);
  EXPECT_EQ(ToString(FetchUrl(origin.Url("/long"), PrivateAllowed())), "abcd");
}

TEST(FetchUrl, DeadlineCutsASlowTrickle) {
  TestOrigin origin;
  origin.Route("/trickle-body", [](const TestOrigin::Connection& c) {
    if (!c.Send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")) return;
    while (c.Send("x") && c.Sleep(milliseconds(1000))) {
    }
  });
  origin.Route("/trickle-header", [](const TestOrigin::Connection& c) {
    for (const char ch : std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")) {
      if (!c.Send(std::string(1, ch)) || !c.Sleep(milliseconds(1000))) return;
    }
  });
  // Each step comes well within the time one step may take, redirects included: only a deadline
  // over the whole fetch ends it.
  origin.Route("/slow-redirect", [](const TestOrigin::Connection& c) {
    if (c.Sleep(milliseconds(400))) Redirect(302, "/slow-redirect")(c);
  });
  for (const std::string path : {"/trickle-body", "/trickle-header", "/slow-redirect"}) {
    const std::string url = origin.Url(path);
    const auto start = Clock::now();
    const FetchError e = ErrorOf(url, PrivateAllowed());  // 1 s deadline
    const auto took = Clock::now() - start;
    EXPECT_EQ(e.reason(), FetchError::Reason::kFailed) << path;
    EXPECT_EQ(std::string(e.what()), "could not fetch " + url);
    EXPECT_GE(took, milliseconds(900)) << path;
    EXPECT_LT(took, milliseconds(2500)) << path;
  }
}

// A TLS origin whose certificate (self-signed, for IP 127.0.0.1) no system store trusts: were the
// peer not verified, the fetch would get its answer.
TEST(FetchUrl, HttpsRefusesAnUntrustedCertificate) {
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  ASSERT_TRUE(key);
  const std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "IP:127.0.0.1");
  ASSERT_NE(san, nullptr);
  X509_add_ext(cert.get(), san, -1);
  X509_EXTENSION_free(san);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_server_method()),
                                                                  SSL_CTX_free);
  ASSERT_EQ(SSL_CTX_use_certificate(context.get(), cert.get()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(context.get(), key.get()), 1);

  std::atomic<int> handshakes{0};
  TestOrigin origin;  // declared after the context: stops before it goes
  origin.ServeRaw([&](const TestOrigin::Connection& c) {
    SSL* ssl = SSL_new(context.get());
    SSL_set_fd(ssl, c.fd);
    if (SSL_accept(ssl) == 1) {
      ++handshakes;
      char request[1024];
      SSL_read(ssl, request, sizeof request);
      const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
      SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  });
  const std::string url = "https://127.0.0.1:" + std::to_string(origin.port()) + "/picture.png";
  const FetchError e = ErrorOf(url, PrivateAllowed());
  EXPECT_EQ(e.reason(), FetchError::Reason::kFailed);
  EXPECT_EQ(std::string(e.what()), "could not fetch " + url);
  EXPECT_EQ(handshakes, 0);
}

TEST(FetchUrl, MediaPolicyTurnsFetchErrorsIntoBadRequests) {
  TestOrigin origin;
  origin.Route("/picture.png",
               Answer("200 OK\r\nContent-Length: " + std::to_string(kPicture.size()), kPicture));
  origin.Route("/empty", Answer("200 OK\r\nContent-Length: 0", ""));
  origin.Route("/big", Answer("200 OK\r\nContent-Length: 2000", std::string(2000, 'z')));
  MediaPolicy policy;
  policy.allow_remote_urls = true;
  const auto code_of = [&](const std::string& url) {
    try {
      Media media;
      ResolveMediaUrl(url, policy, "messages[0].content[0].image_url", media);
      ADD_FAILURE() << url << " was fetched";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.param(), "messages[0].content[0].image_url");
      return e.code();
    }
    return std::string();
  };
  EXPECT_EQ(code_of(origin.Url("/picture.png")), "remote_urls_disabled");  // no fetcher set
  policy.fetch_url = UrlFetcher(FetchOptions{});
  EXPECT_EQ(code_of(origin.Url("/picture.png")), "url_not_allowed");
  EXPECT_EQ(code_of("ftp://example.com/x.png"), "unsupported_url");
  EXPECT_EQ(code_of("http://user@example.com/x.png"), "invalid_url");
  policy.fetch_url = UrlFetcher(PrivateAllowed());
  Media media;
  ResolveMediaUrl(origin.Url("/picture.png"), policy, "image_url", media);
  EXPECT_EQ(ToString(media.bytes), kPicture);
  EXPECT_EQ(code_of(origin.Url("/missing")), "fetch_failed");
  EXPECT_EQ(code_of(origin.Url("/empty")), "fetch_failed");
  EXPECT_EQ(code_of(origin.Url("/big")), "media_too_large");
}

}  // namespace
}  // namespace qwenvl::server
