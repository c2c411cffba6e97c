#include "compute/arena.h"

#include <utility>

#include "util/error.h"

namespace qwenvl::compute {

size_t ArenaPlan::Add(int64_t rows, int64_t cols) {
  QWENVL_CHECK(rows >= 0 && cols >= 0);
  const int64_t units = (rows * cols + kAlignFloats - 1) / kAlignFloats;
  slots_.push_back(Slot{.unit = units_, .units = units, .rows = rows, .cols = cols});
  units_ += units;
  return slots_.size() - 1;
}

Arena::Arena(Backend& backend, ArenaPlan plan)
    : plan_(std::move(plan)), storage_(backend.Allocate(plan_.units_, ArenaPlan::kAlignFloats)) {}

Tensor Arena::operator[](size_t slot) const {
  QWENVL_CHECK(slot < plan_.slots_.size());
  const ArenaPlan::Slot& s = plan_.slots_[slot];
  // Rows of the [units, kAlignFloats] storage are contiguous, so the slot's units read as one run
  // of floats; its first rows · cols floats are the tensor.
  return storage_.Rows(s.unit, s.units).Prefix(s.rows, s.cols);
}

}  // namespace qwenvl::compute
