// Metrics on hand-computed cases: percentiles (type 7), TTFT, TBT over gaps and per-request
// maxima, attainments, goodput, throughput. Times are binary fractions so sums are exact.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/percentile.hpp"

using namespace kvsched;
using namespace kvsched::sim;

TEST_CASE("percentiles interpolate linearly between closest ranks (NumPy's default)") {
  const std::vector<double> x{1.0, 2.0, 3.0, 4.0};
  CHECK(percentile_sorted(x, 0.0) == 1.0);
  CHECK(percentile_sorted(x, 0.25) == 1.75);
  CHECK(percentile_sorted(x, 0.5) == 2.5);
  CHECK(percentile_sorted(x, 0.99) == Approx(3.97));
  CHECK(percentile_sorted(x, 1.0) == 4.0);
  CHECK(percentile_sorted(std::vector<double>{7.0}, 0.99) == 7.0);
  CHECK(std::isnan(percentile_sorted(std::vector<double>{}, 0.5)));
  std::vector<double> y{4.0, 1.0, 3.0, 2.0};
  const Summary s = summarize(y);
  CHECK(s.count == 4);
  CHECK(s.mean == 2.5);
  CHECK(s.p50 == 2.5);
  CHECK(s.p90 == Approx(3.7));
  CHECK(s.max == 4.0);
  std::vector<double> z{4.0, 1.0, 3.0, 2.0};
  std::vector<double> cdf;
  (void)summarize(z, &cdf);
  CHECK(cdf == cdf_points(x));
  REQUIRE(cdf.size() == cdf_probabilities().size());
  CHECK(cdf.front() == 1.0);
  CHECK(cdf.back() == 4.0);
  CHECK(std::is_sorted(cdf_probabilities().begin(), cdf_probabilities().end()));
  CHECK(std::adjacent_find(cdf_probabilities().begin(), cdf_probabilities().end()) == cdf_probabilities().end());
}

TEST_CASE("selection percentiles equal sorted ones on random samples with ties") {
  std::mt19937_64 rng(3);
  for (std::size_t n : {1u, 2u, 3u, 10u, 1000u, 12345u}) {
    std::vector<double> v(n);
    for (auto& x : v) x = static_cast<double>(rng() % 500) / 7.0;
    auto sorted = v;
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> qs(cdf_probabilities().begin(), cdf_probabilities().end());
    qs.push_back(0.999);
    qs.push_back(0.123);
    const auto got = percentiles(v, qs);
    for (std::size_t i = 0; i < qs.size(); ++i) {
      INFO("n " << n << " q " << qs[i]);
      CHECK(got[i] == percentile_sorted(sorted, qs[i]));
    }
  }
}

namespace {
RequestOutcome outcome(RequestId id, std::uint16_t cls, RequestState st, double arrival, std::vector<double> tokens,
                       double first_scheduled) {
  RequestOutcome o;
  o.id = id;
  o.class_id = cls;
  o.state = st;
  o.arrival_s = arrival;
  o.slo = {1.5, 0.2};
  o.token_times_s = std::move(tokens);
  o.first_scheduled_s = first_scheduled;
  return o;
}
}  // namespace

TEST_CASE("metrics of four requests, computed by hand") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // A: TTFT 1.0 ok; gaps .125 .25 .125 -> largest .25 > TBT SLO .2: fails TBT.
  // B: TTFT .25 ok; gap .125 ok: meets both.
  // C: rejected: fails both.  D: TTFT 2.0 > 1.5 fails; one token, no gap: meets TBT.
  const std::vector<RequestOutcome> o{
      outcome(0, 0, RequestState::kFinished, 0.0, {1.0, 1.125, 1.375, 1.5}, 0.5),
      outcome(1, 0, RequestState::kFinished, 0.5, {0.75, 0.875}, 0.5),
      outcome(2, 1, RequestState::kRejected, 1.0, {}, nan),
      outcome(3, 1, RequestState::kFinished, 2.0, {4.0}, 3.0),
  };
  CHECK(o[0].ttft_s() == 1.0);
  CHECK(o[0].tbt_max_s() == 0.25);
  CHECK(o[0].tpot_s() == Approx(0.5 / 3));
  CHECK(o[0].e2e_s() == 1.5);
  CHECK_FALSE(o[0].tbt_ok());
  CHECK(o[1].tbt_ok());
  CHECK(o[3].tbt_ok());
  CHECK_FALSE(o[3].ttft_ok());
  CHECK(std::isnan(o[3].tbt_max_s()));

  const Metrics m = compute_metrics(o);
  CHECK(m.num_requests == 4);
  CHECK(m.num_finished == 3);
  CHECK(m.num_rejected == 1);
  CHECK(m.output_tokens == 7);
  // TTFT {0.25, 1, 2}
  CHECK(m.ttft_s.count == 3);
  CHECK(m.ttft_s.p50 == 1.0);
  CHECK(m.ttft_s.p90 == Approx(1.8));
  CHECK(m.ttft_s.p99 == Approx(1.98));
  CHECK(m.ttft_s.mean == Approx(3.25 / 3));
  // TBT gaps {.125, .125, .125, .25}
  CHECK(m.tbt_s.count == 4);
  CHECK(m.tbt_s.p50 == 0.125);
  CHECK(m.tbt_s.p99 == Approx(0.24625));  // h = 2.97: .125 + .97 x .125
  CHECK(m.tbt_s.max == 0.25);
  CHECK(m.tbt_s.mean == 0.15625);
  // Per-request largest gap {.125, .25}
  CHECK(m.tbt_max_s.count == 2);
  CHECK(m.tbt_max_s.p50 == 0.1875);
  CHECK(m.tbt_max_s.p99 == Approx(0.24875));
  // E2E {0.375, 1.5, 2}, queueing {0.5, 0, 1}
  CHECK(m.e2e_s.p99 == Approx(1.99));
  CHECK(m.queue_s.count == 3);
  CHECK(m.queue_s.p50 == 0.5);
  CHECK(m.ttft_slo_attainment == 0.5);
  CHECK(m.tbt_slo_attainment == 0.5);
  CHECK(m.slo_attainment == 0.25);
  CHECK(m.tbt_gap_slo_attainment == 0.75);
  CHECK(m.makespan_s == 4.0);
  CHECK(m.goodput_rps == 0.25);
  CHECK(m.throughput_rps == 0.75);
  CHECK(m.throughput_tok_s == 1.75);

  const Metrics c0 = compute_metrics(o, 0);
  CHECK(c0.num_requests == 2);
  CHECK(c0.ttft_slo_attainment == 1.0);
  CHECK(c0.tbt_slo_attainment == 0.5);
  CHECK(c0.makespan_s == 1.5);
  const Metrics c1 = compute_metrics(o, 1);
  CHECK(c1.num_rejected == 1);
  CHECK(c1.slo_attainment == 0.0);
  CHECK(c1.tbt_s.count == 0);
  CHECK(std::isnan(c1.tbt_s.p99));
}

TEST_CASE("no SLO target means every delivered request meets it") {
  RequestOutcome o = outcome(0, 0, RequestState::kFinished, 0.0, {10.0, 20.0}, 0.0);
  o.slo = {0.0, 0.0};
  CHECK(o.ttft_ok());
  CHECK(o.tbt_ok());
  o.state = RequestState::kAborted;  // an unfinished request never meets the TBT SLO
  CHECK_FALSE(o.tbt_ok());
  const Metrics empty = compute_metrics(std::vector<RequestOutcome>{});
  CHECK(empty.num_requests == 0);
  CHECK(empty.goodput_rps == 0.0);
}
