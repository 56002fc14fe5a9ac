// kvsched/sim/output_file.hpp: output files written whole or not at all.
#pragma once
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace kvsched::sim {

/// Writes `content` to `path` atomically: into "<path>.tmp" beside it, then renames it over
/// `path` (POSIX rename is atomic within a file system). On failure the temporary file is
/// removed, `path` is untouched, and std::runtime_error names the path.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(path.string() + ": cannot open for writing");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw std::runtime_error(path.string() + ": write failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error(path.string() + ": cannot replace: " + ec.message());
  }
}

}  // namespace kvsched::sim
