// tests/source_dir.hpp: where the tests find the repository (and its data/ folder).
#pragma once
#include <cstdlib>
#include <filesystem>

namespace kvsched::test {

/// Repository root: $KVSCHED_SOURCE_DIR (set by ctest), else the directory above this file's
/// tests/ folder (CMake compiles with absolute source paths, so __FILE__ is absolute).
inline std::filesystem::path source_dir() {
  if (const char* env = std::getenv("KVSCHED_SOURCE_DIR"); env != nullptr && *env != '\0') return env;
  return std::filesystem::path(__FILE__).parent_path().parent_path();
}
/// The bundled data folder, <root>/data.
inline std::filesystem::path data_dir() { return source_dir() / "data"; }

}  // namespace kvsched::test
