// Errors of the HTTP API in the OpenAI shape: {"error": {"message", "type", "param", "code"}}.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "qwenvl/error.h"

namespace qwenvl::server {

class ApiError : public std::runtime_error {
 public:
  // `type` as OpenAI names them: invalid_request_error, authentication_error, not_found_error,
  // rate_limit_error, server_error.
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "");
  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  nlohmann::json ToJson() const;

 private:
  int status_;
  std::string param_, code_, type_;
};

// 400 invalid_request_error naming the field.
ApiError BadRequest(const std::string& message, const std::string& param = "",
                    const std::string& code = "invalid_value");

// The HTTP form of an engine error raised while the request ran (bad picture, prompt over the
// context, ...): 400 for input problems, naming `param` (the request's input), 500 for internal
// ones.
ApiError FromEngineError(const Error& error, const std::string& param = "messages");

}  // namespace qwenvl::server
