// Invariants of the CacheOPT presets under random load, with output-length estimates right,
// 10x too long and 10x too short: no block leaked or double-freed (BlockManager::
// check_invariants after every step), guests linked only to running hosts, every request
// finishes with exactly its true output length, nothing is lost.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "cacheopt_test_util.hpp"
#include "kvsched/policy/estimator/external_estimator.hpp"
#include "kvsched/presets/cacheopt.hpp"

using namespace kvsched;

namespace {

struct LoadSpec {
  int n = 240;
  double rate_rps = 40.0;     // arrivals per simulated second
  bool shared_prefixes = true;
  std::uint64_t seed = 7;
};

/// Random requests: prompts 8..700 tokens, heavy-tailed outputs 1..900 tokens (a few hit
/// max_tokens), two SLO classes, optional shared prefixes (content_ids), Poisson arrivals.
std::vector<RequestSpec> random_load(const LoadSpec& ls) {
  std::mt19937_64 rng(ls.seed);
  std::exponential_distribution<double> gap(ls.rate_rps);
  std::uniform_int_distribution<int> prompt(8, 700), cls(0, 1), prefix(0, 3);
  std::lognormal_distribution<double> out(4.0, 1.2);
  std::vector<RequestSpec> v;
  double t = 0;
  for (int i = 0; i < ls.n; ++i) {
    t += gap(rng);
    RequestSpec s;
    s.id = static_cast<RequestId>(i);
    s.arrival_s = t;
    s.prompt_tokens = prompt(rng);
    s.class_id = static_cast<std::uint16_t>(cls(rng));
    s.max_tokens = 800;
    s.oracle_output_tokens = std::clamp(static_cast<int>(out(rng)), 1, 900);
    s.slo = s.class_id == 0 ? Slo{1.0, 0.1} : Slo{4.0, 0.3};
    if (ls.shared_prefixes) {
      s.content_block_tokens = 64;
      const int p = prefix(rng);
      for (int b = 0; b * 64 < s.prompt_tokens; ++b) s.content_ids.push_back(b < 4 ? static_cast<std::uint64_t>(p * 100 + b) : 1000000 + static_cast<std::uint64_t>(i) * 100 + static_cast<std::uint64_t>(b));
    }
    v.push_back(std::move(s));
  }
  return v;
}

EngineConfig tight_engine(bool prefix_caching) {
  EngineConfig e;
  e.block_size = 16;
  e.num_device_blocks = 400;  // 6,400 tokens: a handful of requests at a time
  e.num_host_blocks = 150;
  e.max_num_seqs = 64;
  e.max_num_batched_tokens = 512;
  e.max_model_len = 1600;
  e.enable_prefix_caching = prefix_caching;
  return e;
}

struct Counters {
  std::int64_t guests_seen = 0;
  std::int64_t guests_preempted = 0;
  std::int64_t preemptions = 0;
  std::int64_t swaps = 0;
};

/// Runs `P` on the random load and checks every invariant. Returns counters for coverage checks.
template <class P>
Counters run_and_check(P policies, const LoadSpec& ls, bool prefix_caching, std::vector<RequestSpec> specs = {}) {
  EngineConfig e = tight_engine(prefix_caching && P::prefix_caching);
  // Whole-prompt presets (TensorRT-LLM's admission) keep their own budget, max(2048,
  // max_model_len): a set budget below a prompt would reject it.
  if constexpr (requires { policies.chunker.chunked_prefill; })
    if (!policies.chunker.chunked_prefill) e.max_num_batched_tokens = 0;
  const LatencyModel lm = test::simple_latency();
  Scheduler<P> s(e, lm, std::move(policies));
  if (specs.empty()) specs = random_load(ls);
  Counters c;
  std::set<RequestId> guests_before;
  auto check = [&](const Scheduler<P>& sc, const SchedulePlan& plan) {
    sc.block_manager().check_invariants();
    std::set<RequestId> scheduled;
    for (const auto& sr : plan.scheduled) {
      REQUIRE(scheduled.insert(sr.id).second);  // at most once per step
    }
    for (const auto& pr : plan.preempted) {
      REQUIRE(scheduled.count(pr.id) == 0);  // never both run and preempted
      c.guests_preempted += guests_before.count(pr.id);
      c.swaps += pr.mode == PreemptionMode::kSwap;
    }
    c.preemptions += static_cast<std::int64_t>(plan.preempted.size());
    guests_before.clear();
    if constexpr (requires { sc.policies().allocator.host_of(RequestId{}); }) {
      for (const Request* r : sc.running()) {
        if (auto h = sc.policies().allocator.host_of(r->id())) {
          guests_before.insert(r->id());
          const Request* host = sc.find(*h);
          REQUIRE(host != nullptr);
          REQUIRE(host->state == RequestState::kRunning);  // a guest's host is alive and on the device
        }
      }
      c.guests_seen += static_cast<std::int64_t>(guests_before.size());
    }
  };
  const test::RunResult res = test::run_fake_engine<P>(s, specs, 0.02, 200000, check);
  REQUIRE(res.finished.size() == specs.size());
  for (const RequestSpec& sp : specs) {
    const auto it = res.finished.find(sp.id);
    REQUIRE(it != res.finished.end());
    const Request& r = it->second;
    INFO("request " << sp.id);
    REQUIRE(r.state == RequestState::kFinished);
    REQUIRE(r.num_generated == std::min(*sp.oracle_output_tokens, sp.max_tokens));
    REQUIRE(r.token_times_s.size() == static_cast<std::size_t>(r.num_generated));
  }
  const BlockManager& bm = s.block_manager();
  bm.check_invariants();
  REQUIRE(bm.num_promised() == 0);
  REQUIRE(bm.num_free_device() == bm.num_device_blocks());
  REQUIRE(bm.num_free_host() == bm.num_host_blocks());
  REQUIRE(s.num_unfinished() == 0);
  return c;
}

/// CacheOPT whose noisy oracle is off by a constant factor (10 = 10x too long, 0.1 = 10x too short).
presets::cacheopt_noisy<10> off_by(double factor) {
  presets::cacheopt_noisy<10> p;
  p.estimator.base.config.distribution = NoiseDistribution::kConstant;
  p.estimator.base.config.level = factor;
  p.estimator.base.config.min_factor = 0.01;
  // Relative errors: a constant factor gives R = 0, so the estimates stay 10x off (the paper's
  // min-max range on absolute errors would pad every estimate to max_tokens and hide them).
  p.estimator.padding = HoeffdingPadding({.relative = true});
  return p;
}

/// CacheOPT with the external estimator (relative padding, see off_by); the load's predictions
/// are x_true times `factor`.
struct cacheopt_external : presets::cacheopt_of<PaddedEstimator<ExternalEstimator>> {
  cacheopt_external() { estimator.padding = HoeffdingPadding({.relative = true}); }
};
std::vector<RequestSpec> with_predictions(std::vector<RequestSpec> specs, double factor) {
  for (auto& s : specs) s.predicted_output_tokens = std::max(1, static_cast<int>(*s.oracle_output_tokens * factor));
  return specs;
}

}  // namespace

TEST_CASE("cacheopt presets keep every invariant under random load", "[cacheopt][invariants]") {
  const LoadSpec ls;
  for (bool pc : {true, false}) {
    INFO("prefix caching " << pc);
    run_and_check(presets::cacheopt{}, ls, pc);
    run_and_check(presets::oracle{}, ls, pc);
    run_and_check(presets::cacheopt_noisy_30{}, ls, pc);
  }
}

TEST_CASE("estimates 10x too long or too short: nothing leaks, every request finishes", "[cacheopt][invariants]") {
  const LoadSpec ls;
  const Counters over = run_and_check(off_by(10.0), ls, true);
  const Counters under = run_and_check(off_by(0.1), ls, true);
  // Embedding and guest preemption were exercised: 10x too short estimates make hosts
  // outgrow their reservations while guests run inside them.
  CHECK(over.guests_seen + under.guests_seen > 0);
  CHECK(under.preemptions > 0);
  const auto base = random_load(ls);
  run_and_check(cacheopt_external{}, ls, true, with_predictions(base, 10.0));
  run_and_check(cacheopt_external{}, ls, true, with_predictions(base, 0.1));
  run_and_check(cacheopt_external{}, ls, false, with_predictions(base, 0.1));
}

TEST_CASE("every CacheOPT ablation keeps the invariants", "[cacheopt][invariants]") {
  const LoadSpec ls{.n = 160};
  run_and_check(presets::cacheopt_no_padding{}, ls, true);
  run_and_check(presets::cacheopt_no_alloc{}, ls, true);
  run_and_check(presets::cacheopt_no_reuse{}, ls, true);
  run_and_check(presets::cacheopt_no_topup{}, ls, true);
  run_and_check(presets::cacheopt_no_reserve{}, ls, true);
  run_and_check(presets::cacheopt_no_slack{}, ls, true);
  run_and_check(presets::cacheopt_no_slo_victim{}, ls, true);
  run_and_check(presets::cacheopt_no_mode_choice{}, ls, true);
  run_and_check(presets::trtllm_oracle_lengths{}, ls, true);
  run_and_check(presets::cacheopt_peak{}, ls, true);
  run_and_check(presets::oracle_peak{}, ls, true);
}

TEST_CASE("estimates 10x off both ways in one load: guests embedded and preempted, nothing lost", "[cacheopt][invariants]") {
  // Half the predictions are 10x too long (hosts with room to lend), half 10x too short
  // (requests that outgrow their reservation); no padding, so the errors stay.
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> coin(0, 1);
  auto specs = random_load(LoadSpec{});
  for (auto& sp : specs) sp.predicted_output_tokens = std::max(1, static_cast<int>(*sp.oracle_output_tokens * (coin(rng) ? 10.0 : 0.1)));
  for (ReclaimRule rule : {ReclaimRule::kWhenHostReachesRegion, ReclaimRule::kWhenPoolShort}) {
    cacheopt_external p;
    p.estimator.padding = HoeffdingPadding({.enabled = false});
    p.allocator.config.reclaim = rule;
    const Counters c = run_and_check(p, LoadSpec{}, true, specs);
    CHECK(c.guests_seen > 0);
    CHECK(c.guests_preempted > 0);
  }
}
