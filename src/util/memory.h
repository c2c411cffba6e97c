// Process memory: handing freed heap memory back to the operating system, and the resident-set
// figures Linux reports for this process (for tests and measurements).
#pragma once

#include <cstdint>

namespace qwenvl {

// Returns the allocator's free pages to the operating system (glibc's malloc_trim(0)). glibc keeps
// freed chunks below its mmap threshold in its arenas, so without this a request that decoded
// hundreds of megabytes of pixels leaves the process that much larger afterwards. A no-op where the
// C library has no such call.
void ReleaseFreeMemory();

// Resident set size now and its high-water mark since the start or the last ResetPeakResident, in
// bytes, from /proc/self/status; -1 where that file or the field is not available.
int64_t ResidentBytes();
// The machine's physical memory in bytes (sysconf); -1 if unknown.
int64_t PhysicalMemoryBytes();
int64_t PeakResidentBytes();

// Sets the high-water mark back to the current resident size (writes "5" to
// /proc/self/clear_refs). Returns false where the kernel does not allow it.
bool ResetPeakResident();

}  // namespace qwenvl
