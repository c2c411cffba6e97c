#include "server/api_error.h"

namespace qwenvl::server {
namespace {

std::string DefaultType(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

ApiError::ApiError(int status, std::string message, std::string param, std::string code,
                   std::string type)
    : std::runtime_error(std::move(message)),
      status_(status),
      param_(std::move(param)),
      code_(std::move(code)),
      type_(type.empty() ? DefaultType(status) : std::move(type)) {}

nlohmann::json ApiError::ToJson() const {
  nlohmann::json error = {{"message", what()}, {"type", type_}};
  error["param"] = param_.empty() ? nlohmann::json(nullptr) : nlohmann::json(param_);
  error["code"] = code_.empty() ? nlohmann::json(nullptr) : nlohmann::json(code_);
  return {{"error", error}};
}

ApiError BadRequest(const std::string& message, const std::string& param, const std::string& code) {
  return ApiError(400, message, param, code);
}

ApiError FromEngineError(const Error& error, const std::string& param) {
  switch (error.code()) {
    case ErrorCode::kOutOfRange:
      return ApiError(400, error.what(), param, "context_length_exceeded");
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kCorruptFile:
    case ErrorCode::kUnsupported:
    case ErrorCode::kIo:
      return ApiError(400, error.what(), param, ErrorCodeName(error.code()));
    case ErrorCode::kInternal:
      break;
  }
  return ApiError(500, error.what(), "", "internal_error");
}

}  // namespace qwenvl::server
