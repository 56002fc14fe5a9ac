// CacheOPT component 1: output-length estimators and Hoeffding padding, exact values.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <random>
#include <vector>

#include "cacheopt_test_util.hpp"
#include "kvsched/policy/estimator/external_estimator.hpp"
#include "kvsched/policy/estimator/history_estimator.hpp"
#include "kvsched/policy/estimator/hoeffding_padding.hpp"
#include "kvsched/policy/estimator/noisy_oracle_estimator.hpp"
#include "kvsched/policy/estimator/oracle_estimator.hpp"
#include "kvsched/policy/estimator/padded_estimator.hpp"
#include "kvsched/policy/estimator/sliding_samples.hpp"

using namespace kvsched;
using Catch::Matchers::WithinAbs;

namespace {
RequestSpec spec(RequestId id, std::int32_t prompt, std::int32_t max_tokens, std::optional<std::int32_t> oracle = {},
                 std::uint16_t cls = 0) {
  return {.id = id, .prompt_tokens = prompt, .max_tokens = max_tokens, .class_id = cls, .oracle_output_tokens = oracle};
}
Request finished(const RequestSpec& s, std::int32_t output) {
  return {.state = RequestState::kFinished, .num_generated = output, .spec = s};
}
}  // namespace

TEST_CASE("Hoeffding padding t(p) = R sqrt(ln(1/(1-p))/2)", "[cacheopt][padding]") {
  // ln(20) / 2 = 1.4978661367769954, sqrt = 1.2238734153404083
  CHECK_THAT(HoeffdingPadding::hoeffding_t(100.0, 0.95), WithinAbs(122.38734153404083, 1e-9));
  // p = 0.8: ln(5) / 2 = 0.8047189562170501, sqrt = 0.8970612889965..., x 60
  CHECK_THAT(HoeffdingPadding::hoeffding_t(60.0, 0.8), WithinAbs(60.0 * std::sqrt(std::log(5.0) / 2.0), 1e-12));
  CHECK_THAT(HoeffdingPadding::hoeffding_t(60.0, 0.8), WithinAbs(53.82367733979, 1e-9));
  CHECK(HoeffdingPadding::hoeffding_t(0.0, 0.95) == 0.0);
  CHECK(HoeffdingPadding::hoeffding_t(100.0, 0.0) == 0.0);
}

TEST_CASE("target probability follows the arrival rate linearly", "[cacheopt][padding]") {
  HoeffdingPadding pad({.p_hi = 0.95, .p_lo = 0.80, .rate_lo_rps = 2.0, .rate_hi_rps = 10.0});
  CHECK(pad.target_probability(0.0) == 0.95);
  CHECK(pad.target_probability(2.0) == 0.95);
  CHECK_THAT(pad.target_probability(6.0), WithinAbs(0.875, 1e-12));
  CHECK_THAT(pad.target_probability(8.0), WithinAbs(0.8375, 1e-12));
  CHECK(pad.target_probability(10.0) == 0.80);
  CHECK(pad.target_probability(50.0) == 0.80);
  HoeffdingPadding rising({.p_hi = 0.95, .p_lo = 0.80, .rate_lo_rps = 2.0, .rate_hi_rps = 10.0, .p_falls_with_rate = false});
  CHECK(rising.target_probability(1.0) == 0.80);
  CHECK_THAT(rising.target_probability(4.0), WithinAbs(0.8375, 1e-12));
  CHECK(rising.target_probability(12.0) == 0.95);
}

TEST_CASE("error range R is learned online from finished requests", "[cacheopt][padding]") {
  HoeffdingPadding pad({.rate_lo_rps = 1.0, .rate_hi_rps = 8.0, .window = 3, .min_errors = 3});
  pad.record(110, 100);  // e = +10
  pad.record(90, 100);   // e = -10
  CHECK(pad.cold());
  CHECK(pad.padded(200, 1000, 0.0) == 1000);  // cold start: max_tokens
  pad.record(150, 100);  // e = +50
  CHECK_FALSE(pad.cold());
  CHECK(pad.range() == 60.0);  // max - min = 50 - (-10)
  // p = 0.95 at rate 0: x_tilde = 200 + 60 x 1.2238734153404083
  CHECK_THAT(pad.padded(200, 1000, 0.0), WithinAbs(273.4324049204245, 1e-9));
  CHECK(pad.padded(990, 1000, 0.0) == 1000);  // capped at max_tokens
  pad.record(100, 100);  // e = 0 pushes out +10: window {-10, +50, 0}
  CHECK(pad.range() == 60.0);
  pad.record(100, 100);  // pushes out -10: window {+50, 0, 0}
  CHECK(pad.range() == 50.0);

  HoeffdingPadding under({.window = 10, .min_errors = 1, .range = ErrorRange::kUnderOnly});
  under.record(90, 100);
  under.record(130, 100);
  CHECK(under.range() == 30.0);  // only the under-estimate (+30) counts
  HoeffdingPadding over_only({.window = 10, .min_errors = 1, .range = ErrorRange::kUnderOnly});
  over_only.record(50, 100);
  CHECK(over_only.range() == 0.0);

  // Relative errors: e = (x_true - x_hat) / x_hat; padding = x_hat x t.
  HoeffdingPadding rel({.window = 10, .min_errors = 2, .relative = true});
  rel.record(120, 100);  // +0.2
  rel.record(40, 50);    // -0.2
  CHECK_THAT(rel.range(), WithinAbs(0.4, 1e-12));
  CHECK_THAT(rel.padded(300, 4000, 0.0), WithinAbs(300 + 300 * 0.4 * 1.2238734153404083, 1e-9));

  HoeffdingPadding off({.enabled = false});
  CHECK(off.padded(200, 1000, 0.0) == 200);
}

TEST_CASE("padded estimator: x_hat from the base, x_tilde padded, conditioned on progress", "[cacheopt][padding]") {
  PaddedEstimator<OracleEstimator> est;
  est.padding = HoeffdingPadding({.window = 10, .min_errors = 1});
  SchedulerView v;
  Request r;
  r.spec = spec(1, 100, 500, 200);
  // Cold: point = oracle, upper = max_tokens.
  CHECK(est.estimate(r, v).point == 200);
  CHECK(est.estimate(r, v).upper == 500);
  // The oracle makes no error: R = 0, upper = point.
  est.observe(finished(spec(2, 50, 500, 80), 80));
  CHECK(est.padding.range() == 0.0);
  CHECK(est.estimate(r, v).upper == 200);
  // A request that outlived its estimate is estimated at generated + 1.
  r.num_generated = 250;
  CHECK(est.estimate(r, v).point == 251);
  // Never above max_tokens.
  r.spec.oracle_output_tokens = 900;
  r.num_generated = 0;
  CHECK(est.estimate(r, v).point == 500);
}

TEST_CASE("noisy oracle: deterministic per request, configured error distribution", "[cacheopt][estimator]") {
  NoisyOracleEstimator ten{{.distribution = NoiseDistribution::kConstant, .level = 10.0}};
  NoisyOracleEstimator tenth{{.distribution = NoiseDistribution::kConstant, .level = 0.1, .min_factor = 0.01}};
  const RequestSpec s = spec(5, 100, 4000, 120);
  CHECK(ten.predict(s, 0) == 1200);
  CHECK(tenth.predict(s, 0) == 12);
  CHECK(tenth.predict(s, 40) == 41);  // outlived: generated + 1

  NoisyOracleEstimator normal{{.distribution = NoiseDistribution::kNormal, .level = 0.3}};
  CHECK(normal.predict(s, 0) == normal.predict(s, 0));
  // Over many requests the relative error has mean ~0 and standard deviation ~level.
  double sum = 0, sq = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double f = normal.factor(static_cast<std::uint64_t>(i)) - 1.0;
    sum += f;
    sq += f * f;
  }
  const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  CHECK(std::abs(mean) < 0.01);
  CHECK(std::abs(sd - 0.3) < 0.01);
  NoisyOracleEstimator uni{{.distribution = NoiseDistribution::kUniform, .level = 0.5}};
  for (int i = 0; i < 1000; ++i) {
    const double f = uni.factor(static_cast<std::uint64_t>(i));
    REQUIRE(f >= 0.5);
    REQUIRE(f <= 1.5);
  }
  // A different seed gives different errors.
  NoisyOracleEstimator other{{.distribution = NoiseDistribution::kNormal, .level = 0.3, .seed = 2}};
  CHECK(other.factor(5) != normal.factor(5));
}

TEST_CASE("external estimator reads predicted_output_tokens", "[cacheopt][estimator]") {
  ExternalEstimator ext;
  RequestSpec s = spec(1, 10, 300);
  CHECK(ext.predict(s, 0) == 300);  // missing: max_tokens
  ext.missing_tokens = 64;
  CHECK(ext.predict(s, 0) == 64);
  s.predicted_output_tokens = 40;
  CHECK(ext.predict(s, 0) == 40);
  CHECK(ext.predict(s, 45) == 46);
}

TEST_CASE("history estimator: conditional quantiles by prompt bucket and class, no oracle", "[cacheopt][estimator]") {
  HistoryEstimator h({.quantile = 0.5, .bucket_base = 2.0, .window = 100, .min_samples = 4, .min_above = 2});
  CHECK(h.bucket(1) == 0);
  CHECK(h.bucket(64) == 6);
  CHECK(h.bucket(127) == 6);
  CHECK(h.bucket(128) == 7);
  // Cold start: max_tokens.
  CHECK(h.predict(spec(0, 100, 500), 0) == 500);
  // Class 0, prompt bucket 6 (64..127 tokens): outputs 10, 20, 30, 40, 50.
  int id = 1;
  for (int out : {10, 20, 30, 40, 50}) h.observe(finished(spec(static_cast<RequestId>(id++), 100, 500), out));
  // Class 0, bucket 9 (512..1023): outputs 300, 310, 320, 330.
  for (int out : {300, 310, 320, 330}) h.observe(finished(spec(static_cast<RequestId>(id++), 600, 500), out));
  // Median (nearest rank: ceil(0.5 n)-th) of bucket 6 = 30; the oracle field is ignored.
  CHECK(h.predict(spec(99, 90, 500, /*oracle=*/7), 0) == 30);
  // Given 30 tokens already generated: outputs > 30 are {40, 50}, median = 40.
  CHECK(h.predict(spec(99, 90, 500), 30) == 40);
  // Given 45: only {50} is above, fewer than min_above -> class level (all class 0:
  // {10..50, 300..330}); above 45: {50, 300, 310, 320, 330}, median = 310.
  CHECK(h.predict(spec(99, 90, 500), 45) == 310);
  // Bucket 9's own median: {300, 310, 320, 330} -> 2nd = 310.
  CHECK(h.predict(spec(99, 700, 500), 0) == 310);
  // An unseen bucket (bucket 3) backs off to class 0: 9 samples, 5th smallest = 50.
  CHECK(h.predict(spec(99, 10, 500), 0) == 50);
  // An unseen class backs off to all requests (the same 9 here).
  CHECK(h.predict(spec(99, 10, 500, {}, 3), 0) == 50);
  // Outlived all history: doubling rule.
  CHECK(h.predict(spec(99, 90, 500), 400) == 500);  // min(max_tokens, 2 x 400)
  CHECK(h.predict(spec(99, 90, 1000), 400) == 800);
  // The window slides: 100 more outputs of 7 in bucket 6 replace the old ones.
  for (int i = 0; i < 100; ++i) h.observe(finished(spec(static_cast<RequestId>(id++), 100, 500), 7));
  CHECK(h.predict(spec(99, 90, 500), 0) == 7);
}

TEST_CASE("sliding samples: the window's sorted order and quantiles equal a full sort of the last n samples", "[estimator]") {
  // SlidingSamples replaces the oldest sample in one shift of the sorted window; a reference
  // keeps the window in arrival order and sorts a copy. Few distinct values: many duplicates.
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> value(0, 40);
  for (const std::size_t cap : {1u, 2u, 7u, 100u}) {
    SlidingSamples w(cap);
    std::deque<double> ref;
    for (int i = 0; i < 2000; ++i) {
      const double x = value(rng);
      w.add(x);
      ref.push_back(x);
      if (ref.size() > cap) ref.pop_front();
      std::vector<double> sorted(ref.begin(), ref.end());
      std::sort(sorted.begin(), sorted.end());
      REQUIRE(w.size() == sorted.size());
      CHECK(w.min() == sorted.front());
      CHECK(w.max() == sorted.back());
      for (const double q : {0.0, 0.3, 0.5, 0.7, 0.99, 1.0}) {
        const auto k = std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size()))), 1, sorted.size());
        REQUIRE(w.quantile(q) == sorted[k - 1]);
      }
      REQUIRE(w.count_above(20.0) == static_cast<std::size_t>(std::count_if(sorted.begin(), sorted.end(), [](double v) { return v > 20.0; })));
    }
  }
}
