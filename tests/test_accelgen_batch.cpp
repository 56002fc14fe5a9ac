// Multi-resource-aware batching (docs/design.md section 3.3.3): on crafted cases where a
// compute-only or a KV-only greedy choice leaves one resource idle, the selector fills both.
#include <catch2/catch.hpp>

#include <algorithm>

#include "accelgen_test_util.hpp"
#include "kvsched/policy/batch/multi_resource_batch.hpp"

using namespace kvsched;
using kvsched::testing::ViewFixture;
using kvsched::testing::ids;
using kvsched::testing::spec;

namespace {

struct Use {
  std::int64_t tokens = 0, blocks = 0;
};

/// Resources used when requests are admitted in `order` while each fits whole in both
/// residuals (what the admission loop does with whole prompts).
Use admit_whole(const MultiResourceBatch& b, const SchedulerView& v, const std::vector<Request*>& order, std::int64_t f0,
                std::int64_t k0) {
  Use u;
  for (const Request* r : order) {
    const auto d = b.demand(*r, v);
    if (u.tokens + d.compute_tokens > f0 || u.blocks + d.kv_blocks > k0) continue;
    u.tokens += d.compute_tokens;
    u.blocks += d.kv_blocks;
  }
  return u;
}

/// Greedy baselines: anchor first, then the largest compute (or KV) demand first.
std::vector<Request*> greedy(const MultiResourceBatch& b, const SchedulerView& v, std::vector<Request*> c, bool by_kv) {
  std::stable_sort(c.begin() + 1, c.end(), [&](const Request* x, const Request* y) {
    const auto dx = b.demand(*x, v), dy = b.demand(*y, v);
    return by_kv ? dx.kv_blocks > dy.kv_blocks : dx.compute_tokens > dy.compute_tokens;
  });
  return c;
}

/// A fixture with F0 = 1000 tokens of budget and K0 = 200 free blocks (16 tokens each); one
/// running decode (so that KV-infeasible candidates may be dropped) whose growth is ignored.
/// Hand-built views bind no estimator: the expected output is max_tokens, which spec() sets to
/// the true length.
struct Case {
  ViewFixture f{kvsched::testing::engine(201)};
  MultiResourceBatch b;
  Case() {
    b.config.subtract_running_growth = false;
    f.add(spec(99, 8, 2, 1.0, 0.1), RequestState::kRunning, 8, 1, 0.0);
    REQUIRE(f.blocks.allocate_slots(99, 9));  // 1 block held: 200 available
  }
  Request& cand(RequestId id, std::int32_t prompt, std::int32_t out) {
    Request& r = f.add(spec(id, prompt, out, 1.0, 0.1), RequestState::kWaiting);
    f.cands.push_back(&r);
    return r;
  }
};

/// The selector against a greedy baseline on one Case: candidates {id, prompt, output} in
/// queue order, the selection (ids) and what admitting each choice whole uses of F0 and K0.
struct Duel {
  std::vector<RequestId> selected;
  Use mine, greedy;
};
struct Cand {
  RequestId id;
  std::int32_t prompt, out;
};
Duel duel(std::initializer_list<Cand> cands, bool greedy_by_kv) {
  Case c;
  for (const Cand& x : cands) c.cand(x.id, x.prompt, x.out);
  const std::vector<Request*> before = c.f.cands;
  std::vector<Request*> sel = c.f.cands;
  c.b.select(sel, c.f.view(0.0, 1000));
  return {ids(sel), admit_whole(c.b, c.f.view(), sel, 1000, 200),
          admit_whole(c.b, c.f.view(), greedy(c.b, c.f.view(), before, greedy_by_kv), 1000, 200)};
}

}  // namespace

TEST_CASE("multi-resource batch: demand and free KV") {
  Case c;
  Request& r = c.cand(1, 480, 1121);  // 480 + 1121 - 1 = 1600 tokens = 100 blocks
  CHECK(c.b.demand(r, c.f.view()).compute_tokens == 480);
  CHECK(c.b.demand(r, c.f.view()).kv_blocks == 100);
  CHECK(c.b.free_kv_blocks(c.f.view(0.0, 1000)) == 200);
  c.b.config.subtract_running_growth = true;  // the decode ends at 8 + 2 - 1 = 9 tokens: 1 block, held
  CHECK(c.b.free_kv_blocks(c.f.view(0.0, 1000)) == 200);
  CHECK(c.b.expected_output(*c.f.running[0], c.f.view()) == 2);
}

TEST_CASE("multi-resource batch: beats compute-only greedy") {
  //        id   f (prompt)   k (blocks)
  //  X      1        8            1      anchor
  //  A      2      900           63      largest compute: leaves the KV idle
  //  B      3      480          100
  //  C      4      480           99
  const Duel d = duel({{1, 8, 9}, {2, 900, 100}, {3, 480, 1121}, {4, 480, 1105}}, /*greedy_by_kv=*/false);
  // X, then C and B (C points closer to the residual's direction) fill both resources; A no
  // longer fits the KV and is dropped.
  CHECK(d.selected == std::vector<RequestId>{1, 4, 3});
  CHECK((d.mine.tokens == 968 && d.mine.blocks == 200));
  CHECK((d.greedy.tokens == 908 && d.greedy.blocks == 64));
  CHECK((d.mine.tokens > d.greedy.tokens && d.mine.blocks > d.greedy.blocks));
}

TEST_CASE("multi-resource batch: beats KV-only greedy") {
  //  X      1        8            1      anchor
  //  D      2      100          199      largest KV: leaves the compute idle
  //  E      3      480          100
  //  G      4      480           99
  const Duel d = duel({{1, 8, 9}, {2, 100, 3085}, {3, 480, 1121}, {4, 480, 1105}}, /*greedy_by_kv=*/true);
  CHECK(d.selected == std::vector<RequestId>{1, 4, 3});
  CHECK(d.mine.tokens == 968);
  CHECK((d.greedy.tokens == 108 && d.greedy.blocks == 200));
  CHECK(d.mine.tokens > d.greedy.tokens);
}

TEST_CASE("multi-resource batch: priority order is kept across SLO groups, long prompts go after whole fits") {
  Case c;
  // Anchor TBT 0.1; a looser candidate (0.5) must come after every similar one that fits.
  Request& a = c.cand(1, 100, 10);
  Request& loose = c.f.add(spec(2, 100, 10, 1.0, 0.5), RequestState::kWaiting);
  c.f.cands.push_back(&loose);
  Request& lng = c.cand(3, 2000, 10);  // does not fit whole in 1000 tokens: chunked, after the whole fits
  Request& sim = c.cand(4, 200, 10);
  (void)a, (void)lng, (void)sim;
  std::vector<Request*> sel = c.f.cands;
  c.b.select(sel, c.f.view(0.0, 1000));
  CHECK(ids(sel) == std::vector<RequestId>{1, 4, 2, 3});
  SECTION("KV-infeasible candidates are kept last when dropping is off") {
    c.b.config.drop_kv_infeasible = false;
    Request& huge = c.cand(5, 100, 4000);  // 4099 tokens: 257 blocks > 200
    (void)huge;
    std::vector<Request*> s2 = c.f.cands;
    c.b.select(s2, c.f.view(0.0, 1000));
    CHECK(ids(s2) == std::vector<RequestId>{1, 4, 2, 3, 5});
  }
  SECTION("and dropped when it is on") {
    Request& huge = c.cand(5, 100, 4000);
    (void)huge;
    std::vector<Request*> s2 = c.f.cands;
    c.b.select(s2, c.f.view(0.0, 1000));
    CHECK(ids(s2) == std::vector<RequestId>{1, 4, 2, 3});
  }
}
