#include "util/replace_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace qwenvl {

void ReplaceFile(const std::string& path, std::string_view bytes) {
  // mkstemp picks a name no other writer holds and creates it exclusively.
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw Error(ErrorCode::kIo, path + ": cannot write: " + std::strerror(errno));
  auto fail = [&](const char* what) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, path + ": " + what + ": " + std::strerror(err));
  };
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      if (n == 0) errno = EIO;
      fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  // mkstemp makes the file 0600; the files written here are as readable as any other.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) {
    ::close(fd);
    fail("cannot write");
  }
  if (::close(fd) != 0) fail("cannot write");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot replace");
}

}  // namespace qwenvl
