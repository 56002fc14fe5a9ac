// kvsched-sim --policy-config: presets with overrides, named runs, the full config of every run
// in --json (config.rerun), and a rerun from it giving identical metrics; bad files exit 2
// naming the file and the key.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/command.hpp"
#include "support/sim_test_util.hpp"

#ifdef KVSCHED_SIM_EXE

using kvsched::test::TempDir;
using nlohmann::json;

namespace {
using Run = kvsched::test::CommandResult;
Run run_sim(const std::string& args) { return kvsched::test::run_command(std::string(KVSCHED_SIM_EXE) + " " + args); }
json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}
void write_text(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }
json metrics_of(const json& out) {
  json m = json::object();
  for (const auto& r : out["runs"]) m[r["policy"].get<std::string>()] = r["metrics"];
  return m;
}
const std::string kSlice = "-q --no-wall-time --num-requests 150 --rate-scale 4 --kv-blocks 600 ";
}  // namespace

TEST_CASE("kvsched-sim --policy-config runs named presets with overrides and records their full configs") {
  TempDir d;
  write_text(d.path() / "p.json", R"([{"preset": "vllm_v1"},
    {"preset": "vllm_v1", "name": "v1_budget_256", "overrides": {"chunker": {"budget": 256}}}])");
  const Run r = run_sim(kSlice + "--policy-config " + (d.path() / "p.json").string() + " --json " + (d.path() / "o.json").string());
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.output, Catch::Contains("v1_budget_256"));
  const json out = read_json(d.path() / "o.json");
  REQUIRE(out["runs"].size() == 2);
  CHECK(out["runs"][1]["policy"] == "v1_budget_256");
  const json& rerun = out["config"]["rerun"];
  CHECK(rerun["policies"][1]["overrides"]["chunker"]["budget"] == 256);
  CHECK(rerun["policies"][0]["overrides"]["chunker"]["budget"] == 0);
  CHECK(rerun["policies"][0]["overrides"].contains("reserver"));
  CHECK(rerun["engine"]["num_device_blocks"] == 600);
  CHECK(rerun["latency_coeffs"].contains("cpu_overhead_s"));
  // a smaller budget changes the run (the override reached the scheduler)
  CHECK(out["runs"][0]["metrics"]["iterations"] != out["runs"][1]["metrics"]["iterations"]);
}

TEST_CASE("a run reruns from its recorded config with identical metrics") {
  TempDir d;
  write_text(d.path() / "p.json", R"([{"preset": "cacheopt", "name": "co", "overrides": {"estimator": {"padding": {"p_hi": 0.99}}}},
    {"preset": "sarathi", "overrides": {"chunker": {"budget": 1024}}}])");
  const Run first = run_sim(kSlice + "--max-num-seqs 64 --latency-json " + (d.path() / "lat.json").string() +
                            " --policy-config " + (d.path() / "p.json").string() + " --json " + (d.path() / "a.json").string());
  // (the latency file is written below; first run must fail without it)
  CHECK(first.rc == 2);
  write_text(d.path() / "lat.json", R"({"cpu_overhead_s": 0.003})");
  const Run a = run_sim(kSlice + "--max-num-seqs 64 --latency-json " + (d.path() / "lat.json").string() +
                        " --policy-config " + (d.path() / "p.json").string() + " --json " + (d.path() / "a.json").string());
  INFO(a.output);
  REQUIRE(a.rc == 0);
  const json out_a = read_json(d.path() / "a.json");
  CHECK(out_a["config"]["rerun"]["latency_coeffs"]["cpu_overhead_s"] == 0.003);
  CHECK(out_a["config"]["rerun"]["engine"]["max_num_seqs"] == 64);
  write_text(d.path() / "rerun.json", out_a["config"]["rerun"].dump());
  // same trace flags, every scheduling setting from the recorded config only
  const Run b = run_sim(kSlice + "--policy-config " + (d.path() / "rerun.json").string() + " --json " +
                        (d.path() / "b.json").string());
  INFO(b.output);
  REQUIRE(b.rc == 0);
  const json out_b = read_json(d.path() / "b.json");
  CHECK(metrics_of(out_a) == metrics_of(out_b));
  CHECK(out_a["config"]["rerun"] == out_b["config"]["rerun"]);
  // and without the config the run differs (the test can fail)
  const Run c = run_sim(kSlice + "--policy co --json " + (d.path() / "c.json").string());
  CHECK(c.rc == 2);  // "co" is a report name, not a preset
  const Run e = run_sim(kSlice + "--policy cacheopt,sarathi --json " + (d.path() / "e.json").string());
  REQUIRE(e.rc == 0);
  CHECK(metrics_of(read_json(d.path() / "e.json"))["sarathi"] != metrics_of(out_a)["sarathi"]);
}

TEST_CASE("a bad policy config exits 2 naming the file and the key") {
  TempDir d;
  auto fails_with = [&](const std::string& text, const std::string& expect) {
    write_text(d.path() / "bad.json", text);
    const Run r = run_sim(kSlice + "--policy-config " + (d.path() / "bad.json").string());
    INFO(r.output);
    CHECK(r.rc == 2);
    CHECK_THAT(r.output, Catch::Contains("bad.json") && Catch::Contains(expect));
  };
  fails_with(R"({"preset": "vllm_v1", "overrides": {"chunker": {"budgt": 1}}})", "overrides.chunker.budgt");
  fails_with(R"({"preset": "vllm_v1", "overrides": {"chunker": {"budget": "x"}}})", "expected an integer");
  fails_with(R"({"preset": "nope"})", "unknown policy 'nope'");
  fails_with(R"({"policies": [{"preset": "vllm_v1"}], "engine": {"max_num_seq": 3}})", "max_num_seq");
  fails_with(R"({"policies": [{"preset": "vllm_v1"}], "latency_coeffs": {"cpu": 3}})", "unknown key 'cpu'");
  const Run both = run_sim(kSlice + "--policy vllm_v1 --policy-config " + (d.path() / "bad.json").string());
  CHECK(both.rc == 2);
}

#endif
