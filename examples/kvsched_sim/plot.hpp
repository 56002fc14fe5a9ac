// examples/kvsched_sim/plot.hpp: kvsched-sim --plot runs scripts/plot_sim.py (matplotlib).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvsched/sim/data_dir.hpp"

namespace kvsched::sim_cli {

/// The plot script: env KVSCHED_PLOT_SCRIPT, else the source tree's scripts/plot_sim.py
/// (compile definition KVSCHED_PLOT_SCRIPT).
[[nodiscard]] inline std::filesystem::path plot_script() {
#ifdef KVSCHED_PLOT_SCRIPT
  return sim::env_path_or("KVSCHED_PLOT_SCRIPT", KVSCHED_PLOT_SCRIPT);
#else
  return sim::env_path_or("KVSCHED_PLOT_SCRIPT", "scripts/plot_sim.py");
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

/// The Python interpreter that can import matplotlib: env KVSCHED_PYTHON if set, else the
/// first of "python3" on PATH and /usr/bin/python3 (Debian's python3-matplotlib installs for
/// the latter; a pyenv or venv python3 earlier on PATH may lack it). Throws
/// std::runtime_error saying what to install when none can, or when the script is missing.
[[nodiscard]] inline std::string find_plot_python() {
  const auto script = plot_script();
  if (!std::filesystem::exists(script)) {
    throw std::runtime_error("--plot: plot script " + script.string() + " not found (set KVSCHED_PLOT_SCRIPT)");
  }
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("KVSCHED_PYTHON"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  } else {
    candidates = {"python3", "/usr/bin/python3"};
  }
  bool any_python = false;
  for (const auto& py : candidates) {
    if (std::system(("command -v " + shell_quote(py) + " >/dev/null 2>&1").c_str()) != 0) continue;
    any_python = true;
    if (std::system((shell_quote(py) + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) == 0) return py;
  }
  if (!any_python) {
    throw std::runtime_error("--plot needs python3, which was not found (Debian: apt-get install python3 python3-matplotlib)");
  }
  throw std::runtime_error(
      "--plot needs matplotlib, which no python3 could import (Debian: apt-get install python3-matplotlib; "
      "or set KVSCHED_PYTHON to an interpreter that has it)");
}

/// Runs the plot script with `python` on a kvsched-sim JSON file, writing PNGs into dir.
/// Throws std::runtime_error when it fails.
inline void run_plot(const std::string& python, const std::filesystem::path& json, const std::filesystem::path& dir) {
  const std::string cmd = shell_quote(python) + " " + shell_quote(plot_script().string()) + " " +
                          shell_quote(json.string()) + " " + shell_quote(dir.string());
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("--plot: " + cmd + " failed");
}

}  // namespace kvsched::sim_cli
