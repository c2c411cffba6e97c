// Whole pages of memory, for weights that are streamed again and again: anonymous pages of their
// own, and the release of a read-only file mapping's pages once their bytes were copied elsewhere.
#pragma once

#include <cstddef>
#include <memory>

namespace qwenvl {

// `bytes` of zeroed anonymous memory, page-aligned, with transparent huge pages asked for (advice
// only: fewer TLB misses while streaming). Freed when the last owner goes. Throws Error(kIo) when
// the memory cannot be had.
std::shared_ptr<void> AllocatePages(size_t bytes);

// The same memory owned by the caller, who gives it back with UnmapPages(p, bytes).
void* MapPages(size_t bytes);
void UnmapPages(void* p, size_t bytes);

// Drops the pages wholly inside [data, data + bytes) from this process's resident memory. The
// range must lie in a read-only file mapping: a later access re-reads the pages from the page
// cache. Advice only: on failure the pages stay resident.
void ReleaseFilePages(const void* data, size_t bytes);

}  // namespace qwenvl
