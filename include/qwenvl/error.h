// qwenvl::Error: every user-facing failure (bad file, config, image, prompt, request).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

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
  // `field`: the request setting the error is about, as "media[K].NAME" (K: the media item in
  // prompt order, NAME: its Media member, e.g. "media[0].total_pixels"), so that a front end can
  // name its own flag or JSON field; empty when no one setting is to blame.
  Error(ErrorCode code, const std::string& message, std::string field)
      : std::runtime_error(message), code_(code), field_(std::move(field)) {}
  ErrorCode code() const { return code_; }
  const std::string& field() const { return field_; }

 private:
  ErrorCode code_;
  std::string field_;
};

}  // namespace qwenvl
