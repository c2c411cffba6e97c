// How a generation endpoint words its answer. Every API the server speaks (OpenAI's chunks in
// server-sent events, ollama's newline-delimited JSON objects) submits, waits, streams, cancels
// and drains the same way (chat_handler.h); only the bytes it writes differ, and those come from
// an AnswerWriter.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "qwenvl/engine.h"
#include "server/api_error.h"

namespace qwenvl::server {

class AnswerWriter {
 public:
  virtual ~AnswerWriter() = default;
  // The response body of a request that did not ask for a stream.
  virtual nlohmann::json Whole(const Result& result) = 0;
  // The Content-Type of a stream.
  virtual std::string_view stream_type() const = 0;
  // A stream's bytes: what opens it (before any text; may be empty), a piece of answer text, the
  // end of a finished answer, and an error that ends the stream early (an engine error after the
  // stream began, or the drain). The end and the error are the last bytes of the stream.
  virtual std::string StreamBegin() = 0;
  virtual std::string StreamText(std::string_view text) = 0;
  virtual std::string StreamEnd(const Result& result) = 0;
  virtual std::string StreamError(const ApiError& error) = 0;
};

}  // namespace qwenvl::server
