#include "util/error.h"

namespace qwenvl {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kCorruptFile:
      return "corrupt_file";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kOutOfRange:
      return "out_of_range";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

void CheckFailed(const char* file, int line, const char* expr) {
  std::fprintf(stderr, "qwenvl: internal check failed at %s:%d: %s\n", file, line, expr);
  std::abort();
}

}  // namespace qwenvl
