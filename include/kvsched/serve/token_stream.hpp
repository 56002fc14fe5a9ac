// kvsched/serve/token_stream.hpp: the output channel of one served request.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kvsched/core/request.hpp"

namespace kvsched::serve {

/// Tokens of one request as the engine thread produces them; read by an HTTP handler thread.
/// Thread-safe. Token i carries its emission time (s since the engine started).
class TokenStream {
 public:
  /// One emitted output token.
  struct Token {
    std::int32_t index = 0;  // 0-based output position
    double time_s = 0.0;     // emission time (s, engine clock)
  };

  void push(Token t) {
    { std::lock_guard lock(mu_); tokens_.push_back(t); }
    cv_.notify_all();
  }
  /// Marks the stream ended with the request's final state (finished, aborted, rejected).
  void close(RequestState state, std::string reason = {}) {
    {
      std::lock_guard lock(mu_);
      state_ = state;
      reason_ = std::move(reason);
      closed_ = true;
    }
    cv_.notify_all();
  }
  /// Waits up to `timeout` for tokens past `next`; returns the new ones (empty on timeout or
  /// when the stream is closed and drained).
  [[nodiscard]] std::vector<Token> wait_from(std::size_t next, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return tokens_.size() > next || closed_; });
    if (tokens_.size() <= next) return {};
    return {tokens_.begin() + static_cast<std::ptrdiff_t>(next), tokens_.end()};
  }
  [[nodiscard]] bool closed() const { std::lock_guard lock(mu_); return closed_; }
  [[nodiscard]] std::size_t size() const { std::lock_guard lock(mu_); return tokens_.size(); }
  [[nodiscard]] RequestState state() const { std::lock_guard lock(mu_); return state_; }
  [[nodiscard]] std::string reason() const { std::lock_guard lock(mu_); return reason_; }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Token> tokens_;
  bool closed_ = false;
  RequestState state_ = RequestState::kWaiting;
  std::string reason_;
};

}  // namespace kvsched::serve
