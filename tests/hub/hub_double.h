// A stand-in for the Hugging Face hub on 127.0.0.1, started inside a test: the revision API, the
// resolve/ endpoint (200 for small git files, a 302 to a second "blob host" port for LFS files,
// with ETag / X-Linked-Etag / X-Linked-Size / X-Repo-Commit), HEAD, keep-alive and Range on the
// blob host. Knobs make it misbehave (a dropped connection, wrong bytes, extra bytes, endless
// redirects, a gated repository) and it records every request it saw.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/sha256.h"

namespace qwenvl::hub::testing {

struct DoubleFile {
  std::string path, content;
  bool lfs = false;
  std::optional<std::string> served;  // bytes sent instead of `content` (a corrupt blob)
  std::string Sha256() const {
    return Sha256Hex(std::span(reinterpret_cast<const uint8_t*>(content.data()), content.size()));
  }
  // A git blob id stand-in: 40 hex digits derived from the content.
  std::string GitEtag() const { return Sha256().substr(0, 40); }
};

struct DoubleRepo {
  std::string commit;
  std::vector<DoubleFile> files;
  std::string token;                   // non-empty: gated, needs "Bearer <token>"
  std::optional<std::string> listing;  // the revision API's body, served as is
};

struct SeenRequest {
  bool blob_host = false;
  std::string method, target, range, authorization;
};

class HubDouble {
 public:
  HubDouble() {
    hub_fd_ = Listen(&hub_port_);
    blob_fd_ = Listen(&blob_port_);
    threads_.emplace_back([this] { AcceptLoop(hub_fd_, false); });
    threads_.emplace_back([this] { AcceptLoop(blob_fd_, true); });
  }
  ~HubDouble() {
    stopping_ = true;
    for (auto& t : threads_) t.join();
    std::vector<std::thread> connections;
    {
      std::lock_guard lock(mutex_);
      connections.swap(connections_);
    }
    for (auto& t : connections) t.join();
    ::close(hub_fd_);
    ::close(blob_fd_);
  }

  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(hub_port_); }
  void AddRepo(const std::string& id, DoubleRepo repo) {
    std::lock_guard lock(mutex_);
    repos_[id] = std::move(repo);
  }
  std::vector<SeenRequest> Requests() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  void ClearRequests() {
    std::lock_guard lock(mutex_);
    seen_.clear();
  }

  // The next blob GET sends its headers (full length) and this many body bytes, then closes.
  std::atomic<long> drop_next_blob_after{-1};
  // The blob host sends this many bytes more than the file holds (Content-Length included).
  std::atomic<size_t> extra_blob_bytes{0};
  // The blob host answers every GET with a redirect to another of its URLs, forever.
  std::atomic<bool> endless_redirects{false};
  // The next blob GET sends its headers and 1 byte, then nothing until the client gives up.
  std::atomic<bool> stall_next_blob{false};
  // The blob host ignores Range and answers 200 with the whole file.
  std::atomic<bool> ignore_range{false};

 private:
  struct Request {
    std::string method, target;
    std::map<std::string, std::string> headers;  // lowercase names
  };

  static int Listen(int* port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 || ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0)
      std::abort();
    *port = ntohs(address.sin_port);
    return fd;
  }

  void AcceptLoop(int listener, bool blob_host) {
    while (!stopping_) {
      pollfd p{listener, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, fd, blob_host] {
        Serve(fd, blob_host);
        ::close(fd);
      });
    }
  }

  // Reads one request head; nullopt when the peer closed or the double stops.
  std::optional<Request> Read(int fd, std::string& buffer) {
    size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (stopping_ || buffer.size() > 65536) return std::nullopt;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    const std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    Request r;
    size_t line_end = head.find("\r\n");
    const std::string first = head.substr(0, line_end);
    const size_t s1 = first.find(' '), s2 = first.rfind(' ');
    r.method = first.substr(0, s1);
    r.target = first.substr(s1 + 1, s2 - s1 - 1);
    while (line_end != std::string::npos) {
      const size_t next = head.find("\r\n", line_end + 2);
      const std::string line = head.substr(line_end + 2, next - line_end - 2);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      }
      line_end = next;
    }
    return r;
  }

  static bool Send(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  static std::string Head(int status, const std::vector<std::string>& headers, size_t length) {
    std::string reason = status == 200   ? "OK"
                         : status == 206 ? "Partial Content"
                         : status == 302 ? "Found"
                                         : "Error";
    std::string s = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (const auto& h : headers) s += h + "\r\n";
    s += "Content-Length: " + std::to_string(length) + "\r\n\r\n";
    return s;
  }

  static std::string UrlDecode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  }

  void Serve(int fd, bool blob_host) {
    std::string buffer;
    while (auto r = Read(fd, buffer)) {
      {
        std::lock_guard lock(mutex_);
        const auto header = [&](const std::string& name) {
          const auto it = r->headers.find(name);
          return it == r->headers.end() ? std::string() : it->second;
        };
        seen_.push_back(
            {blob_host, r->method, r->target, header("range"), header("authorization")});
      }
      const bool keep = blob_host ? ServeBlob(fd, *r) : ServeHub(fd, *r);
      if (!keep) return;
    }
  }

  // Answers with `body` (no body for HEAD).
  static bool Reply(int fd, const Request& r, int status, const std::vector<std::string>& headers,
                    const std::string& body) {
    return Send(fd, Head(status, headers, body.size()) + (r.method == "HEAD" ? "" : body));
  }

  bool ServeHub(int fd, const Request& r) {
    std::lock_guard lock(mutex_);  // the repositories do not change during a request
    const std::string api = "/api/models/";
    std::string target = r.target;
    if (const size_t q = target.find('?'); q != std::string::npos) target.resize(q);
    std::string repo_id, rest;
    bool is_api = target.starts_with(api);
    const std::string path = is_api ? target.substr(api.size()) : target.substr(1);
    const size_t s1 = path.find('/');
    const size_t s2 = s1 == std::string::npos ? s1 : path.find('/', s1 + 1);
    if (s2 == std::string::npos) return Reply(fd, r, 404, {}, "no route");
    repo_id = path.substr(0, s2);
    rest = path.substr(s2 + 1);
    const auto it = repos_.find(repo_id);
    if (it == repos_.end()) return Reply(fd, r, 404, {}, "Repository not found");
    const DoubleRepo& repo = it->second;
    if (!repo.token.empty() && r.headers.count("authorization") == 0)
      return Reply(fd, r, 401, {}, "Access to model " + repo_id + " is restricted.");
    if (!repo.token.empty() && r.headers.at("authorization") != "Bearer " + repo.token)
      return Reply(fd, r, 403, {}, "not allowed");
    if (is_api) {
      if (!rest.starts_with("revision/")) return Reply(fd, r, 404, {}, "no route");
      const std::string revision = UrlDecode(rest.substr(9));
      if (revision != "main" && revision != repo.commit)
        return Reply(fd, r, 404, {}, "Revision Not Found");
      if (repo.listing) return Reply(fd, r, 200, {"Content-Type: application/json"}, *repo.listing);
      nlohmann::json siblings = nlohmann::json::array();
      for (const DoubleFile& f : repo.files) {
        nlohmann::json s = {{"rfilename", f.path}, {"size", f.content.size()}};
        if (f.lfs) s["lfs"] = {{"sha256", f.Sha256()}, {"size", f.content.size()}};
        siblings.push_back(s);
      }
      const nlohmann::json doc = {{"id", repo_id}, {"sha", repo.commit}, {"siblings", siblings}};
      return Reply(fd, r, 200, {"Content-Type: application/json"}, doc.dump());
    }
    if (!rest.starts_with("resolve/")) return Reply(fd, r, 404, {}, "no route");
    const std::string after = rest.substr(8);
    const size_t slash = after.find('/');
    const std::string revision = after.substr(0, slash);
    const std::string file_path = UrlDecode(after.substr(slash + 1));
    if (revision != "main" && revision != repo.commit)
      return Reply(fd, r, 404, {}, "Revision Not Found");
    for (const DoubleFile& f : repo.files) {
      if (f.path != file_path) continue;
      const std::string commit = "X-Repo-Commit: " + repo.commit;
      if (f.lfs) {
        const std::string location =
            "http://127.0.0.1:" + std::to_string(blob_port_) + "/blobs/" + f.Sha256();
        return Reply(fd, r, 302,
                     {"Location: " + location, "ETag: \"" + f.GitEtag() + "\"",
                      "X-Linked-Etag: \"" + f.Sha256() + "\"",
                      "X-Linked-Size: " + std::to_string(f.content.size()), commit},
                     "");
      }
      return Reply(fd, r, 200, {"ETag: \"" + f.GitEtag() + "\"", commit},
                   f.served.value_or(f.content));
    }
    return Reply(fd, r, 404, {}, "Entry not found");
  }

  bool ServeBlob(int fd, const Request& r) {
    if (endless_redirects) {
      const std::string next = "/loop/" + std::to_string(loop_++);
      return Reply(fd, r, 302, {"Location: " + next}, "");
    }
    std::string content;
    {
      std::lock_guard lock(mutex_);
      bool found = false;
      for (const auto& [id, repo] : repos_)
        for (const DoubleFile& f : repo.files)
          if (r.target == "/blobs/" + f.Sha256()) {
            content = f.served.value_or(f.content);
            found = true;
          }
      if (!found) return Reply(fd, r, 404, {}, "no blob");
    }
    content += std::string(extra_blob_bytes, 'x');
    size_t from = 0;
    int status = 200;
    std::vector<std::string> headers;
    const auto range = r.headers.find("range");
    if (range != r.headers.end() && !ignore_range) {
      from = std::stoul(range->second.substr(6));  // bytes=N-
      status = 206;
      headers.push_back("Content-Range: bytes " + std::to_string(from) + "-" +
                        std::to_string(content.size() - 1) + "/" + std::to_string(content.size()));
    }
    const std::string body = content.substr(from);
    if (stall_next_blob.exchange(false)) {
      Send(fd, Head(status, headers, body.size()) + body.substr(0, 1));
      char byte;
      while (!stopping_) {  // until the peer closes the connection
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0 && ::recv(fd, &byte, 1, 0) <= 0) break;
      }
      return false;
    }
    const long drop = drop_next_blob_after.exchange(-1);
    if (drop >= 0) {
      Send(fd, Head(status, headers, body.size()) + body.substr(0, static_cast<size_t>(drop)));
      return false;  // the connection closes mid-body
    }
    return Reply(fd, r, status, headers, body);
  }

  int hub_fd_ = -1, blob_fd_ = -1, hub_port_ = 0, blob_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> loop_{0};
  std::mutex mutex_;
  std::map<std::string, DoubleRepo> repos_;
  std::vector<SeenRequest> seen_;
  std::vector<std::thread> threads_, connections_;
};

}  // namespace qwenvl::hub::testing
