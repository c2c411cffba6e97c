#include "util/pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "util/error.h"

namespace qwenvl {

void* MapPages(size_t bytes) {
  if (bytes == 0) bytes = 1;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw Error(ErrorCode::kIo, "cannot allocate " + std::to_string(bytes) + " bytes of memory");
  }
  ::madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

void UnmapPages(void* p, size_t bytes) { ::munmap(p, bytes == 0 ? 1 : bytes); }

std::shared_ptr<void> AllocatePages(size_t bytes) {
  return std::shared_ptr<void>(MapPages(bytes), [bytes](void* q) { UnmapPages(q, bytes); });
}

void ReleaseFilePages(const void* data, size_t bytes) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + bytes) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace qwenvl
