// Bounds on the work and memory one render may use, so hostile templates (exponential string
// doubling, huge ranges, nested loops) fail with qwenvl::Error instead of exhausting the machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "text/jinja_error.h"

namespace qwenvl::text::jinja {

struct RenderLimits {
  size_t max_output_bytes = size_t{64} << 20;  // the rendered text, and any single string built
  size_t max_items = size_t{1} << 20;          // elements of any list, dict or range built
  uint64_t max_steps = 50'000'000;             // statements + loop iterations + calls, in total
};

class Budget {
 public:
  explicit Budget(const RenderLimits& limits) : limits_(limits) {}

  void Step(int line) {
    if (++steps_ > limits_.max_steps) {
      ThrowAt(ErrorCode::kOutOfRange, line,
              "render exceeds " + std::to_string(limits_.max_steps) + " steps");
    }
  }
  size_t max_string() const { return limits_.max_output_bytes; }
  void CheckString(size_t size, int line) const {
    if (size > limits_.max_output_bytes) {
      ThrowAt(ErrorCode::kOutOfRange, line,
              "string of " + std::to_string(size) + " bytes exceeds the limit of " +
                  std::to_string(limits_.max_output_bytes));
    }
  }
  void CheckItems(size_t count, int line) const {
    if (count > limits_.max_items) {
      ThrowAt(ErrorCode::kOutOfRange, line,
              "collection of " + std::to_string(count) + " items exceeds the limit of " +
                  std::to_string(limits_.max_items));
    }
  }

 private:
  RenderLimits limits_;
  uint64_t steps_ = 0;
};

}  // namespace qwenvl::text::jinja
