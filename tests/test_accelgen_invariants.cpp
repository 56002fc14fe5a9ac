// AccelGen presets under random load: block-manager invariants after every step, every
// request finishes, the incremental queue mirrors the scheduler's waiting queue.
#include <catch2/catch.hpp>

#include <random>

#include "accelgen_test_util.hpp"
#include "kvsched/presets/accelgen.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/scheduler/scheduler.hpp"

using namespace kvsched;

namespace {

std::vector<RequestSpec> random_load(std::uint64_t seed, std::size_t n, double rate) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate);
  std::vector<RequestSpec> specs;
  double t = 0.0;
  const double tbts[] = {0.03, 0.05, 0.08, 0.15, 0.0};
  for (std::size_t i = 0; i < n; ++i) {
    t += gap(rng);
    const std::int32_t prompt = 1 + static_cast<std::int32_t>(rng() % (rng() % 4 == 0 ? 5000 : 800));
    const std::int32_t out = 1 + static_cast<std::int32_t>(rng() % (rng() % 5 == 0 ? 1500 : 200));
    const double tbt = tbts[rng() % 5];
    auto s = kvsched::testing::spec(i, prompt, out, tbt > 0 ? 0.2 + (rng() % 50) * 0.1 : 0.0, tbt, t);
    s.max_tokens = out + static_cast<std::int32_t>(rng() % 300);  // a cap above the true length
    if (rng() % 3 == 0) s.predicted_output_tokens = out / 2 + 1;
    specs.push_back(s);
  }
  return specs;
}

template <class P>
SchedulerStats run(P preset, std::uint64_t seed, std::int32_t blocks, std::int32_t budget, std::int32_t host_blocks = 0) {
  const LatencyModel lm(kvsched::testing::attention_coeffs());
  EngineConfig e = kvsched::testing::engine(blocks, budget);
  e.num_host_blocks = host_blocks;
  Scheduler<P> s(e, lm, preset);
  const auto specs = random_load(seed, 300, 40.0);
  std::size_t steps = 0;
  const auto res = kvsched::testing::drive(s, specs, lm, [&](const SchedulePlan& plan) {
    ++steps;
    REQUIRE(s.policies().queue.size() == s.waiting().size());
    REQUIRE(plan.num_batched_tokens() <= budget);
  });
  CHECK(res.finished == specs.size());
  CHECK(s.num_unfinished() == 0);
  CHECK(s.policies().queue.size() == 0);
  CHECK(s.block_manager().available() == blocks);
  return s.stats();
}

}  // namespace

TEST_CASE("accelgen presets: invariants hold and every request finishes under random load") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    run(presets::accelgen{}, seed, 8192, 8192);
    run(presets::accelgen{}, seed + 10, 600, 2048);  // tight KV: recompute preemptions
    run(presets::accelgen_oracle{}, seed + 20, 600, 4096);
  }
}

TEST_CASE("cacheopt_accelgen presets: invariants hold and every request finishes under random load (swaps too)") {
  std::int64_t swaps = 0, preemptions = 0;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    run(presets::cacheopt_accelgen{}, seed + 40, 8192, 8192, 1024);
    const auto a = run(presets::cacheopt_accelgen{}, seed + 50, 600, 2048, 1024);
    const auto b = run(presets::cacheopt_accelgen_oracle{}, seed + 60, 600, 4096, 1024);
    swaps += a.preemptions_swap + b.preemptions_swap;
    preemptions += a.preemptions_swap + a.preemptions_recompute + b.preemptions_swap + b.preemptions_recompute;
  }
  INFO("swaps " << swaps << " preemptions " << preemptions);
  CHECK(preemptions > 0);
  CHECK(swaps > 0);
}

TEST_CASE("accelgen: several long prefills at once, no reserve, no dropping") {
  presets::accelgen p;
  p.chunker.config.max_long_prefills = 3;
  p.chunker.config.reserve_for_short_prompts = false;
  p.batch.config.drop_kv_infeasible = false;
  p.queue.config.max_candidates = 4;
  for (std::uint64_t seed = 31; seed <= 33; ++seed) run(p, seed, 700, 2048);
}

TEST_CASE("accelgen: abort and preemption keep the incremental queue in step") {
  const LatencyModel lm(kvsched::testing::linear_coeffs());
  EngineConfig e = kvsched::testing::engine(64);  // 64 blocks = 1024 tokens
  e.max_model_len = 1024;
  Scheduler<presets::accelgen> s(e, lm);
  for (RequestId i = 0; i < 6; ++i) s.add_request(kvsched::testing::spec(i, 200, 300, 1.0, 0.1, 0.0));
  CHECK(s.policies().queue.size() == 6);
  s.abort(5);
  CHECK(s.policies().queue.size() == 5);
  double now = 0.0;
  std::size_t preempted = 0;
  for (int step = 0; step < 5000 && s.num_unfinished() > 0; ++step) {
    const auto& plan = s.schedule(now);
    preempted += plan.preempted.size();
    REQUIRE(s.policies().queue.size() == s.waiting().size());
    if (step == 3) {
      const RequestId victim = s.running().back()->id();
      s.abort(victim);
      REQUIRE(s.policies().queue.size() == s.waiting().size());
    }
    now += 0.02;
    s.on_step_done({now, {}});
    s.block_manager().check_invariants();
  }
  CHECK(preempted > 0);
  CHECK(s.num_unfinished() == 0);
}

TEST_CASE("registry: accelgen, cacheopt_accelgen and sarathi_2048 by name") {
  const LatencyModel lm(kvsched::testing::linear_coeffs());
  for (const char* name : {"accelgen", "accelgen_oracle", "cacheopt_accelgen", "cacheopt_accelgen_oracle", "sarathi_2048"}) {
    const bool sarathi = std::string(name) == "sarathi_2048";
    EngineConfig e = kvsched::testing::engine();
    if (sarathi) e.max_num_batched_tokens = 0;  // unset: sarathi_2048's own budget
    auto s = make_scheduler(name, e, lm);
    CHECK(s->name() == name);
    s->add_request(kvsched::testing::spec(1, 3000, 2, 10.0, 0.05005, 0.0));
    const auto& plan = s->schedule(0.0);
    REQUIRE(plan.scheduled.size() == 1);
    // sarathi_2048: its own 2048 when the budget is unset; accelgen: 2002 tokens meet the
    // 0.05005 s TBT SLO (under the engine's 8192).
    CHECK(plan.scheduled[0].num_tokens == (sarathi ? 2048 : 2002));
  }
}
