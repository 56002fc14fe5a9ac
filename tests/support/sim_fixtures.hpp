// tests/support/sim_fixtures.hpp: latency models and request sets shared by the simulator
// tests (a toy clock, the fitted Llama-2-7B on A100-80G, slices of the bundled conv trace).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/latency/profile_fit.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "sim_test_util.hpp"

namespace kvsched::test {

/// Iteration = 10 ms + 1 ms per token in the forward pass; swaps 0.5 ms + 1 GB/s of 1,000
/// bytes per token.
[[nodiscard]] inline LatencyModel toy_model() {
  return LatencyModel(LatencyCoeffs{.cpu_overhead_s = 0.010,
                                    .linear_s_per_token = 0.001,
                                    .swap_latency_s = 0.0005,
                                    .swap_bytes_per_s = 1.0e9,
                                    .kv_bytes_per_token = 1000});
}

/// The latency model fitted to the bundled Vidur profiles of Llama-2-7B on A100-80G.
[[nodiscard]] inline const LatencyModel& llama2_a100() {
  static const LatencyModel lm(fit_latency_coeffs(bundled_data_dir(), model_preset("llama2-7b"), gpu_preset("a100-80g")));
  return lm;
}

/// The first `n` requests of the bundled Azure conv trace, arrivals scaled by `rate_scale`,
/// max_model_len 4,096.
[[nodiscard]] inline sim::SimRequests conv_slice(std::size_t n, double rate_scale) {
  sim::BuildOptions o;
  o.num_requests = n;
  o.rate_scale = rate_scale;
  o.max_model_len = 4096;
  return sim::build_requests(sim::workload_from_traces({bundled_data_dir() / "azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv"},
                                                       sim::TraceFormat::kAuto),
                             o);
}

/// One hand-written request: arrival (s), prompt and output tokens, and content ids (16-token
/// blocks) for prefix sharing.
struct RequestRow {
  double arrival_s;
  int prompt_tokens;
  int output_tokens;
  std::vector<std::uint64_t> content_ids = {};
};

/// Requests of one class "chatbot" (TTFT 1 s, TBT 50 ms), ids 0, 1, ... in row order; each
/// produces exactly its output tokens.
[[nodiscard]] inline sim::SimRequests toy_requests(std::initializer_list<RequestRow> rows) {
  sim::SimRequests r;
  r.class_names = {"chatbot"};
  r.class_slos = {{1.0, 0.05}};
  for (const RequestRow& row : rows) {
    RequestSpec s;
    s.id = r.specs.size();
    s.arrival_s = row.arrival_s;
    s.prompt_tokens = row.prompt_tokens;
    s.max_tokens = row.output_tokens;
    s.oracle_output_tokens = row.output_tokens;
    s.slo = r.class_slos[0];
    s.content_ids = row.content_ids;
    s.content_block_tokens = 16;
    r.specs.push_back(s);
    r.output_tokens.push_back(row.output_tokens);
  }
  if (!r.specs.empty()) {
    r.first_arrival_s = r.specs.front().arrival_s;
    r.last_arrival_s = r.specs.back().arrival_s;
  }
  return r;
}

}  // namespace kvsched::test
