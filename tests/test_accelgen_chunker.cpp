// SLO-guaranteed dynamic chunking (docs/design.md section 3.3.1): exact token budgets and chunk
// sizes from a hand-set latency model.
#include <catch2/catch.hpp>

#include <map>

#include "accelgen_test_util.hpp"
#include "kvsched/policy/chunker/slo_dynamic_chunker.hpp"
#include "kvsched/presets/accelgen.hpp"
#include "kvsched/scheduler/scheduler.hpp"

using namespace kvsched;
using kvsched::testing::ViewFixture;
using kvsched::testing::spec;

// With linear_coeffs(): t(F) = 0.010 + 2e-5 x max(F, 256) s for F > 0 tokens. SLOs are picked
// so that the boundary falls between two integers (no rounding ties).

TEST_CASE("max_chunk_within: largest chunk under the SLO on a linear model") {
  const LatencyModel lm(kvsched::testing::linear_coeffs());
  const BatchShape empty{};
  // 2e-5 c <= 0.04005  ->  c <= 2002.5
  CHECK(SloDynamicChunker::max_chunk_within(lm, empty, 0, 0.05005, 8192) == 2002);
  CHECK(SloDynamicChunker::max_chunk_within(lm, empty, 0, 0.05005, 1000) == 1000);  // clipped to hi
  CHECK(SloDynamicChunker::max_chunk_within(lm, empty, 0, 0.05005, 0) == 0);
  // Flat below the pivot: t(1) = t(256) = 0.01512 s.
  CHECK(SloDynamicChunker::max_chunk_within(lm, empty, 0, 0.0151, 8192) == 0);
  CHECK(SloDynamicChunker::max_chunk_within(lm, empty, 0, 0.01513, 8192) == 256);
  // Decodes already in the batch take their share of the forward size.
  BatchShape ten;
  for (int i = 0; i < 10; ++i) ten.add_decode(1000);
  CHECK(SloDynamicChunker::max_chunk_within(lm, ten, 0, 0.05005, 8192) == 1992);
}

TEST_CASE("max_chunk_within: matches a brute-force scan with attention terms") {
  const LatencyModel lm(kvsched::testing::attention_coeffs());
  BatchShape base;
  for (int i = 0; i < 37; ++i) base.add_decode(700 + 13 * i);
  for (const double slo : {0.02, 0.03, 0.05, 0.08, 0.15})
    for (const std::int64_t ctx : {0, 512, 3000}) {
      std::int32_t expect = 0;
      for (std::int32_t c = 1; c <= 8192; ++c) {
        BatchShape b = base;
        b.add_prefill(c, ctx);
        if (lm.iteration_s(b) <= slo) expect = c;
      }
      INFO("slo " << slo << " ctx " << ctx);
      CHECK(SloDynamicChunker::max_chunk_within(lm, base, ctx, slo, 8192) == expect);
    }
}

TEST_CASE("token budget: largest forward size within the tightest TBT SLO of running requests and the anchor") {
  ViewFixture f;
  SloDynamicChunker ch;
  // 10 running decodes with 1000 context tokens each and a TBT SLO of 0.10001 s.
  for (RequestId i = 0; i < 10; ++i) f.add(spec(i, 1000, 100, 1.0, 0.10001), RequestState::kRunning, 1000, 1, 0.0);
  SECTION("running only: (0.10001 - 0.010) / 2e-5 = 4500.5 -> 4500 tokens") {
    ch.begin_step(f.view());
    CHECK(ch.token_budget(f.view()) == 4500);
    CHECK(ch.step_slo_s() == 0.10001);
  }
  SECTION("a tighter most-urgent candidate fixes the batch SLO: 2002 tokens") {
    Request& c = f.add(spec(100, 300, 10, 1.0, 0.05005), RequestState::kWaiting);
    f.cands = {&c};
    ch.begin_step(f.view());
    CHECK(ch.token_budget(f.view()) == 2002);
  }
  SECTION("a tighter candidate that is not the anchor does not") {
    Request& a = f.add(spec(100, 300, 10, 1.0, 0.2), RequestState::kWaiting);
    Request& b = f.add(spec(101, 300, 10, 1.0, 0.05005), RequestState::kWaiting);
    f.cands = {&a, &b};
    ch.begin_step(f.view());
    CHECK(ch.token_budget(f.view()) == 4500);
  }
  SECTION("capped by max_budget_tokens, then by the engine") {
    ch.config.max_budget_tokens = 3000;
    ch.begin_step(f.view());
    CHECK(ch.token_budget(f.view()) == 3000);
  }
}

TEST_CASE("token budget: worst-case context of an ongoing prefill and attention terms") {
  ViewFixture f(kvsched::testing::engine(), kvsched::testing::attention_coeffs());
  SloDynamicChunker ch;
  f.add(spec(1, 6000, 10, 10.0, 0.08), RequestState::kRunning, 2500, 0);  // long prefill, 2500 done
  for (RequestId i = 2; i < 6; ++i) f.add(spec(i, 400, 100, 1.0, 0.15), RequestState::kRunning, 449, 50, 0.0);
  ch.begin_step(f.view());
  // Brute force: 4 decodes + one chunk of (F - 4) tokens at context 2500, within 0.08 s.
  BatchShape dec;
  for (int i = 0; i < 4; ++i) dec.add_decode(449);
  std::int32_t expect = 0;
  for (std::int32_t F = 5; F <= 8192; ++F) {
    BatchShape b = dec;
    b.add_prefill(F - 4, 2500);
    if (f.lm.iteration_s(b) <= 0.08) expect = F;
  }
  REQUIRE(expect > 256);
  CHECK(ch.token_budget(f.view()) == expect);
}

TEST_CASE("token budget: no SLO anywhere gives the engine's budget; an impossible SLO gives decodes only") {
  ViewFixture f;
  SloDynamicChunker ch;
  f.add(spec(1, 100, 10, 0.0, 0.0), RequestState::kRunning, 100, 1, 0.0);
  ch.begin_step(f.view());
  CHECK(ch.token_budget(f.view()) == 8192);
  f.add(spec(2, 100, 10, 1.0, 0.005), RequestState::kRunning, 100, 1, 0.0);  // below the 10 ms overhead
  ch.begin_step(f.view());
  CHECK(ch.token_budget(f.view()) == 2);
  // No decodes and no feasible size: the progress floor.
  ViewFixture g;
  g.add(spec(3, 900, 10, 1.0, 0.005), RequestState::kRunning, 0, 0);
  ch.begin_step(g.view());
  CHECK(ch.token_budget(g.view()) == 16);
  CHECK(ch.chunk(*g.running[0], 900, g.view(0.0, 16)) == 16);
}

TEST_CASE("chunk: long prompts take what decodes and short prompts leave, one at a time") {
  ViewFixture f;
  SloDynamicChunker ch;
  f.add(spec(1, 300, 10, 1.0, 0.05005), RequestState::kRunning, 300, 1, 0.0);  // a decode
  Request& lng = f.add(spec(2, 4000, 10, 20.0, 0.05005), RequestState::kRunning, 1000, 0);
  Request& shrt = f.add(spec(3, 500, 10, 1.0, 0.05005), RequestState::kWaiting);
  Request& lng2 = f.add(spec(4, 3000, 10, 20.0, 0.05005), RequestState::kWaiting);
  f.cands = {&shrt, &lng2};
  ch.begin_step(f.view());
  REQUIRE(ch.token_budget(f.view()) == 2002);
  // The decode runs first.
  ch.on_scheduled(*f.running[0], 1, f.view(0.0, 2002));
  // Long chunk: 2001 left, minus the 500 tokens of the more urgent short candidate.
  CHECK(ch.chunk(lng, 3000, f.view(0.0, 2001)) == 1501);
  ch.on_scheduled(lng, 1501, f.view(0.0, 2001));
  // The short prompt fits whole: 1 + 1501 + 500 = 2002 tokens.
  CHECK(ch.chunk(shrt, 500, f.view(0.0, 500)) == 500);
  ch.on_scheduled(shrt, 500, f.view(0.0, 500));
  // A second long prompt waits for the long-prefill slot.
  CHECK(ch.chunk(lng2, 3000, f.view(0.0, 8192)) == 0);
  SECTION("with two slots it may start, but the batch is already at the SLO: 0.01 + 2e-5 x 2002 s") {
    ch.config.max_long_prefills = 2;
    CHECK(ch.chunk(lng2, 3000, f.view(0.0, 8192)) == 0);
  }
}

TEST_CASE("chunk: a tighter request admitted late gets only what keeps the batch within its SLO") {
  ViewFixture f;
  SloDynamicChunker ch;
  Request& loose = f.add(spec(1, 3000, 10, 20.0, 0.10001), RequestState::kRunning, 0, 0);
  Request& tight = f.add(spec(2, 1000, 10, 1.0, 0.03001), RequestState::kWaiting);
  ch.config.reserve_for_short_prompts = false;
  ch.begin_step(f.view());
  REQUIRE(ch.token_budget(f.view()) == 4500);
  CHECK(ch.chunk(loose, 3000, f.view(0.0, 4500)) == 3000);
  ch.on_scheduled(loose, 600, f.view(0.0, 4500));  // suppose it took only 600
  // 0.010 + 2e-5 (600 + c) <= 0.03001 -> c <= 400.5
  CHECK(ch.chunk(tight, 1000, f.view(0.0, 3900)) == 400);
}

namespace {
/// Runs one schedule() and returns {id: tokens}.
template <class S>
std::map<RequestId, std::int32_t> step(S& s, double now) {
  std::map<RequestId, std::int32_t> got;
  for (const auto& r : s.schedule(now).scheduled) got[r.id] = r.num_tokens;
  return got;
}
}  // namespace

TEST_CASE("accelgen scheduler: scenario table of budgets and chunks") {
  const LatencyModel lm(kvsched::testing::linear_coeffs());
  Scheduler<presets::accelgen> s(kvsched::testing::engine(), lm);
  using M = std::map<RequestId, std::int32_t>;
  // step 0 (t = 0):    S(300, short, anchor) and L(4000, long) arrive.
  //                    budget 2002: S whole, L the rest.          S 300, L 1702
  s.add_request(spec(1, 300, 10, 1.0, 0.05005, 0.0));
  s.add_request(spec(2, 4000, 10, 20.0, 0.05005, 0.0));
  CHECK(step(s, 0.0) == M{{1, 300}, {2, 1702}});
  s.on_step_done({0.05, {}});
  // step 1 (t = 0.05): S2(500, short) arrives; S decodes; L leaves S2 its 500 tokens.
  //                                                               S 1, L 1501, S2 500
  s.add_request(spec(3, 500, 10, 1.0, 0.05005, 0.05));
  CHECK(step(s, 0.05) == M{{1, 1}, {2, 1501}, {3, 500}});
  s.on_step_done({0.10, {}});
  // step 2 (t = 0.10): L2(3000, long) arrives and waits for the long-prefill slot.
  //                                                               S 1, S2 1, L 797
  s.add_request(spec(4, 3000, 10, 20.0, 0.05005, 0.10));
  CHECK(step(s, 0.10) == M{{1, 1}, {2, 797}, {3, 1}});
  s.on_step_done({0.15, {}});
  // step 3: L decodes now; L2 starts: 2002 - 3 decodes = 1999.    S 1, L 1, S2 1, L2 1999
  CHECK(step(s, 0.15) == M{{1, 1}, {2, 1}, {3, 1}, {4, 1999}});
  s.on_step_done({0.20, {}});
  s.block_manager().check_invariants();
}
