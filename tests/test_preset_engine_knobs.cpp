// Every preset honours the engine knobs max_num_batched_tokens and max_num_seqs when the caller
// sets them (kvsched-sim's --max-num-batched-tokens, --max-num-seqs), and applies its own
// engine default only when they are left unset (EngineConfig 0 = the preset's EngineDefaults).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include <kvsched/kvsched.hpp>

using namespace kvsched;

namespace {
EngineConfig engine(std::int32_t budget, std::int32_t seqs) {
  EngineConfig e;
  e.block_size = 16;
  e.num_device_blocks = 4096;
  e.max_model_len = 4096;
  e.max_num_batched_tokens = budget;
  e.max_num_seqs = seqs;
  e.enable_prefix_caching = false;
  return e;
}
RequestSpec spec(RequestId id, std::int32_t prompt) {
  RequestSpec s;
  s.id = id;
  s.prompt_tokens = prompt;
  s.max_tokens = 8;
  s.oracle_output_tokens = 8;
  return s;
}
/// Tokens and requests in the first plan of preset `name` with 8 waiting 100-token prompts.
std::pair<std::int64_t, std::size_t> first_plan(const std::string& name, const EngineConfig& e) {
  auto s = make_scheduler(name, e, LatencyModel{});
  for (RequestId id = 0; id < 8; ++id) s->add_request(spec(id, 100));
  const SchedulePlan& p = s->schedule(0.0);
  return {p.num_batched_tokens(), p.scheduled.size()};
}
}  // namespace

TEST_CASE("every preset keeps a set token budget and batch cap, whatever its own default", "[presets][engine]") {
  for (const auto& name : preset_names()) {
    INFO(name);
    for (const auto& [budget, seqs] : {std::pair{250, 8}, std::pair{300, 2}, std::pair{4096, 3}}) {
      const auto s = make_scheduler(name, engine(budget, seqs), LatencyModel{});
      CHECK(s->engine().max_num_batched_tokens == budget);
      CHECK(s->engine().max_num_seqs == seqs);
      const auto [tokens, requests] = first_plan(name, engine(budget, seqs));
      CHECK(tokens <= budget);
      CHECK(requests <= static_cast<std::size_t>(seqs));
      CHECK(requests >= 1);
    }
  }
}

TEST_CASE("baselines fill exactly the budget the caller sets", "[presets][engine]") {
  // Chunked-prefill engines take whole prompts and a chunk of the next one.
  for (const char* name : {"vllm_v1", "vllm_v1_first_chunk", "sarathi", "sarathi_2048", "sglang"}) {
    INFO(name);
    CHECK(first_plan(name, engine(250, 256)) == std::pair<std::int64_t, std::size_t>{250, 3});
    CHECK(first_plan(name, engine(1000, 256)) == std::pair<std::int64_t, std::size_t>{800, 8});
    CHECK(first_plan(name, engine(1000, 5)) == std::pair<std::int64_t, std::size_t>{500, 5});
  }
  // Whole prompts only (vLLM v0, TensorRT-LLM without context chunking).
  for (const char* name : {"vllm_v0", "trtllm_guaranteed_no_evict"}) {
    INFO(name);
    CHECK(first_plan(name, engine(250, 256)) == std::pair<std::int64_t, std::size_t>{200, 2});
    CHECK(first_plan(name, engine(1000, 5)) == std::pair<std::int64_t, std::size_t>{500, 5});
  }
}

TEST_CASE("a preset's own engine defaults apply only where the knob is unset", "[presets][engine]") {
  const EngineConfig unset = engine(0, 0);
  auto budget = [&](const char* name) { return make_scheduler(name, unset, LatencyModel{})->engine().max_num_batched_tokens; };
  CHECK(budget("vllm_v1") == 2048);
  CHECK(budget("sarathi") == 512);
  CHECK(budget("sarathi_2048") == 2048);
  CHECK(budget("vllm_v0") == 4096);  // max(max_model_len, 2048), as vLLM v0 without chunked prefill
  CHECK(budget("trtllm_guaranteed_no_evict") == 4096);
  for (const auto& name : preset_names()) {
    INFO(name);
    CHECK(make_scheduler(name, unset, LatencyModel{})->engine().max_num_seqs == 256);
  }
  // Sarathi's 512-token default shows in its plan: 5 prompts of 100 and 12 tokens of the 6th.
  CHECK(first_plan("sarathi", unset) == std::pair<std::int64_t, std::size_t>{512, 6});
}

TEST_CASE("vllm_v0 rejects prompts longer than a token budget below max_model_len", "[presets][engine][vllm_v0]") {
  // vLLM v0 without chunked prefill: prompt limit = min(max_model_len, max_num_batched_tokens).
  auto s = make_scheduler("vllm_v0", engine(256, 256), LatencyModel{});
  s->add_request(spec(1, 300));
  s->add_request(spec(2, 200));
  const SchedulePlan& p = s->schedule(0.0);
  REQUIRE(p.rejected.size() == 1);
  CHECK(p.rejected[0].id == 1);
  REQUIRE(p.scheduled.size() == 1);
  CHECK(p.scheduled[0].id == 2);
}

TEST_CASE("presets say whether their engine overlaps CPU work with the forward pass", "[presets][engine]") {
  const EngineConfig e = engine(0, 0);
  auto async = [&](const char* name) { return make_scheduler(name, e, LatencyModel{})->engine_defaults().async_scheduling; };
  CHECK(async("vllm_v1"));  // vLLM 0.32/0.33: async scheduling by default
  CHECK(async("vllm_v1_first_chunk"));
  CHECK_FALSE(async("vllm_v0"));
  CHECK_FALSE(async("sarathi"));
  CHECK_FALSE(async("sarathi_2048"));
}
