// Library misuse throws a clear exception (in Release builds too) and changes nothing:
// non-finite request times and SLOs, the schedule / on_step_done call order, step results
// with bad times or EOS, 64-bit token counts, a zero content block size (issue 14).
#include <cmath>
#include <limits>
#include <stdexcept>

#include "scheduler_harness.hpp"

using namespace kvsched;
using test::make_spec;

namespace {
EngineConfig small_engine() { return {.block_size = 4, .num_device_blocks = 8, .max_model_len = 32}; }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_CASE("add_request rejects NaN and infinite arrival times and SLOs", "[reliability][api]") {
  for (const std::string& name : preset_names()) {
    INFO(name);
    auto s = make_scheduler(name, small_engine(), LatencyModel{});
    for (double bad : {kNaN, kInf, -kInf}) {
      RequestSpec a = make_spec(1, 4, 4);
      a.arrival_s = bad;
      CHECK_THROWS_AS(s->add_request(a), std::invalid_argument);
      RequestSpec t = make_spec(1, 4, 4);
      t.slo.ttft_s = bad;
      CHECK_THROWS_AS(s->add_request(t), std::invalid_argument);
      RequestSpec b = make_spec(1, 4, 4);
      b.slo.tbt_s = bad;
      CHECK_THROWS_AS(s->add_request(b), std::invalid_argument);
    }
    CHECK(s->num_unfinished() == 0);
    // The same id is still free: nothing was recorded.
    RequestSpec ok = make_spec(1, 4, 2);
    ok.slo = {0.5, 0.1};
    s->add_request(ok);
    CHECK(s->num_unfinished() == 1);
  }
}

TEST_CASE("add_request rejects content_block_tokens < 1 with content ids", "[reliability][api]") {
  Scheduler<presets::vllm_v1> s(small_engine(), LatencyModel{});
  RequestSpec r = make_spec(1, 8, 2);
  r.content_ids = {7, 8};
  r.content_block_tokens = 0;
  CHECK_THROWS_AS(s.add_request(r), std::invalid_argument);
}

TEST_CASE("block_content_hash does not divide by a zero content block size", "[reliability][api]") {
  RequestSpec r = make_spec(1, 8, 2);
  r.content_ids = {7, 8};
  r.content_block_tokens = 0;
  CHECK(block_content_hash(r, 0, 4, 0) != 0);  // before the fix: integer division by zero
  r.content_block_tokens = -3;
  CHECK(block_content_hash(r, 1, 4, 0) != 0);
}

TEST_CASE("on_step_done twice for one plan throws and changes nothing", "[reliability][api]") {
  Scheduler<presets::vllm_v1> s(small_engine(), LatencyModel{});
  CHECK_THROWS_AS(s.on_step_done({0.0, {}}), std::logic_error);  // before any schedule()
  s.add_request(make_spec(1, 8, 4));
  const SchedulePlan& p = s.schedule(0.0);
  REQUIRE(p.scheduled.size() == 1);
  s.on_step_done({1.0, {}});
  const Request* r = s.find(1);
  REQUIRE(r != nullptr);
  const auto computed = r->num_computed_tokens;
  const auto generated = r->num_generated;
  CHECK_THROWS_AS(s.on_step_done({2.0, {}}), std::logic_error);
  CHECK(r->num_computed_tokens == computed);
  CHECK(r->num_generated == generated);
  CHECK(r->num_computed_tokens <= r->num_tokens());
}

TEST_CASE("a second schedule() before on_step_done throws; an empty plan needs no report", "[reliability][api]") {
  Scheduler<presets::vllm_v1> s(small_engine(), LatencyModel{});
  (void)s.schedule(0.0);  // nothing to run: no report needed
  (void)s.schedule(0.5);
  s.add_request(make_spec(1, 8, 4));
  const SchedulePlan& p = s.schedule(1.0);
  REQUIRE(p.scheduled.size() == 1);
  CHECK_THROWS_AS(s.schedule(1.5), std::logic_error);
  CHECK(p.scheduled.size() == 1);  // the plan was not replaced
  s.on_step_done({2.0, {}});
  CHECK_NOTHROW(s.schedule(2.0));
}

TEST_CASE("step results with NaN or backward times, or EOS for an unscheduled request, throw", "[reliability][api]") {
  Scheduler<presets::vllm_v1> s(small_engine(), LatencyModel{});
  CHECK_THROWS_AS(s.schedule(kNaN), std::invalid_argument);
  s.add_request(make_spec(1, 4, 8));
  s.add_request(make_spec(2, 4, 8));
  (void)s.schedule(1.0);
  CHECK_THROWS_AS(s.on_step_done({kNaN, {}}), std::invalid_argument);
  CHECK_THROWS_AS(s.on_step_done({0.5, {}}), std::invalid_argument);  // before the plan's time
  s.on_step_done({2.0, {}});
  const SchedulePlan& p2 = s.schedule(2.0);
  REQUIRE(p2.scheduled.size() == 2);
  CHECK_THROWS_AS(s.on_step_done({1.5, {}}), std::invalid_argument);      // before the previous step
  CHECK_THROWS_AS(s.on_step_done({3.0, {{99, true}}}), std::invalid_argument);  // EOS for an unknown request
  const Request* r1 = s.find(1);
  REQUIRE(r1 != nullptr);
  const auto tokens_before = r1->token_times_s.size();
  s.on_step_done({3.0, {}});
  CHECK(r1->token_times_s.size() == tokens_before + 1);
  for (std::size_t i = 1; i < r1->token_times_s.size(); ++i) CHECK(r1->token_times_s[i] >= r1->token_times_s[i - 1]);
  // A waiting (never scheduled) request cannot be finished by EOS.
  Scheduler<presets::vllm_v1> q(small_engine(), LatencyModel{});
  q.add_request(make_spec(1, 26, 1));  // 7 blocks: the whole usable pool (vLLM v1 holds the 8th as its null block)
  q.add_request(make_spec(2, 4, 4));   // waits
  const SchedulePlan& pq = q.schedule(0.0);
  REQUIRE(pq.scheduled.size() == 1);
  CHECK_THROWS_AS(q.on_step_done({1.0, {{2, true}}}), std::invalid_argument);
}

TEST_CASE("allocate_slots checks token counts in 64 bits", "[reliability][api]") {
  BlockManager bm(4, 8, 0, false);
  // 1e12 tokens: int32 truncation made this "fit" an 8-block pool.
  CHECK_THROWS_AS(bm.allocate_slots(1, 1'000'000'000'000LL), std::invalid_argument);
  CHECK_THROWS_AS(bm.allocate_slots(1, -1), std::invalid_argument);
  CHECK_THROWS_AS(bm.blocks_from_pool(1, 1LL << 40), std::invalid_argument);
  CHECK_FALSE(bm.allocate_slots(1, BlockManager::kMaxTokens));  // fits int32, never the pool
  CHECK(bm.num_free_device() == 8);
  CHECK(bm.allocate_slots(1, 32));
  CHECK(bm.num_free_device() == 0);
  bm.check_invariants();
}
