// Whether the client of an HTTP request is still there, for the waits before a response starts
// (a non-streamed answer, or a stream's first token after a long prefill). cpp-httplib 0.11 gives
// a handler no access to its socket, so the socket is found once among the process's descriptors
// by the peer's address and port (unique per connection). The client has gone when that socket no
// longer exists (or its descriptor now belongs to another peer) or a peek reads end-of-stream.
#pragma once

#include <string>

namespace qwenvl::server {

class PeerProbe {
 public:
  PeerProbe(std::string remote_addr, int remote_port);
  // True once the client closed or reset the connection. Unknown (socket not found at start,
  // e.g. a test calling the handler directly): always false, so nothing is cancelled by mistake.
  bool Gone() const;
  bool found() const { return fd_ >= 0; }

 private:
  bool SamePeer(int fd) const;
  std::string addr_;
  int port_;
  int fd_ = -1;
};

}  // namespace qwenvl::server
