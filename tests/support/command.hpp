// tests/support/command.hpp: runs a shell command line for the end-to-end CLI tests and reads
// files back whole.
#pragma once
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include <catch2/catch.hpp>

namespace kvsched::test {

/// What a command line did: its exit code (-1 when it did not exit normally) and its stdout
/// and stderr together.
struct CommandResult {
  int rc;
  std::string output;
};

/// Runs `cmd` through /bin/sh with stderr joined to stdout; REQUIREs that it could start.
inline CommandResult run_command(const std::string& cmd) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// The whole content of file `p` (empty when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace kvsched::test
