// qwenvl::Error: every user-facing failure (bad file, config, image, prompt, request).
// Caught only at the CLI (exit code) and the server (4xx/5xx JSON). QWENVL_CHECK guards programmer
// invariants and is never used to validate input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace qwenvl {

enum class ErrorCode {
  kInvalidArgument,  // a bad option, request field or message list
  kNotFound,         // a missing file, tensor or key
  kCorruptFile,      // a file whose content is malformed or contradicts itself
  kUnsupported,      // a valid input the engine does not handle (dtype, codec, template construct)
  kOutOfRange,       // a limit exceeded: context length, pixel budget, body size
  kIo,               // the operating system refused (open, read, mmap)
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);

}  // namespace qwenvl

#define QWENVL_CHECK(cond)                                         \
  do {                                                             \
    if (!(cond)) ::qwenvl::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)

#ifdef NDEBUG
#define QWENVL_DCHECK(cond) \
  do {                      \
  } while (0)
#else
#define QWENVL_DCHECK(cond) QWENVL_CHECK(cond)
#endif
