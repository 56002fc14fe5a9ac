// Policy configs as JSON (presets/config_json.hpp, presets/policy_json.hpp): every preset's
// bundle config round-trips, overrides reach the policies, and bad input names its key.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "kvsched/latency/latency_model.hpp"
#include "kvsched/presets/config_json.hpp"
#include "kvsched/presets/registry.hpp"

using kvsched::preset_config;
using nlohmann::json;

namespace {
std::string error_of(const json& overrides, const std::string& preset = "cacheopt") {
  try {
    (void)preset_config(preset, overrides);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("every preset's full config reads back as the same config") {
  for (const auto& name : kvsched::preset_names()) {
    INFO(name);
    const json full = preset_config(name);
    REQUIRE(full.is_object());
    CHECK(full.contains("estimator"));
    CHECK(full.contains("options"));
    CHECK(preset_config(name, full) == full);
    CHECK(json::parse(full.dump()) == full);  // survives text (doubles round-trip)
  }
}

TEST_CASE("overrides change only the fields they name") {
  const json base = preset_config("sarathi");
  const json changed = preset_config("sarathi", {{"chunker", {{"budget", 1024}}}, {"reserver", {{"watermark", 0.05}}}});
  CHECK(changed["chunker"]["budget"] == 1024);
  CHECK(changed["reserver"]["watermark"] == 0.05);
  json expected = base;
  expected["chunker"]["budget"] = 1024;
  expected["reserver"]["watermark"] = 0.05;
  CHECK(changed == expected);

  const json c = preset_config("cacheopt", {{"estimator", {{"padding", {{"range", "full"}, {"p_hi", 0.99}}}}},
                                            {"rules", {{"reserve", {{"enabled", false}}}}}});
  CHECK(c["estimator"]["padding"]["range"] == "full");
  CHECK(c["estimator"]["padding"]["p_hi"] == 0.99);
  CHECK(c["rules"]["reserve"]["enabled"] == false);
  CHECK(preset_config("cacheopt")["estimator"]["padding"]["range"] == "under_only");
}

TEST_CASE("an override reaches the scheduler: a token budget of 64 caps every plan") {
  kvsched::EngineConfig e;
  e.num_device_blocks = 512;
  const kvsched::LatencyModel lm;
  auto s = kvsched::make_scheduler("vllm_v1", e, lm, json{{"chunker", {{"budget", 64}}}}, "small");
  CHECK(s->name() == "small");
  kvsched::RequestSpec spec;
  spec.id = 0;
  spec.prompt_tokens = 1000;
  spec.max_tokens = 4;
  s->add_request(spec);
  const auto& plan = s->schedule(0.0);
  REQUIRE(plan.scheduled.size() == 1);
  CHECK(plan.scheduled[0].num_tokens == 64);
}

TEST_CASE("an unknown key is an error naming its path and the known keys") {
  const auto msg = error_of({{"chunker", {{"budgt", 5}}}}, "vllm_v1");
  CHECK(msg.find("overrides.chunker.budgt") != std::string::npos);
  CHECK(msg.find("unknown key") != std::string::npos);
  CHECK(msg.find("budget") != std::string::npos);
  CHECK(error_of({{"nonsense", 1}}).find("overrides.nonsense") != std::string::npos);
}

TEST_CASE("a wrong type is an error naming the key") {
  CHECK(error_of({{"chunker", {{"budget", "512"}}}}, "sarathi").find("overrides.chunker.budget: expected an integer") !=
        std::string::npos);
  CHECK(error_of({{"chunker", {{"budget", 1.5}}}}, "sarathi").find("expected an integer") != std::string::npos);
  CHECK(error_of({{"chunker", {{"budget", 1e12}}}}, "sarathi").find("overrides.chunker.budget") != std::string::npos);
  CHECK(error_of({{"chunker", {{"chunked_prefill", 1}}}}, "sarathi").find("expected true or false") != std::string::npos);
  CHECK(error_of({{"mode", {{"rule", "fast"}}}}).find("overrides.mode.rule: expected one of") != std::string::npos);
  CHECK(error_of({{"queue", 3}}).find("overrides.queue: expected an object") != std::string::npos);
  CHECK(error_of({{"prefix_caching", false}}).find("fixed by the preset") != std::string::npos);
}

TEST_CASE("policy config files: one, a list, a run config; errors name the file and key") {
  const auto dir = std::filesystem::temp_directory_path() / "kvsched_test_config_json";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    const auto p = dir / name;
    std::ofstream(p) << text;
    return p;
  };
  auto one = kvsched::read_run_config_file(write("one.json", R"({"preset": "sarathi", "overrides": {"chunker": {"budget": 256}}})"));
  REQUIRE(one.policies.size() == 1);
  CHECK(one.policies[0].name == "sarathi");
  CHECK(one.policies[0].overrides["chunker"]["budget"] == 256);

  auto list = kvsched::read_run_config_file(
      write("list.json", R"([{"preset": "vllm_v1"}, {"preset": "vllm_v1", "name": "v1_small", "overrides": {"chunker": {"budget": 64}}}])"));
  REQUIRE(list.policies.size() == 2);
  CHECK(list.policies[1].name == "v1_small");

  auto run = kvsched::read_run_config_file(
      write("run.json", R"({"policies": [{"preset": "cacheopt"}], "engine": {"max_num_seqs": 8}, "latency_coeffs": {"cpu_overhead_s": 0.001}})"));
  CHECK(run.engine["max_num_seqs"] == 8);
  CHECK(run.latency_coeffs["cpu_overhead_s"] == 0.001);

  auto message = [&](const std::string& name, const std::string& text) -> std::string {
    try {
      (void)kvsched::read_run_config_file(write(name, text));
    } catch (const kvsched::io::InputError& e) {
      return e.what();
    }
    return "";
  };
  const auto bad_key = message("bad_key.json", R"([{"preset": "vllm_v1"}, {"preset": "sarathi", "overrides": {"queue": {"fifo": true}}}])");
  CHECK(bad_key.find("bad_key.json") != std::string::npos);
  CHECK(bad_key.find("[1].overrides.queue.fifo") != std::string::npos);
  const auto bad_type = message("bad_type.json", R"({"preset": "sglang", "overrides": {"reserver": {"init_ratio": "high"}}})");
  CHECK(bad_type.find("bad_type.json") != std::string::npos);
  CHECK(bad_type.find("overrides.reserver.init_ratio") != std::string::npos);
  CHECK(message("unknown.json", R"({"preset": "vllm_v9"})").find("unknown policy 'vllm_v9'") != std::string::npos);
  CHECK(message("syntax.json", R"({"preset": )").find("syntax.json: JSON syntax error at byte") != std::string::npos);
  CHECK(message("dup.json", R"([{"preset": "vllm_v1"}, {"preset": "vllm_v1"}])").find("duplicate policy name") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("EngineConfig reads and writes JSON strictly") {
  kvsched::EngineConfig e;
  e.num_device_blocks = 100;
  e.max_num_seqs = 7;
  const json j = kvsched::engine_config_to_json(e);
  CHECK(j["max_num_seqs"] == 7);
  const auto back = kvsched::engine_config_from_json(j);
  CHECK(kvsched::engine_config_to_json(back) == j);
  CHECK_THROWS_WITH(kvsched::engine_config_from_json({{"blocksize", 16}}, e), Catch::Contains("blocksize: unknown key"));
  CHECK_THROWS_WITH(kvsched::engine_config_from_json({{"block_size", true}}, e), Catch::Contains("block_size: expected an integer"));
  CHECK_THROWS_WITH(kvsched::engine_config_from_json({{"block_size", 0}}, e), Catch::Contains("EngineConfig.block_size"));
}
