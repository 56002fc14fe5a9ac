// kvsched-sim under adversarial command lines (issue 14): output files never replace a device,
// symlink or FIFO and never overwrite an input; output paths are checked before the run;
// bad values exit 2 with a clear message instead of hanging or giving wrong results.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "support/command.hpp"
#include "support/sim_test_util.hpp"

#ifdef KVSCHED_SIM_EXE

using kvsched::test::TempDir;

namespace {
using Run = kvsched::test::CommandResult;
using kvsched::test::slurp;
/// Runs a shell command line; `{sim}` stands for the binary with the bundled data and -q.
Run sh(std::string cmd) {
  const std::string sim = std::string(KVSCHED_SIM_EXE) + " --data-dir " + kvsched::test::bundled_data_dir().string() + " -q";
  for (auto at = cmd.find("{sim}"); at != std::string::npos; at = cmd.find("{sim}")) cmd.replace(at, 5, sim);
  return kvsched::test::run_command(cmd);
}
Run sim(const std::string& args) { return sh("{sim} --policy vllm_v1 " + args); }
/// A run that never started simulating prints no table header line.
bool ran(const Run& r) { return r.output.find("requests over") != std::string::npos; }
constexpr const char* kSmall = "--num-requests 5 ";
}  // namespace

TEST_CASE("cli: --json through a symlink writes its target in place; the symlink stays", "[reliability][cli]") {
  TempDir d;
  const auto target = d.write("target.json", "old");
  const auto link = d.path() / "link.json";
  std::filesystem::create_symlink(target, link);
  const Run r = sim(kSmall + std::string("--json ") + link.string());
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(std::filesystem::is_symlink(link));
  CHECK(slurp(target).find("\"runs\"") != std::string::npos);
}

TEST_CASE("cli: --json to a character device or FIFO writes in place and never replaces it", "[reliability][cli]") {
  TempDir d;
  if (::geteuid() == 0) {  // as root the old rename replaced device nodes: use a private one
    const auto dev = d.path() / "null";
    REQUIRE(::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    const Run r = sim(kSmall + std::string("--json ") + dev.string());
    INFO(r.output);
    CHECK(r.rc == 0);
    struct stat st {};
    REQUIRE(::lstat(dev.c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
  }
  const auto fifo = d.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto got = d.path() / "got.json";
  const Run r = sh("timeout 30 cat " + fifo.string() + " > " + got.string() + " & {sim} --policy vllm_v1 " + kSmall + "--json " +
                   fifo.string() + "; rc=$?; wait; exit $rc");
  INFO(r.output);
  CHECK(r.rc == 0);
  struct stat st {};
  REQUIRE(::lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK(slurp(got).find("\"runs\"") != std::string::npos);
}

TEST_CASE("cli: an output that is an input, or two outputs to one path, are refused before the run", "[reliability][cli]") {
  TempDir d;
  const auto trace = d.write("t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,8,4\n1,8,4\n");
  const std::string before = slurp(trace);
  Run r = sim("--trace " + trace.string() + " --json " + trace.string());
  INFO(r.output);
  CHECK(r.rc == 2);
  CHECK_FALSE(ran(r));
  CHECK_THAT(r.output, Catch::Contains("is an input"));
  CHECK(slurp(trace) == before);
  // A hard link to the input is the same file.
  const auto hard = d.path() / "hard.csv";
  std::filesystem::create_hard_link(trace, hard);
  r = sim("--trace " + trace.string() + " --requests-csv " + hard.string());
  CHECK(r.rc == 2);
  CHECK(slurp(trace) == before);
  const auto out = d.path() / "o.json";
  r = sim(kSmall + std::string("--json ") + out.string() + " --requests-csv " + (d.path() / "." / "o.json").string());
  CHECK(r.rc == 2);
  CHECK_FALSE(ran(r));
  CHECK_THAT(r.output, Catch::Contains("same path"));
  CHECK_FALSE(std::filesystem::exists(out));
}

TEST_CASE("cli: --json to a directory, --plot under a file, an unwritable folder: exit 2 before the run", "[reliability][cli]") {
  TempDir d;
  Run r = sim(kSmall + std::string("--json ") + d.path().string());
  INFO(r.output);
  CHECK(r.rc == 2);
  CHECK_FALSE(ran(r));
  CHECK_THAT(r.output, Catch::Contains("is a directory"));
  CHECK(r.output.find("Success") == std::string::npos);
  const auto file = d.write("plain", "x");
  r = sim(kSmall + std::string("--plot ") + (file / "plots").string());
  CHECK(r.rc == 2);
  CHECK_FALSE(ran(r));
  r = sim(kSmall + std::string("--plot ") + file.string());
  CHECK(r.rc == 2);
  CHECK_FALSE(ran(r));
  r = sim(kSmall + std::string("--json ") + (d.path() / "no" / "such" / "dir.json").string());
  CHECK(r.rc == 2);
  CHECK_FALSE(ran(r));
}

TEST_CASE("cli: values that hung or gave wrong results exit 2 with a clear message", "[reliability][cli]") {
  TempDir d;
  const auto lengths = d.write("l.csv", "num_prefill_tokens,num_decode_tokens\n8,4\n8,4\n8,4\n");
  struct Case {
    std::string args, says;
  };
  const std::vector<Case> cases = {
      {"--trace " + lengths.string() + " --rate 1 --arrival gamma --cv 1e-200", "cv"},
      {"--trace " + lengths.string() + " --rate 1 --arrival gamma --cv 1e200", "cv"},
      {"--num-requests 100 --rate 1e-320", "rate"},
      {"--num-requests 100 --rate 1e-310", "rate"},
      {"--num-requests 100 --rate inf", "rate"},
      {"--num-requests -1", "--num-requests"},
      {"--num-requests 5 --kv-blocks 2147483647", "exceeds"},
      {"--num-requests 5 --swap-space 1e12", "host blocks"},
      {"--trace /dev/zero", "line"},
  };
  for (const auto& c : cases) {
    const Run r = sh("timeout 60 {sim} --policy vllm_v1 " + c.args);
    INFO(c.args << "\n" << r.output);
    CHECK(r.rc == 2);
    CHECK_THAT(r.output, Catch::Contains(c.says));
  }
}

TEST_CASE("cli: --policy without a value lists the presets", "[reliability][cli]") {
  const Run r = sh("{sim} --policy");
  INFO(r.output);
  CHECK(r.rc == 2);
  CHECK_THAT(r.output, Catch::Contains("vllm_v1") && Catch::Contains("cacheopt"));
}

TEST_CASE("cli: JSON 1e999 and negative latency coefficients exit 2 naming the file", "[reliability][cli]") {
  TempDir d;
  const auto wl = d.write("w.json", R"({"rate": 1e999, "sources": [{"trace": "@data/azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv"}]})");
  Run r = sim("--workload " + wl.string());
  INFO(r.output);
  CHECK(r.rc == 2);
  CHECK_THAT(r.output, Catch::Contains("w.json"));
  const auto lj = d.write("lat.json", R"({"linear_base_s": -0.5})");
  r = sim(kSmall + std::string("--latency-json ") + lj.string());
  CHECK(r.rc == 2);
  CHECK_THAT(r.output, Catch::Contains("linear_base_s"));
}

#endif  // KVSCHED_SIM_EXE
