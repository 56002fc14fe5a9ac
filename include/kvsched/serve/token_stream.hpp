// kvsched/serve/token_stream.hpp: the output channel of one served request, written by the
// engine thread and read by the request's HTTP handler thread.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

namespace kvsched::serve {

/// How a request ended: OpenAI's finish_reason "stop" (EOS or a stop string) and "length"
/// (max_tokens), and two of vLLM's: "abort" (client gone, server stopping) and "error"
/// (rejected by the scheduler, or the executor failed; see TokenStream::error()).
enum class FinishReason : std::uint8_t { kNone, kStop, kLength, kAbort, kError };

[[nodiscard]] constexpr const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "none";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kError: return "error";
  }
  return "?";
}

/// Text of one request as it is generated. Thread-safe. The engine appends published text
/// (whole UTF-8 characters, stop strings cut) and counts tokens; the reader polls with
/// wait_for() and keeps its own offsets.
class TokenStream {
 public:
  /// What a reader sees at one moment.
  struct Snapshot {
    std::string text;                 // all published text so far (bytes)
    std::int32_t completion_tokens = 0;
    bool closed = false;
    FinishReason finish = FinishReason::kNone;
    std::string error;                // why, for kError / kAbort
    std::uint64_t version = 0;        // bumps on every change
  };

  explicit TokenStream(std::int32_t prompt_tokens = 0) : prompt_tokens_(prompt_tokens) {}

  [[nodiscard]] std::int32_t prompt_tokens() const { return prompt_tokens_; }

  /// Appends published text and the number of tokens generated so far.
  void publish(const std::string& delta, std::int32_t completion_tokens) {
    {
      std::lock_guard lock(mu_);
      s_.text += delta;
      s_.completion_tokens = completion_tokens;
      ++s_.version;
    }
    cv_.notify_all();
  }
  /// Ends the stream. Later calls are ignored.
  void close(FinishReason finish, std::string error = {}) {
    {
      std::lock_guard lock(mu_);
      if (s_.closed) return;
      s_.closed = true;
      s_.finish = finish;
      s_.error = std::move(error);
      ++s_.version;
    }
    cv_.notify_all();
  }
  /// Waits up to `timeout` for a version newer than `seen`, then returns the current state.
  [[nodiscard]] Snapshot wait_for(std::uint64_t seen, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return s_.version != seen; });
    return s_;
  }
  [[nodiscard]] Snapshot snapshot() const { std::lock_guard lock(mu_); return s_; }
  [[nodiscard]] bool closed() const { std::lock_guard lock(mu_); return s_.closed; }

 private:
  const std::int32_t prompt_tokens_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Snapshot s_;
};

}  // namespace kvsched::serve
