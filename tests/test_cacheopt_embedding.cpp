// CacheOPT components 2-3: the padded estimated demand as a reservation, and reuse of
// allocated-but-unused reservations (embedding condition, best-fit host, return, reclaim).
#include <catch2/catch.hpp>

#include "cacheopt_test_util.hpp"
#include "kvsched/policy/allocator/embedding_allocator.hpp"
#include "kvsched/policy/allocator/future_peak_allocator.hpp"
#include "kvsched/policy/estimator/external_estimator.hpp"
#include "kvsched/policy/estimator/oracle_estimator.hpp"
#include "kvsched/policy/estimator/padded_estimator.hpp"
#include "kvsched/presets/cacheopt.hpp"

using namespace kvsched;

namespace {

/// Three hosts with 8, 12 and 18 unused blocks (2 held each, 32 tokens), and a filler that
/// takes every other block, in a 100-block pool of 16-token blocks.
struct HostsFixture : test::PoolFixture {
  Request h1 = test::running_request(1, 31, 1, 200);
  Request h2 = test::running_request(2, 31, 1, 200);
  Request h3 = test::running_request(3, 31, 1, 200);

  HostsFixture() {
    running = {&h1, &h2, &h3};
    for (auto [r, res] : {std::pair{&h1, 10}, {&h2, 14}, {&h3, 20}}) {
      REQUIRE(bm.allocate_slots(r->id(), r->num_tokens()));
      REQUIRE(bm.set_reservation(r->id(), res));
    }
    REQUIRE(bm.set_reservation(9, 56));  // filler: available() = 0
    REQUIRE(bm.available() == 0);
  }
  static Request guest(std::int32_t prompt, std::int32_t output) {
    return {.spec = {.id = 50, .prompt_tokens = prompt, .max_tokens = 4000, .oracle_output_tokens = output}};
  }
  template <class A>
  std::optional<AdmissionGrant> admit(const A& a, const Request& g) {
    const SchedulerView v = view();
    return a.admit(g, static_cast<std::int32_t>(blocks_for_tokens(g.spec.prompt_tokens, 16)), est.estimate(g, v), v);
  }
};

EmbeddingAllocator allocator(std::int32_t buffer_tokens = 0) {
  return EmbeddingAllocator({.buffer_tokens = buffer_tokens});
}

}  // namespace

TEST_CASE("estimated demand: ceil((prompt + x_tilde - 1) / block_size), critical gets len + B", "[cacheopt][allocation]") {
  HostsFixture f;
  const SchedulerView v = f.view();
  Request g = HostsFixture::guest(40, 20);
  const CriticalConfig off{.enabled = false};
  // 40 + 20 - 1 = 59 tokens -> 4 blocks.
  CHECK(estimated_demand_blocks(g, {20, 20}, v, off) == 4);
  CHECK(estimated_demand_blocks(g, {20, 25}, v, off) == 4);   // 64 tokens
  CHECK(estimated_demand_blocks(g, {20, 26}, v, off) == 5);   // 65 tokens
  CHECK(estimated_demand_blocks(g, {20, 300}, v, off) == 22); // 339 tokens
  // A critical request (TTFT deadline passed) gets its length + B = 40 + 16 -> 4 blocks.
  g.spec.slo.ttft_s = 0.5;
  SchedulerView late = v;
  late.now_s = 1.0;
  CHECK(estimated_demand_blocks(g, {20, 300}, late, CriticalConfig{}) == 4);
  CHECK(estimated_demand_blocks(g, {20, 300}, late, CriticalConfig{.boost_tokens = 100}) == 9);  // 140 tokens
  CHECK(estimated_demand_blocks(g, {20, 300}, v, CriticalConfig{}) == 22);  // not late: full demand
}

TEST_CASE("embedding condition and best-fit host, exact cases", "[cacheopt][embedding]") {
  HostsFixture f;
  const EmbeddingAllocator a = allocator();
  // Condition in blocks: unused_j - grows_j - lent >= b (b = 1 block).
  SECTION("smallest feasible host wins: guest 40 + 20 tokens into host 1 (8 unused)") {
    // lent = ceil(59/16) = 4; grows_1 = ceil((32 + 20)/16) - 2 = 2; 8 - 2 - 4 = 2 >= 1.
    const auto g = f.admit(a, HostsFixture::guest(40, 20));
    REQUIRE(g);
    REQUIRE(g->host);
    CHECK(*g->host == 1);
    CHECK(g->lent_blocks == 4);
    CHECK(g->reserve_blocks == 4);
  }
  SECTION("a host predicted to finish before the guest is skipped") {
    f.h1.spec.oracle_output_tokens = 15;  // remaining 14 < s_o = 20
    const auto g = f.admit(a, HostsFixture::guest(40, 20));
    REQUIRE(g->host);
    CHECK(*g->host == 2);
  }
  SECTION("exactly at the buffer: guest 40 + 60 into host 2") {
    // lent = ceil(99/16) = 7; grows = ceil(92/16) - 2 = 4; host 1: 8 - 4 - 7 < 1; host 2: 12 - 4 - 7 = 1.
    const auto g = f.admit(a, HostsFixture::guest(40, 60));
    REQUIRE(g->host);
    CHECK(*g->host == 2);
    CHECK(g->lent_blocks == 7);
  }
  SECTION("one token more growth makes host 2 infeasible: guest 40 + 70 into host 3") {
    // lent = ceil(109/16) = 7; grows = ceil(102/16) - 2 = 5; host 2: 12 - 5 - 7 = 0 < 1; host 3: 6.
    const auto g = f.admit(a, HostsFixture::guest(40, 70));
    REQUIRE(g->host);
    CHECK(*g->host == 3);
  }
  SECTION("a larger buffer b = 3 blocks moves guest 40 + 20 to host 2") {
    const auto g = f.admit(allocator(48), HostsFixture::guest(40, 20));
    REQUIRE(g->host);
    CHECK(*g->host == 2);  // host 1: 8 - 2 - 4 = 2 < 3; host 2: 12 - 2 - 4 = 6
  }
  SECTION("no feasible host: a plain grant, which the reserver refuses") {
    const auto g = f.admit(a, HostsFixture::guest(40, 400));  // lent 28 > every host
    REQUIRE(g);
    CHECK_FALSE(g->host);
    CHECK(g->reserve_blocks == 28);
  }
  SECTION("free blocks first: no embedding when the plain reservation fits beside G") {
    f.bm.free(9);  // 56 available, G = 5
    const auto g = f.admit(a, HostsFixture::guest(40, 20));
    CHECK_FALSE(g->host);
    CHECK(g->reserve_blocks == 4);
  }
  SECTION("... but embedding when taking free blocks would eat into the global reserve") {
    f.bm.free(9);
    REQUIRE(f.bm.set_reservation(9, 48));  // 8 available: 8 - 4 < G = 5
    const auto g = f.admit(a, HostsFixture::guest(40, 20));
    REQUIRE(g->host);
    CHECK(*g->host == 1);
  }
  SECTION("reuse off: always the plain grant") {
    const auto g = f.admit(EmbeddingAllocator({.reuse = false}), HostsFixture::guest(40, 20));
    CHECK_FALSE(g->host);
  }
}

TEST_CASE("host index: ordered by unused reservation, bounded probes", "[cacheopt][embedding]") {
  HostsFixture f;
  EmbeddingHostIndex idx;
  idx.build(f.running, f.bm, 0, [](const Request&) { return true; });
  REQUIRE(idx.size() == 3);
  CHECK(idx.hosts()[0].unused_blocks == 8);
  CHECK(idx.hosts()[1].unused_blocks == 12);
  CHECK(idx.hosts()[2].unused_blocks == 18);
  CHECK(idx.hosts()[2].held_blocks == 2);
  auto any = [](const EmbeddingHost&) { return true; };
  CHECK(idx.best_fit(9, any)->request->id() == 2);
  CHECK(idx.best_fit(19, any) == nullptr);
  auto only3 = [](const EmbeddingHost& h) { return h.request->id() == 3; };
  CHECK(idx.best_fit(0, only3, 0)->request->id() == 3);
  CHECK(idx.best_fit(0, only3, 2) == nullptr);  // two probes reach host 2 only
  idx.erase(2);
  CHECK(idx.best_fit(9, any)->request->id() == 3);
  idx.build(f.running, f.bm, 10, [](const Request& r) { return r.id() != 3; });
  REQUIRE(idx.size() == 1);  // host 1 below min_unused, host 3 ineligible
}

namespace {
/// CacheOPT with the external estimator and only components 2-3 active, for exact scenarios.
struct embed_only : presets::cacheopt_of<PaddedEstimator<ExternalEstimator>> {
  embed_only() {
    estimator.padding = HoeffdingPadding({.enabled = false});
    rules.reserve.enabled = false;
    rules.critical.enabled = false;
    reserver.config.top_up = false;
  }
};
/// The scenarios' engine: 24 blocks of 16 tokens, no host pool, no prefix caching.
EngineConfig embed_engine() {
  return {.block_size = 16, .num_device_blocks = 24, .num_host_blocks = 0, .max_model_len = 384, .enable_prefix_caching = false};
}
RequestSpec req(RequestId id, std::int32_t prompt, std::int32_t predicted, std::int32_t truth) {
  return {.id = id, .prompt_tokens = prompt, .max_tokens = 350, .predicted_output_tokens = predicted, .oracle_output_tokens = truth};
}
}  // namespace

TEST_CASE("scenario: a guest runs in its host's reservation, is reclaimed when the host catches up, blocks return",
          "[cacheopt][embedding]") {
  // Pool of 24 blocks. A reserves ceil((16+200-1)/16) = 14, B ceil((16+100-1)/16) = 8: 2 left.
  // C needs ceil((16+20-1)/16) = 3 > 2: it embeds in B, the best fit (7 unused; A has 13).
  // B's own region is then 5 blocks = 80 tokens; C really needs 100 outputs, outgrows its 3
  // blocks and takes the last 2 free ones. When B reaches token 81 (65 outputs) and the pool
  // is empty, C is preempted at the start of that step, and B's 8 blocks come back next step.
  // (Later C re-embeds in A and B outgrows its estimate: the run goes on to completion.)
  Scheduler<embed_only> s(embed_engine(), test::simple_latency());
  const std::vector<RequestSpec> specs{req(0, 16, 200, 300), req(1, 16, 100, 300), req(2, 16, 20, 100)};
  const RequestId A = 0, B = 1, C = 2;
  int step = 0;
  int reclaim_step = -1;
  auto check = [&](const Scheduler<embed_only>& sc, const SchedulePlan& plan) {
    ++step;
    const BlockManager& bm = sc.block_manager();
    bm.check_invariants();
    const auto& alloc = sc.policies().allocator;
    if (step == 1) {
      REQUIRE(plan.scheduled.size() == 3);
      REQUIRE(alloc.host_of(C) == std::optional<RequestId>(B));
      CHECK(bm.reservation(A) == 14);
      CHECK(bm.reservation(B) == 5);
      CHECK(bm.reservation(C) == 3);
      CHECK(bm.available() == 2);
    }
    for (const Preemption& p : plan.preempted) {
      if (p.id != C || reclaim_step >= 0) continue;
      reclaim_step = step;
      // Preempted before the running phase of the step in which B needs its 6th block: B
      // starts that step with 65 outputs (token 81) and ends it with 66.
      CHECK(sc.find(B)->num_generated == 66);
      CHECK(sc.find(B)->state == RequestState::kRunning);
      CHECK(p.mode == PreemptionMode::kRecompute);  // no host pool
      CHECK_FALSE(alloc.host_of(C));
    }
    if (reclaim_step > 0 && step == reclaim_step + 1) {
      CHECK(bm.reservation(B) == 8);  // the lent blocks came back
    }
  };
  const test::RunResult res = test::run_fake_engine<embed_only>(s, specs, 0.02, 10000, check);
  CHECK(reclaim_step == 66);  // step 1 is the prefill and samples output 1
  REQUIRE(res.finished.size() == 3);
  for (const auto& [id, r] : res.finished) CHECK(r.num_generated == *r.spec.oracle_output_tokens);
  CHECK(res.finished.at(C).num_preemptions >= 1);
}

TEST_CASE("scenario: a guest that finishes first gives the host its blocks back", "[cacheopt][embedding]") {
  Scheduler<embed_only> s(embed_engine(), test::simple_latency());
  // As above, but C stops at 20 outputs, inside its 3 blocks.
  const std::vector<RequestSpec> specs{req(0, 16, 200, 200), req(1, 16, 100, 100), req(2, 16, 20, 20)};
  int step = 0;
  int c_done = -1;
  auto check = [&](const Scheduler<embed_only>& sc, const SchedulePlan& plan) {
    ++step;
    sc.block_manager().check_invariants();
    if (step == 1) REQUIRE(sc.policies().allocator.host_of(2) == std::optional<RequestId>(1));
    if (c_done < 0 && sc.find(2) != nullptr && sc.find(2)->state == RequestState::kFinished) c_done = step;
    if (c_done > 0 && step == c_done + 1) {
      CHECK(sc.block_manager().reservation(1) == 8);  // returned at the start of the step after C finished
      CHECK(sc.policies().allocator.num_guests() == 0);
    }
    CHECK(plan.preempted.empty());
  };
  const test::RunResult res = test::run_fake_engine<embed_only>(s, specs, 0.02, 10000, check);
  CHECK(c_done == 20);
  REQUIRE(res.finished.size() == 3);
}

TEST_CASE("future KV curve: peak of running requests, and with one more", "[cacheopt][future_peak]") {
  // Blocks of 10 tokens. A holds 20 tokens and finishes after 3 iterations, B 50 and 1.
  FutureKvCurve c;
  c.reset(10);
  c.add(20, 3);
  c.add(50, 1);
  c.build();
  // U(0) = (20 + 50) / 10 + 2 x 0.5 = 8; U(1) = 21 / 10 + 0.5 = 2.6; U(2) = 2.7; U(3) = 0.
  CHECK_THAT(c.at(0), Catch::Matchers::WithinAbs(8.0, 1e-12));
  CHECK_THAT(c.at(1), Catch::Matchers::WithinAbs(2.6, 1e-12));
  CHECK_THAT(c.at(2), Catch::Matchers::WithinAbs(2.7, 1e-12));
  CHECK(c.at(3) == 0.0);
  CHECK_THAT(c.peak(), Catch::Matchers::WithinAbs(8.0, 1e-12));
  // C: 30 tokens, 5 iterations: peak at t = 0: 100 tokens -> 10 + 1.5.
  CHECK_THAT(c.peak_with(30, 5), Catch::Matchers::WithinAbs(11.5, 1e-12));
  // D: 10 tokens, 1 iteration: 80 tokens at t = 0 -> 8 + 1.5.
  CHECK_THAT(c.peak_with(10, 1), Catch::Matchers::WithinAbs(9.5, 1e-12));
  // E: 0 tokens now, 40 iterations: the peak moves to its end, t = 39: 39 / 10 + 0.5.
  CHECK_THAT(c.peak_with(0, 40), Catch::Matchers::WithinAbs(8.5, 1e-12));  // t = 0 still: 7 + 1 + 0.5
  CHECK_THAT(c.peak_with(50, 40), Catch::Matchers::WithinAbs(13.5, 1e-12));  // t = 0: 120 tokens -> 12 + 1.5
  // Brute force agrees on a random-ish curve, with ties in finish times.
  FutureKvCurve r;
  r.reset(16);
  const std::int64_t cur[] = {100, 5, 700, 33, 250, 16, 90};
  const std::int64_t rem[] = {7, 3, 12, 7, 1, 30, 12};
  for (int i = 0; i < 7; ++i) r.add(cur[i], rem[i]);
  r.build();
  auto brute = [&](std::int64_t c_cur, std::int64_t c_rem) {
    double best = 0;
    for (std::int64_t t = 0; t < 100; ++t) {
      double u = 0;
      for (int i = 0; i < 7; ++i)
        if (rem[i] > t) u += static_cast<double>(cur[i] + t) / 16.0 + 0.5;
      if (c_rem > t) u += static_cast<double>(c_cur + t) / 16.0 + 0.5;
      best = std::max(best, u);
    }
    return best;
  };
  CHECK_THAT(r.peak(), Catch::Matchers::WithinAbs(brute(0, 0), 1e-9));
  for (std::int64_t cr : {1, 2, 6, 7, 8, 12, 13, 29, 30, 31, 60})
    for (std::int64_t cc : {0, 40, 500}) {
      INFO("candidate " << cc << " tokens, " << cr << " iterations");
      CHECK_THAT(r.peak_with(cc, cr), Catch::Matchers::WithinAbs(brute(cc, cr), 1e-9));
    }
  r.insert(300, 8);  // an admitted request joins: same as building from scratch
  FutureKvCurve s;
  s.reset(16);
  for (int i = 0; i < 7; ++i) s.add(cur[i], rem[i]);
  s.add(300, 8);
  s.build();
  CHECK_THAT(r.peak(), Catch::Matchers::WithinAbs(s.peak(), 1e-9));
  CHECK_THAT(r.peak_with(40, 20), Catch::Matchers::WithinAbs(s.peak_with(40, 20), 1e-9));
}

TEST_CASE("future-peak allocator admits exactly while the predicted peak fits", "[cacheopt][future_peak]") {
  HostsFixture f;  // 3 running requests of 32 tokens, true length 200 (1 generated): 199 to go
  const FuturePeakAllocator a;
  f.rules = {.critical = {.enabled = false}, .reserve = {.enabled = false}};
  // Running alone: peak at t = 198: 3 x (230 / 16 + 0.5) = 44.625 blocks.
  CHECK_THAT(a.running_peak(f.view()), Catch::Matchers::WithinAbs(3 * (230.0 / 16 + 0.5), 1e-9));
  // Pool of 100 blocks. A guest of 40 + 200 tokens peaks at t = 198 too:
  // 44.625 + (40 + 198) / 16 + 0.5 = 60.0 -> fits.
  CHECK(f.admit(a, HostsFixture::guest(40, 200)));
  // 40 + 1000: peaks at its own end (t = 999, hosts gone): 1039 / 16 + 0.5 = 65.44 -> fits.
  CHECK(f.admit(a, HostsFixture::guest(40, 1000)));
  // 40 + 1600: 1639 / 16 + 0.5 = 102.9 > 100 -> refused.
  CHECK_FALSE(f.admit(a, HostsFixture::guest(40, 1600)));
  // A prompt of 1000 tokens, 10 outputs: t = 0..9 with the hosts: 3 x (41/16 + 0.5) + 1009/16 + 0.5 = 72.7 -> fits.
  CHECK(f.admit(a, HostsFixture::guest(1000, 10)));
  // G = 30 blocks leaves 70: refused.
  f.rules.reserve = {.fraction = 0.3};
  CHECK_FALSE(f.admit(a, HostsFixture::guest(1000, 10)));
  f.rules.reserve = {.enabled = false};
  // The grant takes only this step's blocks: nothing is reserved ahead.
  CHECK(f.admit(a, HostsFixture::guest(40, 200))->reserve_blocks == 3);
}
