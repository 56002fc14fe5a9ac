// CacheOPT component 5: victim order (TBT-SLO, remaining-output and preemption-time
// buckets), swap-or-recompute crossover, cache-aware recompute cost; slack queue order.
#include <catch2/catch.hpp>

#include "cacheopt_test_util.hpp"
#include "kvsched/policy/estimator/oracle_estimator.hpp"
#include "kvsched/policy/estimator/padded_estimator.hpp"
#include "kvsched/policy/mode/latency_mode_chooser.hpp"
#include "kvsched/policy/queue/slack_queue.hpp"
#include "kvsched/policy/victim/slo_victim_selector.hpp"

using namespace kvsched;
using Catch::Matchers::WithinAbs;

namespace {
// Latency: recompute of L tokens = 1e-4 L s; swap round trip = 2 (0.01 + 1000 L / 1e8) s =
// 0.02 + 2e-5 L s. They cross at L* = 250 tokens.
const LatencyModel kLm = test::simple_latency(1e-4, 0.01, 1e8, 1000);
const PaddedEstimator<OracleEstimator> kOracle{{}, HoeffdingPadding({.enabled = false})};

/// A pool with running requests holding the blocks of their length.
struct TestPool {
  EngineConfig engine = EngineConfig{}.resolved();  // 256 seqs, 2048 tokens
  BlockManager bm;
  std::vector<Request> reqs;
  std::vector<Request*> running;
  BundleRules rules{};  // the bundle's rules, shown to the policies by view()
  TestPool(std::int32_t device, std::int32_t host, bool prefix) : bm(16, device, host, prefix) {
    engine.num_device_blocks = device;
    engine.num_host_blocks = host;
    reqs.reserve(64);
  }
  Request& add(RequestId id, std::int32_t prompt, std::int32_t generated, std::int32_t oracle, double tbt_s) {
    reqs.push_back(test::running_request(id, prompt, generated, oracle));
    Request& r = reqs.back();
    r.spec.slo.tbt_s = tbt_s;
    r.last_token_s = 0.0;
    REQUIRE(bm.allocate_slots(id, r.num_tokens()));
    bm.commit_computed(r.spec, r.num_computed_tokens);
    running.push_back(&r);
    return r;
  }
  SchedulerView view(double now = 0.0) {
    SchedulerView v = test::make_view(bm, engine, kLm, running, {}, now);
    v.bind_estimator(kOracle);
    v.bundle_rules = &rules;
    return v;
  }
};
}  // namespace

TEST_CASE("swap or recompute: latency crossover at L* = 250 tokens", "[cacheopt][mode]") {
  TestPool p(400, 100, false);
  const Request& a = p.add(1, 249, 1, 10, 0.1);  // context L = 249
  const Request& b = p.add(2, 250, 1, 10, 0.1);
  const Request& c = p.add(3, 251, 1, 10, 0.1);
  const LatencyModeChooser chooser;
  const SchedulerView v = p.view();
  const PreemptionCost pa = preemption_cost(a, v, {});
  CHECK(pa.context_tokens == 249);
  CHECK_THAT(pa.recompute_s, WithinAbs(0.0249, 1e-12));
  CHECK_THAT(pa.swap_s, WithinAbs(0.02498, 1e-12));
  CHECK(chooser.choose(a, v) == PreemptionMode::kRecompute);
  CHECK(chooser.choose(b, v) == PreemptionMode::kRecompute);  // a tie recomputes
  CHECK(chooser.choose(c, v) == PreemptionMode::kSwap);
  // Threshold mode: swap iff L > L*.
  const LatencyModeChooser thr{{.rule = ModeRule::kThreshold, .threshold_tokens = 250}};
  CHECK(thr.choose(b, v) == PreemptionMode::kRecompute);
  CHECK(thr.choose(c, v) == PreemptionMode::kSwap);
}

TEST_CASE("recompute when the host pool cannot take the victim", "[cacheopt][mode]") {
  TestPool p(400, 20, false);
  const Request& big = p.add(1, 1000, 1, 10, 0.1);  // 63 blocks > 20 host blocks
  const Request& small = p.add(2, 300, 1, 10, 0.1); // 19 blocks fit
  const SchedulerView v = p.view();
  CHECK(preemption_cost(big, v, {}).swap_possible == false);
  CHECK(LatencyModeChooser{}.choose(big, v) == PreemptionMode::kRecompute);
  CHECK(LatencyModeChooser{}.choose(small, v) == PreemptionMode::kSwap);
  TestPool none(400, 0, false);
  const Request& r = none.add(1, 1000, 1, 10, 0.1);
  CHECK(LatencyModeChooser{}.choose(r, none.view()) == PreemptionMode::kRecompute);
}

TEST_CASE("prefix caching: recompute pays only for what will be evicted before re-admission", "[cacheopt][mode]") {
  // Victim: 1,000 computed tokens, 63 blocks held, 62 full (hashed) ones.
  SECTION("plenty of clean blocks: every full block survives, recompute is cheap") {
    TestPool p(200, 100, true);
    const Request& v = p.add(1, 1000, 1, 10, 0.1);
    const SchedulerView view = p.view();
    // clean after = 137 + 1 partial; demand = ceil(1 + 32 x 1 / 16) = 3: nothing evicted.
    CHECK(expected_cached_after_recompute(v, view, {}) == 992);
    const PreemptionCost pc = preemption_cost(v, view, {});
    CHECK_THAT(pc.recompute_s, WithinAbs(8e-4, 1e-12));  // 8 tokens
    CHECK(LatencyModeChooser{}.choose(v, view) == PreemptionMode::kRecompute);
    // Cache-blind, the same victim swaps (0.1 s recompute vs 0.04 s swap).
    CHECK(LatencyModeChooser{{.cost = {.cache_aware_recompute = false}}}.choose(v, view) == PreemptionMode::kSwap);
  }
  SECTION("a tight pool: evictions reach the victim's tail first") {
    TestPool p(80, 100, true);
    Request& v = p.add(1, 1000, 1, 10, 0.1);  // 63 held
    // Another request's 10 full blocks, freed: cached and free, ahead of the victim's in the LRU.
    RequestSpec z;
    z.id = 99;
    z.prompt_tokens = 160;
    REQUIRE(p.bm.allocate_slots(99, 160));
    p.bm.commit_computed(z, 160);
    p.bm.free(99);
    REQUIRE(p.bm.device_pool().num_cached_free() == 10);
    REQUIRE(p.bm.num_free_device() == 17);  // 7 clean + 10 cached
    // 40 running requests (the view's size is what counts): demand = ceil(1 + h x 40 / 16).
    std::vector<Request*> many(40, &v);
    SchedulerView view = test::make_view(p.bm, p.engine, kLm, many);
    view.bind_estimator(kOracle);
    // h = 2: demand 6 <= 8 clean (7 + the partial block): all 62 survive.
    CHECK(expected_cached_after_recompute(v, view, {.horizon_iterations = 2}) == 992);
    // h = 8: demand 21; 21 - 8 clean - 10 cached ahead = 3 of the victim's blocks evicted.
    CHECK(expected_cached_after_recompute(v, view, {.horizon_iterations = 8}) == 59 * 16);
    // 216 tokens to recompute = 0.0216 s < 0.04 s swap: recompute.
    CHECK(LatencyModeChooser{{.cost = {.horizon_iterations = 8}}}.choose(v, view) == PreemptionMode::kRecompute);
    // h = 32: demand 81 evicts all 62: recompute 0.1 s > swap 0.04 s.
    CHECK(expected_cached_after_recompute(v, view, {.horizon_iterations = 32}) == 0);
    CHECK(LatencyModeChooser{}.choose(v, view) == PreemptionMode::kSwap);
  }
}

TEST_CASE("victim order: loose TBT SLO, long remaining output, short preemption time", "[cacheopt][victim]") {
  TestPool p(600, 200, false);
  // id, prompt, generated, true output, TBT SLO. Context L = prompt + generated - 1.
  p.add(1, 100, 100, 600, 0.1);   // A: TBT bucket 2, remaining 500 (bucket 3)
  p.add(2, 100, 51, 61, 0.2);     // B: bucket 4, remaining 10 (bucket 0)
  p.add(3, 100, 51, 351, 0.2);    // C: bucket 4, remaining 300 (bucket 2), L 150: 0.015 s (bucket 1)
  p.add(4, 1400, 101, 401, 0.2);  // D: bucket 4, remaining 300 (bucket 2), L 1500: swap 0.05 s (bucket 5)
  p.rules.critical.enabled = false;
  const SloVictimSelector sel;
  const SchedulerView v = p.view();
  CHECK(sel.key(*p.running[0], v) == SloVictimKey{2, 3, 1});  // L 199: recompute 0.0199 s
  CHECK(sel.key(*p.running[2], v) == SloVictimKey{4, 2, 1});
  CHECK(sel.key(*p.running[3], v) == SloVictimKey{4, 2, 5});
  // Preempt one after another: C, D, B, A.
  std::vector<Request*> cands = p.running;
  std::vector<RequestId> order;
  while (!cands.empty()) {
    Request* victim = sel.select(cands, *cands.front(), p.view());
    REQUIRE(victim != nullptr);
    order.push_back(victim->id());
    std::erase(cands, victim);
  }
  CHECK(order == std::vector<RequestId>{3, 4, 2, 1});
}

TEST_CASE("victim order: ties go to the latest admitted, critical requests are spared", "[cacheopt][victim]") {
  TestPool p(600, 200, false);
  p.add(1, 100, 51, 351, 0.2);
  p.add(2, 100, 51, 351, 0.2);  // same key as 1, admitted later
  p.add(3, 100, 51, 61, 0.2);   // short remaining
  p.add(4, 100, 51, 61, 0.0);   // no TBT SLO: loosest of all
  const SloVictimSelector sel;
  p.rules.critical.enabled = false;
  CHECK(sel.select(p.running, *p.running[0], p.view())->id() == 4);
  std::vector<Request*> three(p.running.begin(), p.running.begin() + 3);
  CHECK(sel.select(three, *three[0], p.view())->id() == 2);
  // At t = 0.19 with max_iteration_s 0.05, requests 1-3 (deadline 0.2) have slack 0.01 <= 0.05:
  // critical. Request 4 has no deadline. With only 1-3, all critical: the same order applies.
  p.rules.critical.enabled = true;
  SchedulerView v = p.view(0.19);
  v.max_iteration_s = 0.05;
  CHECK(sel.select(p.running, *p.running[0], v)->id() == 4);
  CHECK(sel.select(three, *three[0], v)->id() == 2);
  p.running[1]->last_token_s = 0.15;  // request 2: deadline 0.35, slack 0.16: not critical
  p.running[0]->last_token_s = 0.15;
  p.running[0]->spec.slo.tbt_s = 0.1; // request 1: tighter SLO, but the only other non-critical one
  CHECK(sel.select(three, *three[0], v)->id() == 2);
  p.running[1]->last_token_s = 0.0;   // 2 critical again: 1 is the only non-critical
  CHECK(sel.select(three, *three[0], v)->id() == 1);
}

TEST_CASE("slack queue: returning requests by TBT slack, then new ones by TTFT slack", "[cacheopt][queue]") {
  EngineConfig e = EngineConfig{}.resolved();  // 256 seqs, 2048 tokens
  e.num_device_blocks = 100;
  BlockManager bm(16, 100, 0, false);
  std::vector<Request> rs(6);
  // id: arrival, TTFT SLO, generated, last token, TBT SLO -> deadline
  auto set = [&](std::size_t i, double arrival, double ttft, std::int32_t generated, double last, double tbt) {
    rs[i].spec.id = i;
    rs[i].spec.arrival_s = arrival;
    rs[i].spec.slo = {ttft, tbt};
    rs[i].num_generated = generated;
    rs[i].spec.prompt_tokens = 10;
    if (generated > 0) rs[i].num_computed_tokens = rs[i].num_tokens() - 1;  // decoding
    rs[i].last_token_s = last;
  };
  set(0, 0.0, 2.0, 0, -1, 0.1);   // new, deadline 2.0
  set(1, 0.5, 1.0, 0, -1, 0.1);   // new, deadline 1.5
  set(2, 0.1, 1.0, 5, 0.9, 0.2);  // returning, deadline 1.1
  set(3, 0.2, 1.0, 0, -1, 0.1);   // new, deadline 1.2
  set(4, 0.0, 1.0, 9, 0.8, 0.1);  // returning, deadline 0.9
  set(5, 0.9, 0.0, 0, -1, 0.1);   // new, no TTFT SLO: last
  std::vector<Request*> q{&rs[0], &rs[1], &rs[2], &rs[3], &rs[4], &rs[5]};
  const std::vector<Request*> none;
  SchedulerView v = test::make_view(bm, e, kLm, none, q, 1.0);
  auto ids = [](const std::vector<Request*>& x) {
    std::vector<RequestId> o;
    for (auto* r : x) o.push_back(r->id());
    return o;
  };
  SECTION("full order without head-of-line blocking") {
    std::vector<Request*> w = q;
    SlackQueue{{.hol_blocking = false}}.order_waiting(w, v);
    CHECK(ids(w) == std::vector<RequestId>{4, 2, 3, 1, 0, 5});
  }
  SECTION("one order by deadline when returning requests do not go first") {
    std::vector<Request*> w = q;
    SlackQueue{{.returning_first = false, .hol_blocking = false}}.order_waiting(w, v);
    CHECK(ids(w) == std::vector<RequestId>{4, 2, 3, 1, 0, 5});  // same here: returning deadlines are earliest
    rs[4].last_token_s = 1.5;  // deadline 1.6: after the new ones due at 1.2 and 1.5
    w = q;
    SlackQueue{{.returning_first = false, .hol_blocking = false}}.order_waiting(w, v);
    CHECK(ids(w) == std::vector<RequestId>{2, 3, 1, 4, 0, 5});
  }
  SECTION("head-of-line blocking: only the first seqs_left + 1 are put in order") {
    std::vector<Request*> w = q;
    v.seqs_left = 1;
    SlackQueue{}.order_waiting(w, v);
    CHECK(ids(w)[0] == 4);
    CHECK(ids(w)[1] == 2);
    v.seqs_left = 0;  // nothing can be admitted: untouched
    w = q;
    SlackQueue{}.order_waiting(w, v);
    CHECK(ids(w) == std::vector<RequestId>{0, 1, 2, 3, 4, 5});
  }
  SECTION("running requests: critical ones first by deadline, the rest in admission order") {
    std::vector<Request*> w{&rs[0], &rs[2], &rs[4], &rs[1]};
    SlackQueue{}.order_running(w, v);  // now 1.0, max iteration 0: only 4 (due 0.9) is critical
    CHECK(ids(w) == std::vector<RequestId>{4, 0, 2, 1});
    v.max_iteration_s = 0.2;  // critical up to 1.2: decodes 4 (0.9) and 2 (1.1); 3 (1.2) is prefilling
    w = {&rs[0], &rs[2], &rs[3], &rs[4], &rs[1]};
    SlackQueue{}.order_running(w, v);
    CHECK(ids(w) == std::vector<RequestId>{4, 2, 0, 3, 1});
    w = {&rs[0], &rs[2], &rs[4], &rs[1]};
    SlackQueue{{.full_running_sort = true}}.order_running(w, v);
    CHECK(ids(w) == std::vector<RequestId>{4, 2, 1, 0});
    // A tie (both due at 0.75): incoming order is kept.
    for (std::size_t i : {2u, 4u}) {
      rs[i].last_token_s = 0.5;
      rs[i].spec.slo.tbt_s = 0.25;
    }
    for (const SlackQueue& sq : {SlackQueue{}, SlackQueue{{.full_running_sort = true}}}) {
      w = {&rs[2], &rs[4]};
      sq.order_running(w, v);
      CHECK(ids(w) == std::vector<RequestId>{2, 4});
      w = {&rs[4], &rs[2]};
      sq.order_running(w, v);
      CHECK(ids(w) == std::vector<RequestId>{4, 2});
    }
  }
  SECTION("at most max_ordered + 1 are put in order") {
    std::vector<Request*> w = q;
    v.seqs_left = 10;
    SlackQueue{{.max_ordered = 1}}.order_waiting(w, v);
    CHECK(ids(w)[0] == 4);
    CHECK(ids(w)[1] == 2);
  }
}
