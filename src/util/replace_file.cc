#include "util/replace_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace qwenvl {

void ReplaceFile(const std::string& path, std::string_view bytes, unsigned mode) {
  // mkostemp picks a name no other writer holds and creates it exclusively.
  std::string tmp = path + std::string(kTemporaryMark) + "XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, path + ": cannot write: " + std::strerror(errno));
  // Every failure closes and removes the temporary, and names the target with errno's reason.
  auto fail = [&](const char* what, bool open) {
    const int err = errno;
    if (open) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, path + ": " + what + ": " + std::strerror(err));
  };
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) fail("cannot write", true);
    done += static_cast<size_t>(n);
  }
  // mkostemp makes the file 0600; the caller says who may read it. A fixed mode, not one from the
  // umask: reading the umask means setting it, which races with other threads creating files.
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) fail("cannot write", true);
  if (::close(fd) != 0) fail("cannot write", false);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot replace", false);
}

}  // namespace qwenvl
