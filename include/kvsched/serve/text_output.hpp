// kvsched/serve/text_output.hpp: the generated text of one request as tokens arrive: stop
// strings cut it (OpenAI: the returned text excludes the stop sequence), and the publishable
// part ends on a whole UTF-8 character and before any possible start of a stop string.
#pragma once
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kvsched::serve {

/// Length of the longest prefix of `s` that does not end inside a multi-byte UTF-8 sequence
/// still missing bytes. Invalid bytes count as whole characters (JSON output replaces them).
[[nodiscard]] inline std::size_t complete_utf8_prefix(std::string_view s) {
  const std::size_t n = s.size();
  for (std::size_t back = 1; back <= std::min<std::size_t>(3, n); ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

/// Generated text with stop strings. Not thread-safe.
class TextOutput {
 public:
  explicit TextOutput(std::vector<std::string> stop = {}) : stop_(std::move(stop)) {
    for (const auto& s : stop_) hold_ = std::max(hold_, s.size() - 1);
  }
  /// Appends one token's bytes; returns true when a stop string appeared (the text is then
  /// cut before it and stopped() stays true; later appends are ignored).
  bool append(std::string_view bytes) {
    if (stopped_) return true;
    const std::size_t from = text_.size() > hold_ ? text_.size() - hold_ : 0;
    text_ += bytes;
    std::size_t cut = std::string::npos;
    for (const auto& s : stop_) cut = std::min(cut, text_.find(s, from));
    if (cut != std::string::npos) {
      text_.resize(cut);
      stopped_ = true;
    }
    return stopped_;
  }
  [[nodiscard]] bool stopped() const { return stopped_; }
  [[nodiscard]] const std::string& text() const { return text_; }
  /// Bytes safe to publish now: everything once `final`, else up to the last whole
  /// character, holding back what could still become the start of a stop string.
  [[nodiscard]] std::size_t publishable(bool final) const {
    if (final || stopped_) return text_.size();
    const std::size_t n = text_.size() > hold_ ? text_.size() - hold_ : 0;
    return complete_utf8_prefix(std::string_view(text_).substr(0, n));
  }

 private:
  std::vector<std::string> stop_;
  std::size_t hold_ = 0;
  std::string text_;
  bool stopped_ = false;
};

}  // namespace kvsched::serve
