// Bad input: rejected with a reason, never waiting forever; clear errors for misuse.
#include "scheduler_harness.hpp"

using namespace kvsched;
using test::make_spec;

namespace {
EngineConfig small_engine() { return {.block_size = 4, .num_device_blocks = 8, .max_model_len = 32}; }
}  // namespace

TEST_CASE("a prompt that can never fit is rejected with a reason", "[errors]") {
  Scheduler<presets::vllm_v1> s(small_engine(), LatencyModel{});
  s.add_request(make_spec(1, 32, 4));  // prompt == max_model_len: no room for an output token
  s.add_request(make_spec(2, 8, 4));
  const SchedulePlan& p = s.schedule(0.0);
  REQUIRE(p.rejected.size() == 1);
  CHECK(p.rejected[0].id == 1);
  CHECK(p.rejected[0].reason.find("max_model_len") != std::string::npos);
  REQUIRE(p.scheduled.size() == 1);
  CHECK(p.scheduled[0].id == 2);
  auto done = s.take_terminal();
  REQUIRE(done.size() == 1);
  CHECK(done[0].state == RequestState::kRejected);
}

TEST_CASE("vLLM v1's null block: a request is capped at the tokens the usable pool holds", "[errors]") {
  // 8 blocks x 4 tokens = max_model_len 32, one block is the null block: 28 usable tokens.
  // Found by fuzzing: uncapped, a request growing past 28 tokens preempted itself forever.
  Scheduler<presets::vllm_v1> s(small_engine(), LatencyModel{});
  s.add_request(make_spec(1, 28, 4));  // prompt of 28 tokens: no room for an output token
  s.add_request(make_spec(2, 20, 100));  // clipped to 28 - 20 = 8 output tokens
  const SchedulePlan& p = s.schedule(0.0);
  REQUIRE(p.rejected.size() == 1);
  CHECK(p.rejected[0].id == 1);
  CHECK(p.rejected[0].reason.find("usable KV cache of 28 tokens") != std::string::npos);
  CHECK(s.find(2)->spec.max_tokens == 8);
  for (double t = 1e-3; s.num_unfinished() > 0 && t < 1.0; t += 1e-3) {
    s.on_step_done({t, {}});
    (void)s.schedule(t);
  }
  CHECK(s.num_unfinished() == 0);
  CHECK(s.stats().preemptions_recompute == 0);
}

TEST_CASE("a request whose full reservation exceeds the pool is rejected, not kept waiting", "[errors][trtllm]") {
  Scheduler<presets::trtllm_guaranteed_no_evict> s(small_engine(), LatencyModel{});
  s.add_request(make_spec(1, 8, 24));  // clipped to 24 output tokens: 8 + 23 = 31 tokens = 8 blocks: fits
  s.add_request(make_spec(2, 8, 24));  // waits for request 1
  const SchedulePlan& p1 = s.schedule(0.0);
  CHECK(p1.rejected.empty());
  REQUIRE(p1.scheduled.size() == 1);

  presets::vllm_v0 v0;
  v0.reserver.watermark = 0.25;  // int(0.25 x 8) = 2 of 8 blocks kept free at admission
  Scheduler<presets::vllm_v0> s0(small_engine(), LatencyModel{}, v0);
  s0.add_request(make_spec(1, 28, 4));  // 7 blocks > 8 - 2: can never be admitted
  const SchedulePlan& p2 = s0.schedule(0.0);
  REQUIRE(p2.rejected.size() == 1);
  CHECK(p2.rejected[0].reason.find("can ever grant") != std::string::npos);
  CHECK(s0.num_unfinished() == 0);
}

TEST_CASE("bad specs and unknown ids throw clear errors", "[errors]") {
  Scheduler<presets::vllm_v1> s(small_engine(), LatencyModel{});
  CHECK_THROWS_WITH(s.add_request(make_spec(1, 0, 4)), Catch::Contains("prompt_tokens"));
  CHECK_THROWS_WITH(s.add_request(make_spec(1, 4, 0)), Catch::Contains("max_tokens"));
  s.add_request(make_spec(1, 4, 4));
  CHECK_THROWS_WITH(s.add_request(make_spec(1, 4, 4)), Catch::Contains("duplicate"));
  CHECK_THROWS_AS(s.abort(99), std::out_of_range);
}

TEST_CASE("an impossible engine config is refused at construction", "[errors]") {
  EngineConfig e = small_engine();
  e.max_model_len = 33;  // 8 blocks x 4 tokens = 32
  CHECK_THROWS_WITH((Scheduler<presets::vllm_v1>(e, LatencyModel{})), Catch::Contains("max_model_len"));
  e = small_engine();
  e.block_size = 0;
  CHECK_THROWS_WITH((Scheduler<presets::vllm_v1>(e, LatencyModel{})), Catch::Contains("block_size"));
  CHECK_THROWS_WITH(make_scheduler("nope", small_engine(), LatencyModel{}), Catch::Contains("vllm_v1"));
}

TEST_CASE("aborting running and swapped requests returns every block", "[errors][abort]") {
  presets::vllm_v0 p;
  p.mode.mode = PreemptionMode::kSwap;
  p.reserver.watermark = 0.0;
  EngineConfig e = small_engine();
  e.num_device_blocks = 4;
  e.num_host_blocks = 8;
  e.max_model_len = 16;
  Scheduler<presets::vllm_v0> s(e, LatencyModel{}, p);
  s.add_request(make_spec(1, 4, 8));
  s.add_request(make_spec(2, 4, 8));
  double t = 0;
  // Run until request 2 is swapped out.
  for (int i = 0; i < 20 && s.swapped().empty(); ++i) {
    (void)s.schedule(t);
    s.on_step_done({t += 1, {}});
  }
  REQUIRE(s.swapped().size() == 1);
  CHECK(s.block_manager().num_free_host() < 8);
  s.abort(2);
  CHECK(s.block_manager().num_free_host() == 8);
  s.abort(1);
  CHECK(s.block_manager().num_free_device() == 4);
  s.block_manager().check_invariants();
  CHECK(s.num_unfinished() == 0);
  CHECK_THROWS_AS(s.abort(1), std::out_of_range);
}

TEST_CASE("a request aborted and taken between schedule() and on_step_done() is skipped, the others advance", "[errors][abort]") {
  // on_step_done() reaches the plan's requests through pointers kept by schedule(); take_terminal()
  // erases aborted requests, so the report must not touch them (ASan would see a use after free).
  Scheduler<presets::vllm_v1> s(small_engine(), LatencyModel{});
  s.add_request(make_spec(1, 4, 4));
  s.add_request(make_spec(2, 4, 4));
  const SchedulePlan& p = s.schedule(0.0);
  REQUIRE(p.scheduled.size() == 2);
  s.abort(1);
  const auto taken = s.take_terminal();
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].state == RequestState::kAborted);
  s.on_step_done({1.0, {}});
  CHECK(s.find(1) == nullptr);
  REQUIRE(s.find(2) != nullptr);
  CHECK(s.find(2)->num_generated == 1);
  CHECK(s.find(2)->token_times_s == std::vector<double>{1.0});
  s.block_manager().check_invariants();
}
