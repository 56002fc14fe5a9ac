// kvsched/sim/metrics.hpp: per-request outcomes and the aggregate metrics of docs/design.md
// section 4 (TTFT, TBT, TPOT, E2E, queueing, SLO attainment, goodput, throughput).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "kvsched/core/request.hpp"
#include "kvsched/sim/percentile.hpp"

namespace kvsched::sim {

/// What happened to one request in a simulation. Times in seconds; NaN where undefined
/// (no token yet, fewer than two tokens, never scheduled).
struct RequestOutcome {
  RequestId id = 0;
  std::uint16_t class_id = 0;
  RequestState state = RequestState::kWaiting;  // kFinished, kRejected or kAborted at the end
  double arrival_s = 0.0;
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;       // true output length (tokens)
  std::int32_t num_preemptions = 0;
  Slo slo{};
  double first_scheduled_s = std::numeric_limits<double>::quiet_NaN();  // first time in a batch
  std::vector<double> token_times_s;    // time of every output token (s)

  /// The outcome of terminal request `r` (its token times moved out), with its true output
  /// length (tokens) and the time it was first in a batch (s, NaN if never).
  [[nodiscard]] static RequestOutcome of(Request&& r, std::int32_t output_tokens, double first_scheduled_s) {
    return {.id = r.id(), .class_id = r.spec.class_id, .state = r.state, .arrival_s = r.spec.arrival_s,
            .prompt_tokens = r.spec.prompt_tokens, .output_tokens = output_tokens, .num_preemptions = r.num_preemptions,
            .slo = r.spec.slo, .first_scheduled_s = first_scheduled_s, .token_times_s = std::move(r.token_times_s)};
  }

  [[nodiscard]] std::int32_t generated() const { return static_cast<std::int32_t>(token_times_s.size()); }
  /// Time to first token: first token time minus arrival.
  [[nodiscard]] double ttft_s() const {
    return token_times_s.empty() ? std::numeric_limits<double>::quiet_NaN() : token_times_s.front() - arrival_s;
  }
  /// End-to-end latency: last token time minus arrival (finished requests).
  [[nodiscard]] double e2e_s() const {
    return token_times_s.empty() ? std::numeric_limits<double>::quiet_NaN() : token_times_s.back() - arrival_s;
  }
  /// Time per output token after the first: (last - first) / (n - 1), n >= 2.
  [[nodiscard]] double tpot_s() const {
    const auto n = token_times_s.size();
    return n < 2 ? std::numeric_limits<double>::quiet_NaN()
                 : (token_times_s.back() - token_times_s.front()) / static_cast<double>(n - 1);
  }
  /// Largest gap between consecutive output tokens (the longest stall the user saw), n >= 2.
  [[nodiscard]] double tbt_max_s() const {
    if (token_times_s.size() < 2) return std::numeric_limits<double>::quiet_NaN();
    double m = 0.0;
    for (std::size_t i = 1; i < token_times_s.size(); ++i) m = std::max(m, token_times_s[i] - token_times_s[i - 1]);
    return m;
  }
  /// Queueing time: first scheduled minus arrival.
  [[nodiscard]] double queue_s() const { return first_scheduled_s - arrival_s; }
  /// Finished with every token it was to produce.
  [[nodiscard]] bool finished() const { return state == RequestState::kFinished; }
  /// TTFT SLO met: a first token came, within slo.ttft_s (or there is no TTFT target).
  [[nodiscard]] bool ttft_ok() const {
    return !token_times_s.empty() && (slo.ttft_s <= 0.0 || ttft_s() <= slo.ttft_s);
  }
  /// TBT SLO met: the request finished and every gap was within slo.tbt_s (or no target).
  [[nodiscard]] bool tbt_ok() const {
    if (!finished()) return false;
    if (slo.tbt_s <= 0.0) return true;
    for (std::size_t i = 1; i < token_times_s.size(); ++i) {
      if (token_times_s[i] - token_times_s[i - 1] > slo.tbt_s) return false;
    }
    return true;
  }
};

/// Aggregate metrics of one run (docs/design.md section 4). Denominators: attainments count every
/// request of the workload (rejected and unfinished ones fail both SLOs); rates divide by the
/// makespan = last output token time minus first arrival.
struct Metrics {
  std::size_t num_requests = 0;
  std::size_t num_finished = 0;
  std::size_t num_rejected = 0;        // by the scheduler, or too long for the context
  std::size_t num_aborted = 0;         // stuck when the simulation ended (should be 0)
  std::int64_t output_tokens = 0;      // tokens generated
  Summary ttft_s;                      // over requests with a first token
  Summary tbt_s;                       // over every gap between consecutive tokens, all requests
  Summary tbt_max_s;                   // over requests (>= 2 tokens) of each one's largest gap
  Summary tpot_s;                      // over requests with >= 2 tokens
  Summary e2e_s;                       // over finished requests
  Summary queue_s;                     // over requests that were ever scheduled
  double ttft_slo_attainment = 0.0;    // share of requests with TTFT <= their TTFT SLO
  double tbt_slo_attainment = 0.0;     // share of requests whose every gap <= their TBT SLO
  double tbt_gap_slo_attainment = 0.0; // share of all gaps <= their request's TBT SLO
  double slo_attainment = 0.0;         // share of requests meeting both
  double makespan_s = 0.0;             // last token time - first arrival (s)
  double goodput_rps = 0.0;            // requests meeting both SLOs per second of makespan
  double throughput_rps = 0.0;         // finished requests per second of makespan
  double throughput_tok_s = 0.0;       // output tokens per second of makespan
  std::vector<double> ttft_cdf_s;      // at cdf_probabilities(), for plots
  std::vector<double> tbt_cdf_s;
  std::vector<double> tbt_max_cdf_s;
};

/// Computes Metrics over outcomes, or over the outcomes of one class when class_id is set.
/// Summaries use type-7 percentiles (linear interpolation, see percentile_sorted).
[[nodiscard]] inline Metrics compute_metrics(std::span<const RequestOutcome> outcomes,
                                             std::optional<std::uint16_t> class_id = std::nullopt) {
  Metrics m;
  std::vector<double> ttft, tbt, tbt_max, tpot, e2e, queue;
  std::size_t ttft_ok = 0, tbt_ok = 0, both_ok = 0, gaps_ok = 0;
  double first_arrival = std::numeric_limits<double>::infinity();
  double last_token = -std::numeric_limits<double>::infinity();
  std::size_t total_tokens = 0;
  for (const auto& o : outcomes) total_tokens += o.token_times_s.size();
  tbt.reserve(total_tokens);
  for (const auto& o : outcomes) {
    if (class_id && o.class_id != *class_id) continue;
    ++m.num_requests;
    first_arrival = std::min(first_arrival, o.arrival_s);
    if (o.state == RequestState::kFinished) ++m.num_finished;
    if (o.state == RequestState::kRejected) ++m.num_rejected;
    if (o.state == RequestState::kAborted) ++m.num_aborted;
    m.output_tokens += static_cast<std::int64_t>(o.token_times_s.size());
    if (!o.token_times_s.empty()) {
      ttft.push_back(o.ttft_s());
      last_token = std::max(last_token, o.token_times_s.back());
    }
    if (o.token_times_s.size() >= 2) {
      tbt_max.push_back(o.tbt_max_s());
      tpot.push_back(o.tpot_s());
      for (std::size_t i = 1; i < o.token_times_s.size(); ++i) {
        const double gap = o.token_times_s[i] - o.token_times_s[i - 1];
        tbt.push_back(gap);
        if (o.slo.tbt_s <= 0.0 || gap <= o.slo.tbt_s) ++gaps_ok;
      }
    }
    if (o.finished() && !o.token_times_s.empty()) e2e.push_back(o.e2e_s());
    if (!std::isnan(o.first_scheduled_s)) queue.push_back(o.queue_s());
    const bool a = o.ttft_ok(), b = o.tbt_ok();
    ttft_ok += a;
    tbt_ok += b;
    both_ok += (a && b);
  }
  const std::size_t num_gaps = tbt.size();
  m.ttft_s = summarize(ttft, &m.ttft_cdf_s);
  m.tbt_s = summarize(tbt, &m.tbt_cdf_s);
  m.tbt_max_s = summarize(tbt_max, &m.tbt_max_cdf_s);
  m.tpot_s = summarize(tpot);
  m.e2e_s = summarize(e2e);
  m.queue_s = summarize(queue);
  if (m.num_requests > 0) {
    const auto n = static_cast<double>(m.num_requests);
    m.ttft_slo_attainment = static_cast<double>(ttft_ok) / n;
    m.tbt_slo_attainment = static_cast<double>(tbt_ok) / n;
    m.slo_attainment = static_cast<double>(both_ok) / n;
  }
  m.tbt_gap_slo_attainment = num_gaps == 0 ? 1.0 : static_cast<double>(gaps_ok) / static_cast<double>(num_gaps);
  if (last_token > first_arrival) {
    m.makespan_s = last_token - first_arrival;
    m.goodput_rps = static_cast<double>(both_ok) / m.makespan_s;
    m.throughput_rps = static_cast<double>(m.num_finished) / m.makespan_s;
    m.throughput_tok_s = static_cast<double>(m.output_tokens) / m.makespan_s;
  }
  return m;
}

}  // namespace kvsched::sim
