// qwenvl::Error: every user-facing failure (bad file, config, image, prompt, request).
#pragma once

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

}  // namespace qwenvl
