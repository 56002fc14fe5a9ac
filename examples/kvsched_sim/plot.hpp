// examples/kvsched_sim/plot.hpp: kvsched-sim --plot runs scripts/plot_sim.py (matplotlib).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace kvsched::sim_cli {

/// The plot script: env KVSCHED_PLOT_SCRIPT, else the source tree's scripts/plot_sim.py
/// (compile definition KVSCHED_PLOT_SCRIPT).
[[nodiscard]] inline std::filesystem::path plot_script() {
  if (const char* env = std::getenv("KVSCHED_PLOT_SCRIPT"); env != nullptr && *env != '\0') return env;
#ifdef KVSCHED_PLOT_SCRIPT
  return KVSCHED_PLOT_SCRIPT;
#else
  return "scripts/plot_sim.py";
#endif
}

/// Single-quotes a string for /bin/sh.
[[nodiscard]] inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

/// Checks that the script exists and that python3 can import matplotlib. Throws
/// std::runtime_error saying what to install otherwise.
inline void check_plotting_available() {
  const auto script = plot_script();
  if (!std::filesystem::exists(script)) {
    throw std::runtime_error("--plot: plot script " + script.string() + " not found (set KVSCHED_PLOT_SCRIPT)");
  }
  if (std::system("command -v python3 >/dev/null 2>&1") != 0) {
    throw std::runtime_error("--plot needs python3, which was not found (Debian: apt-get install python3 python3-matplotlib)");
  }
  if (std::system("python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
    throw std::runtime_error("--plot needs matplotlib for python3, which failed to import (Debian: apt-get install python3-matplotlib)");
  }
}

/// Runs the plot script on a kvsched-sim JSON file, writing PNGs into dir. Throws
/// std::runtime_error when it fails.
inline void run_plot(const std::filesystem::path& json, const std::filesystem::path& dir) {
  const std::string cmd = "python3 " + shell_quote(plot_script().string()) + " " + shell_quote(json.string()) + " " +
                          shell_quote(dir.string());
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("--plot: " + cmd + " failed");
}

}  // namespace kvsched::sim_cli
