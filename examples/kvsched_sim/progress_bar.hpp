// examples/kvsched_sim/progress_bar.hpp: a one-line progress bar on stderr, drawn only when
// stderr is a terminal.
#pragma once
#include <cstdio>
#include <string>

#include <fmt/core.h>
#include <unistd.h>

namespace kvsched::sim_cli {

/// Redraws "label [#####.....] 45% (done/total)" in place on stderr; silent unless stderr is
/// a terminal and enabled. finish() clears the line.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : on_(enabled && ::isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(const std::string& label, std::size_t done, std::size_t total) {
    if (!on_ || total == 0) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(static_cast<double>(kWidth) * static_cast<double>(done) / static_cast<double>(total));
    fmt::print(stderr, "\r{:<28.28} [{}{}] {:3d}% ({}/{})", label, std::string(static_cast<std::size_t>(filled), '#'),
               std::string(static_cast<std::size_t>(kWidth - filled), '.'),
               static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)), done, total);
    std::fflush(stderr);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) fmt::print(stderr, "\r{:80}\r", "");
    std::fflush(stderr);
    drawn_ = false;
  }

 private:
  bool on_ = false;
  bool drawn_ = false;
};

}  // namespace kvsched::sim_cli
