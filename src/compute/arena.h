// Tensors carved out of one backend allocation. Buffers that live and die together (a forward
// pass's scratch) are listed first (ArenaPlan) and then allocated at once (Arena): one allocation
// of the backend instead of one per buffer (on a device, one allocation call per set, and a set's
// footprint known before anything runs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "compute/backend.h"

namespace qwenvl::compute {

class ArenaPlan {
 public:
  // Every tensor starts on a 64-byte boundary (16 floats): the widest vector the kernels load.
  static constexpr int64_t kAlignFloats = 16;

  // Reserves a contiguous [rows, cols] tensor; returns its slot, for Arena::operator[].
  size_t Add(int64_t rows, int64_t cols);
  size_t slots() const { return slots_.size(); }
  // Floats of the whole arena, alignment padding included.
  int64_t floats() const { return units_ * kAlignFloats; }

 private:
  friend class Arena;
  struct Slot {
    int64_t unit = 0;   // start, in kAlignFloats units
    int64_t units = 0;  // length, in kAlignFloats units
    int64_t rows = 0;
    int64_t cols = 0;
  };
  std::vector<Slot> slots_;
  int64_t units_ = 0;
};

// The tensors of a plan in one zeroed allocation of `backend`, which must outlive the arena.
// Move-only; the tensors are views, valid while the arena lives.
class Arena {
 public:
  Arena() = default;
  Arena(Backend& backend, ArenaPlan plan);

  // The tensor of the plan's slot.
  Tensor operator[](size_t slot) const;
  size_t slots() const { return plan_.slots(); }
  int64_t bytes() const { return plan_.floats() * static_cast<int64_t>(sizeof(float)); }

 private:
  ArenaPlan plan_;
  Buffer storage_;  // [units, kAlignFloats]
};

}  // namespace qwenvl::compute
