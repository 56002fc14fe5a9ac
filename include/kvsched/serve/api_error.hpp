// kvsched/serve/api_error.hpp: an HTTP error in OpenAI's shape, thrown by request parsing and
// turned into a response by the routes.
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": null}}
// Source: OpenAI API reference, "Error codes"; vLLM 0.6 entrypoints/openai/protocol.py
// ErrorResponse (same four fields).
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

namespace kvsched::serve {

/// An error response: HTTP status, message, OpenAI `type`, the offending field (`param`,
/// empty = null) and an optional `code` string (empty = null).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string type = {}, std::string code = {})
      : std::runtime_error(message), status_(status), param_(std::move(param)),
        type_(type.empty() ? default_type(status) : std::move(type)), code_(std::move(code)) {}

  [[nodiscard]] int status() const { return status_; }
  [[nodiscard]] const std::string& param() const { return param_; }
  [[nodiscard]] const std::string& type() const { return type_; }
  /// The body: {"error": {"message", "type", "param", "code"}}.
  [[nodiscard]] nlohmann::json body() const {
    using nlohmann::json;
    return json{{"error",
                 {{"message", what()},
                  {"type", type_},
                  {"param", param_.empty() ? json(nullptr) : json(param_)},
                  {"code", code_.empty() ? json(nullptr) : json(code_)}}}};
  }
  /// OpenAI's type for a status: 400 invalid_request_error, 404 not_found_error, 429
  /// rate_limit_error (the queue is full), 503 service_unavailable, else server_error.
  [[nodiscard]] static std::string default_type(int status) {
    switch (status) {
      case 400: case 413: case 422: return "invalid_request_error";
      case 404: case 405: return "not_found_error";
      case 429: return "rate_limit_error";
      case 503: return "service_unavailable";
      default: return "server_error";
    }
  }

 private:
  int status_;
  std::string param_, type_, code_;
};

/// Shorthand: a 400 naming `param`.
[[nodiscard]] inline ApiError bad_request(std::string param, std::string message) {
  return ApiError(400, std::move(message), std::move(param));
}

}  // namespace kvsched::serve
