// CacheOPT component 4: proactive top-up and the global reserve, exact cases.
#include <catch2/catch.hpp>

#include "cacheopt_test_util.hpp"
#include "kvsched/policy/estimator/oracle_estimator.hpp"
#include "kvsched/policy/estimator/padded_estimator.hpp"
#include "kvsched/policy/reserver/proactive_reserver.hpp"

using namespace kvsched;

namespace {
/// One running request (prompt 40, `generated` outputs, true length `oracle`) holding the
/// blocks of its current length and a reservation of `reserved` blocks, in a 100-block pool.
struct TopUpFixture : test::PoolFixture {
  Request r;

  TopUpFixture(std::int32_t generated, std::int32_t oracle, std::int32_t reserved) {
    r = test::running_request(1, 40, generated, oracle);
    running = {&r};
    REQUIRE(bm.allocate_slots(1, r.num_tokens()));
    REQUIRE(bm.set_reservation(1, reserved));
  }
};
ProactiveReserver reserver(std::int32_t headroom_tokens = 0) {
  return ProactiveReserver{{.headroom_tokens = headroom_tokens}};
}
}  // namespace

TEST_CASE("top-up triggers when headroom <= h and re-reserves the padded re-estimate", "[cacheopt][topup]") {
  SECTION("headroom 14 <= 16: raised to ceil((40 + 100 - 1) / 16) = 9 blocks") {
    TopUpFixture f(10, 100, 4);  // 50 tokens in 4 blocks (64)
    reserver().top_up(f.r, f.view(), f.bm);
    CHECK(f.bm.reservation(1) == 9);
    CHECK(f.bm.unused_reservation(1) == 5);
  }
  SECTION("headroom 19 > 16: untouched") {
    TopUpFixture f(5, 100, 4);  // 45 tokens
    reserver().top_up(f.r, f.view(), f.bm);
    CHECK(f.bm.reservation(1) == 4);
  }
  SECTION("h = 32 tokens triggers at headroom 19") {
    TopUpFixture f(5, 100, 4);
    reserver(32).top_up(f.r, f.view(), f.bm);
    CHECK(f.bm.reservation(1) == 9);
  }
  SECTION("an estimate that ends inside the reservation still gets h more tokens") {
    TopUpFixture f(10, 20, 4);  // 40 + 20 - 1 = 59 tokens fit 4 blocks; len + h = 66 -> 5
    reserver().top_up(f.r, f.view(), f.bm);
    CHECK(f.bm.reservation(1) == 5);
  }
  SECTION("a request that outlived its estimate: re-estimated at generated + 1, topped up by h") {
    TopUpFixture f(24, 10, 4);  // 64 tokens in 4 blocks, headroom 0; estimate max(10, 25) = 25
    reserver().top_up(f.r, f.view(), f.bm);
    CHECK(f.bm.reservation(1) == 5);  // max(ceil((40 + 25 - 1) / 16), ceil((64 + 16) / 16)) = 5
  }
  SECTION("partial top-up when the pool is short") {
    TopUpFixture f(10, 100, 4);
    REQUIRE(f.bm.set_reservation(9, 93));  // other promises: 100 - 4 - 93 = 3 available
    REQUIRE(f.bm.available() == 3);
    reserver().top_up(f.r, f.view(), f.bm);
    CHECK(f.bm.reservation(1) == 7);
    CHECK(f.bm.available() == 0);
  }
  SECTION("critical: only len + B") {
    TopUpFixture f(10, 100, 4);
    f.r.spec.slo.tbt_s = 0.05;
    f.r.last_token_s = 0.0;
    f.rules.critical = {.enabled = true, .kappa = 1.0};
    const ProactiveReserver crit{};
    crit.top_up(f.r, f.view(/*now=*/1.0), f.bm);  // slack -0.95 < 0: critical
    CHECK(f.bm.reservation(1) == 5);              // ceil((50 + 16) / 16)
    TopUpFixture g(10, 100, 4);
    g.r.spec.slo.tbt_s = 0.05;
    g.r.last_token_s = 0.0;
    g.rules.critical = f.rules.critical;
    crit.top_up(g.r, g.view(/*now=*/0.01), g.bm);  // slack 0.04 > kappa x 0: not critical
    CHECK(g.bm.reservation(1) == 9);
  }
  SECTION("top-up off") {
    TopUpFixture f(10, 100, 4);
    ProactiveReserver{{.top_up = false}}.top_up(f.r, f.view(), f.bm);
    CHECK(f.bm.reservation(1) == 4);
  }
}

TEST_CASE("global reserve: new admissions leave G blocks, running requests may use them", "[cacheopt][reserve]") {
  TopUpFixture f(10, 100, 4);
  const ProactiveReserver res = reserver();  // G = ceil(5% x 100) = 5
  REQUIRE(global_reserve_blocks(f.view()) == 5);
  REQUIRE(f.bm.set_reservation(9, 86));  // 100 - 4 - 86 = 10 available
  CHECK(res.can_admit(f.r, 5, f.view()));
  CHECK_FALSE(res.can_admit(f.r, 6, f.view()));
  CHECK(res.growth_floor(f.view()) == 0);
  REQUIRE(f.bm.set_reservation(9, 93));  // 3 available: inside the reserve
  CHECK_FALSE(res.can_admit(f.r, 1, f.view()));
  CHECK(res.can_admit(f.r, 0, f.view()));  // an admission that takes nothing (embedding, shared prefix)
  res.top_up(f.r, f.view(), f.bm);         // a running request's top-up may take the reserve
  CHECK(f.bm.reservation(1) == 7);
  CHECK(f.bm.available() == 0);

  // Disabled, or sized by expected overshoot: 0.1 x (ceil((40 + 4000 - 1) / 16) - 7) = 0.1 x 246 -> 25.
  CHECK(global_reserve_blocks({.enabled = false}, f.view()) == 0);
  CHECK(global_reserve_blocks({.rule = GlobalReserveRule::kExpectedOvershoot, .overshoot_probability = 0.1}, f.view()) == 25);
}
