// kvsched/sim/data_dir.hpp: where the bundled traces and GPU profiles are (the repo's data/).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace kvsched::sim {

/// The environment variable `name` when it is set and not empty, else `fallback`.
[[nodiscard]] inline std::filesystem::path env_path_or(const char* name, std::filesystem::path fallback) {
  if (const char* env = std::getenv(name); env != nullptr && *env != '\0') return env;
  return fallback;
}

/// The data folder: `flag` if given (kvsched-sim --data-dir), else the environment variable
/// KVSCHED_DATA_DIR, else the compile definition KVSCHED_DATA_DIR (the source tree's data/,
/// set by CMake for target kvsched::sim), else "data" relative to the working directory.
[[nodiscard]] inline std::filesystem::path resolve_data_dir(const std::optional<std::filesystem::path>& flag = std::nullopt) {
  if (flag && !flag->empty()) return *flag;
#ifdef KVSCHED_DATA_DIR
  return env_path_or("KVSCHED_DATA_DIR", KVSCHED_DATA_DIR);
#else
  return env_path_or("KVSCHED_DATA_DIR", "data");
#endif
}

}  // namespace kvsched::sim
