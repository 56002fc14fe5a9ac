// kvsched-sim end to end: JSON keys on a small slice of the bundled trace, byte-identical
// output for a seed, exit code 2 and no output file on bad input, sweeps, workload files.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "support/command.hpp"
#include "support/sim_test_util.hpp"

#ifdef KVSCHED_SIM_EXE

using kvsched::test::TempDir;

namespace {
using Run = kvsched::test::CommandResult;
using kvsched::test::slurp;
Run run_sim(const std::string& args) { return kvsched::test::run_command(std::string(KVSCHED_SIM_EXE) + " " + args); }
const char* kRequiredKeys[] = {"num_requests", "num_finished", "num_rejected", "ttft_p50_s", "ttft_p99_s",
                               "tbt_p50_s", "tbt_p99_s", "tbt_p999_s", "tbt_max_p99_s", "e2e_p99_s",
                               "ttft_slo_attainment", "tbt_slo_attainment", "goodput_rps", "throughput_tok_s",
                               "preemptions_recompute", "preemptions_swap", "recomputed_tokens", "swapped_bytes",
                               "sim_wall_s"};
}  // namespace

TEST_CASE("kvsched-sim writes config, runs and sweep with every required metric key") {
  TempDir d;
  const auto json = d.path() / "out.json";
  const auto csv = d.path() / "req.csv";
  const Run r = run_sim("-q --num-requests 40 --policy vllm_v1,sarathi --sweep-rate 2:4:2 --json " + json.string() +
                        " --requests-csv " + csv.string());
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.output, Catch::Contains("vllm_v1") && Catch::Contains("sarathi") && Catch::Contains("max rate"));
  const auto j = nlohmann::json::parse(slurp(json));
  REQUIRE(j.contains("config"));
  CHECK(j["config"]["num_requests"] == 40);
  CHECK(j["config"]["model"]["name"] == "llama2-7b");
  REQUIRE(j["runs"].size() == 2);
  CHECK(j["runs"][0]["policy"] == "vllm_v1");
  CHECK(j["runs"][1]["policy"] == "sarathi");
  for (const auto& run : j["runs"]) {
    for (const char* k : kRequiredKeys) {
      INFO(k);
      CHECK(run["metrics"].contains(k));
    }
    CHECK(run["metrics"]["num_requests"] == 40);
    CHECK(run["metrics"]["num_finished"].get<int>() + run["metrics"]["num_rejected"].get<int>() == 40);
    CHECK(run["metrics"]["sim_wall_s"].is_number());
    CHECK(run["cdf"]["ttft_s"].size() == run["cdf"]["p"].size());
    CHECK(run["per_class"].contains("chatbot"));
  }
  REQUIRE(j["sweep"].size() == 2);
  CHECK(j["sweep"][0]["points"].size() == 2);
  CHECK(j["sweep"][0]["points"][1]["rate_rps"] == 4.0);
  CHECK(j["sweep"][0].contains("max_sustainable_rate_rps"));
  const std::string rows = slurp(csv);
  CHECK(std::count(rows.begin(), rows.end(), '\n') == 1 + 2 * 40);
  CHECK(rows.rfind("policy,id,class,state,", 0) == 0);
}

TEST_CASE("kvsched-sim: same seed, byte-identical JSON") {
  TempDir d;
  const std::string args = "-q --no-wall-time --num-requests 30 --policy vllm_v1,sglang --trace " +
                           (kvsched::test::bundled_data_dir() /
                            "length_distributions_llama2_tokenizer/sharegpt_8k_filtered_stats_llama2_tokenizer.csv")
                               .string() +
                           " --rate 4 --arrival gamma --cv 2 --seed 9 --json ";
  REQUIRE(run_sim(args + (d.path() / "a.json").string()).rc == 0);
  REQUIRE(run_sim(args + (d.path() / "b.json").string()).rc == 0);
  const std::string a = slurp(d.path() / "a.json");
  CHECK(a.size() > 1000);
  CHECK(a == slurp(d.path() / "b.json"));
  CHECK(a.find("\"sim_wall_s\": null") != std::string::npos);
}

TEST_CASE("kvsched-sim: one thread and two give byte-identical JSON (runs, cluster, sweep, capacity, replicas)") {
  TempDir d;
  const std::string args =
      "-q --no-wall-time --num-requests 60 --rate-scale 10 --policy vllm_v1,sarathi,cacheopt --sweep-rate 4:8:4 --json ";
  const std::string cluster = " --replicas 2 --router least_loaded,kv_aware --find-replicas --max-replicas 4";
  for (const std::string& extra : {std::string(), cluster}) {
    INFO(extra);
    REQUIRE(run_sim(args + (d.path() / "t1.json").string() + extra + " --threads 1").rc == 0);
    REQUIRE(run_sim(args + (d.path() / "t2.json").string() + extra + " --threads 2").rc == 0);
    const std::string a = slurp(d.path() / "t1.json");
    CHECK(a.size() > 1000);
    CHECK(a == slurp(d.path() / "t2.json"));
    if (!extra.empty()) {
      const auto j = nlohmann::json::parse(a);
      CHECK(j.at("runs").size() == 6);
      CHECK(j.at("runs").at(0).at("per_replica").size() == 2);
      CHECK(j.at("capacity").size() == 6);
    }
  }
  // One run: the threads go to its replicas (ClusterOptions::threads).
  const std::string one = "-q --no-wall-time --num-requests 200 --rate-scale 20 --policy vllm_v1 --replicas 4 --json ";
  REQUIRE(run_sim(one + (d.path() / "r1.json").string() + " --threads 1").rc == 0);
  const std::string r1 = slurp(d.path() / "r1.json");
  CHECK(nlohmann::json::parse(r1).at("runs").at(0).at("per_replica").size() == 4);
  for (const char* threads : {" --threads 2", " --threads 3"}) {
    INFO(threads);
    REQUIRE(run_sim(one + (d.path() / "rn.json").string() + threads).rc == 0);
    CHECK(slurp(d.path() / "rn.json") == r1);
  }
}

TEST_CASE("kvsched-sim: a bad --router or --replicas exits 2") {
  CHECK(run_sim("-q --num-requests 5 --policy vllm_v1 --replicas 2 --router random").rc == 2);
  CHECK(run_sim("-q --num-requests 5 --policy vllm_v1 --replicas 0").rc == 2);
}

TEST_CASE("kvsched-sim: a malformed trace exits 2 naming file, line and field, and writes nothing") {
  TempDir d;
  const auto bad = d.write("bad.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n"
                                      "2023-11-16 18:15:47.00,-3,44\n");
  const auto json = d.path() / "out.json";
  const Run r = run_sim("-q --trace " + bad.string() + " --json " + json.string());
  CHECK(r.rc == 2);
  CHECK_THAT(r.output, Catch::Contains(bad.string() + ":3: field 'ContextTokens': must be >= 1, got -3"));
  CHECK_FALSE(std::filesystem::exists(json));
  const Run empty = run_sim("-q --trace " + d.write("empty.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n").string());
  CHECK(empty.rc == 2);
  CHECK_THAT(empty.output, Catch::Contains("empty trace"));
}

TEST_CASE("kvsched-sim: unknown names and bad flags exit 2 and list what is known") {
  Run r = run_sim("--policy vllm_v1,nope");
  CHECK(r.rc == 2);
  CHECK_THAT(r.output, Catch::Contains("unknown policy 'nope'") && Catch::Contains("vllm_v1") && Catch::Contains("sglang"));
  r = run_sim("--model gpt-5");
  CHECK(r.rc == 2);
  CHECK_THAT(r.output, Catch::Contains("llama2-7b"));
  r = run_sim("--gpu tpu");
  CHECK(r.rc == 2);
  CHECK_THAT(r.output, Catch::Contains("h100-80g"));
  CHECK(run_sim("--sweep-rate 5:1:1").rc == 2);
  CHECK(run_sim("--no-such-flag").rc == 2);
  CHECK(run_sim("--help").rc == 0);
}

TEST_CASE("kvsched-sim runs a TOML workload mixing two sources with their own classes") {
  TempDir d;
  const auto w = d.write("mix.toml", R"(rate = 3.0
num_requests = 40
[[sources]]
trace = "@data/azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv"
share = 3
class = "chatbot"
[[sources]]
trace = "@data/length_distributions_llama2_tokenizer/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv"
share = 1
class = "summarization"
)");
  const auto json = d.path() / "out.json";
  const Run r = run_sim("-q --policy vllm_v1 --workload " + w.string() + " --json " + json.string());
  INFO(r.output);
  REQUIRE(r.rc == 0);
  const auto j = nlohmann::json::parse(slurp(json));
  CHECK(j["config"]["slo_classes"].size() == 2);
  const auto& pc = j["runs"][0]["per_class"];
  CHECK(pc["chatbot"]["num_requests"].get<int>() + pc["summarization"]["num_requests"].get<int>() == 40);
  CHECK(pc["summarization"]["num_requests"].get<int>() > 0);
}

TEST_CASE("kvsched-sim --plot writes PNGs, or says what to install") {
  TempDir d;
  const auto dir = d.path() / "plots";
  const bool have = std::system("python3 -c 'import matplotlib' >/dev/null 2>&1") == 0 ||
                    std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0;
  const Run r = run_sim("-q --num-requests 20 --policy vllm_v1 --sweep-rate 2:4:2 --plot " + dir.string());
  INFO(r.output);
  if (have) {
    REQUIRE(r.rc == 0);
    for (const char* f : {"ttft_cdf.png", "tbt_cdf.png", "kv_usage.png", "attainment_vs_rate.png", "kvsched-sim.json"}) {
      INFO(f);
      CHECK(std::filesystem::file_size(dir / f) > 1000);
    }
  } else {
    CHECK(r.rc == 1);
    CHECK_THAT(r.output, Catch::Contains("matplotlib"));
  }
  // No usable interpreter: a clear error before any simulation, nothing written.
  const std::string cmd = "KVSCHED_PYTHON=/nonexistent/python3 " + std::string(KVSCHED_SIM_EXE) +
                          " -q --num-requests 20 --policy vllm_v1 --plot " + (d.path() / "none").string() + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_FALSE(std::filesystem::exists(d.path() / "none"));
}

TEST_CASE("kvsched-sim: --max-num-batched-tokens and --max-num-seqs reach every preset; absent, each keeps its own") {
  TempDir d;
  const auto given = d.path() / "given.json";
  const auto absent = d.path() / "absent.json";
  const std::string common = "-q --num-requests 20 --policy vllm_v1,vllm_v0,sarathi,sarathi_2048 --no-wall-time --json ";
  const Run a = run_sim(common + given.string() + " --max-num-batched-tokens 1024 --max-num-seqs 64");
  INFO(a.output);
  REQUIRE(a.rc == 0);
  const Run b = run_sim(common + absent.string());
  INFO(b.output);
  REQUIRE(b.rc == 0);
  const auto jg = nlohmann::json::parse(slurp(given));
  const auto ja = nlohmann::json::parse(slurp(absent));
  REQUIRE(jg["runs"].size() == 4);
  for (const auto& run : jg["runs"]) {
    INFO(run["policy"]);
    CHECK(run["engine"]["max_num_batched_tokens"] == 1024);
    CHECK(run["engine"]["max_num_seqs"] == 64);
  }
  CHECK(jg["config"]["engine"]["max_num_batched_tokens"] == 1024);
  CHECK(ja["config"]["engine"]["max_num_batched_tokens"].is_null());
  const auto max_model_len = ja["config"]["model"]["max_model_len"].get<int>();
  CHECK(ja["runs"][0]["engine"]["max_num_batched_tokens"] == 2048);
  CHECK(ja["runs"][1]["engine"]["max_num_batched_tokens"] == std::max(2048, max_model_len));
  CHECK(ja["runs"][2]["engine"]["max_num_batched_tokens"] == 512);
  CHECK(ja["runs"][3]["engine"]["max_num_batched_tokens"] == 2048);
  for (const auto& run : ja["runs"]) CHECK(run["engine"]["max_num_seqs"] == 256);
  // The flag changes what sarathi does (its iterations), not only what the report says.
  CHECK(jg["runs"][2]["metrics"] != ja["runs"][2]["metrics"]);
}


TEST_CASE("kvsched-sim --cpu-overhead engine: serial CPU work for vllm_v0 and sarathi, overlapped for vllm_v1") {
  TempDir d;
  const std::string common = "-q --num-requests 60 --policy vllm_v1,vllm_v0,sarathi --no-wall-time --json ";
  nlohmann::json j[3];
  const char* modes[3] = {"engine", "serial", "async"};
  for (int i = 0; i < 3; ++i) {
    const auto path = d.path() / (std::string(modes[i]) + ".json");
    const Run r = run_sim(common + path.string() + " --cpu-overhead " + modes[i]);
    INFO(r.output);
    REQUIRE(r.rc == 0);
    j[i] = nlohmann::json::parse(slurp(path));
  }
  const auto& engine = j[0]["runs"];
  const auto& serial = j[1]["runs"];
  const auto& async = j[2]["runs"];
  CHECK(engine[0]["metrics"] == async[0]["metrics"]);   // vllm_v1: async scheduling
  CHECK(engine[1]["metrics"] == serial[1]["metrics"]);  // vllm_v0: CPU work between forward passes
  CHECK(engine[2]["metrics"] == serial[2]["metrics"]);  // sarathi: likewise
  CHECK(serial[1]["metrics"] != async[1]["metrics"]);   // the mode matters at this load
  CHECK(j[0]["config"]["clock"]["cpu_overhead"] == "engine");
  const Run bad = run_sim("-q --num-requests 5 --cpu-overhead sometimes");
  CHECK(bad.rc == 2);
  CHECK_THAT(bad.output, Catch::Contains("async, serial, off or engine"));
}

TEST_CASE("kvsched-sim --gpu-memory-gib: a what-if GPU holds a pool its preset cannot; bad values exit 2") {
  TempDir d;
  const auto json = d.path() / "big.json";
  const std::string common = "-q --num-requests 20 --policy vllm_v1 --model llama2-7b --gpu a100-40g --kv-blocks 10980";
  const Run too_big = run_sim(common);  // 10,980 blocks of 16 tokens x 512 KiB = 85.8 GiB > 40 GiB
  CHECK(too_big.rc == 2);
  CHECK_THAT(too_big.output, Catch::Contains("exceeds the 40"));
  const Run ok = run_sim(common + " --gpu-memory-gib 160 --json " + json.string());
  INFO(ok.output);
  REQUIRE(ok.rc == 0);
  const auto j = nlohmann::json::parse(slurp(json));
  CHECK(j["config"]["gpu"]["memory_bytes"] == std::int64_t{160} * 1024 * 1024 * 1024);
  CHECK(j["config"]["engine"]["num_device_blocks"] == 10980);
  for (const char* bad : {"0", "-1", "nan", "1e7"}) {
    const Run r = run_sim(std::string("-q --num-requests 5 --gpu-memory-gib ") + bad);
    INFO(bad << ": " << r.output);
    CHECK(r.rc == 2);
  }
}

#else
TEST_CASE("kvsched-sim CLI tests need the examples (-DKVSCHED_BUILD_EXAMPLES=ON)") { WARN("kvsched-sim not built: skipped"); }
#endif
