// tests/support/sim_test_util.hpp: helpers for the simulator tests (temp files, data paths).
#pragma once
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

#include "kvsched/sim/data_dir.hpp"

namespace kvsched::test {

/// A fresh temporary folder, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("kvsched_sim_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// Writes `content` to a file in the folder; returns its path.
  std::filesystem::path write(const std::string& name, std::string_view content) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::filesystem::path path_;
};

/// The bundled data folder (the repo's data/, see kvsched/sim/data_dir.hpp).
[[nodiscard]] inline std::filesystem::path bundled_data_dir() { return kvsched::sim::resolve_data_dir(); }

}  // namespace kvsched::test
