// kvsched/sim/sim_setup_json.hpp: SimSetup as JSON, keyed by its member names (the flags'
// names with '_' for '-'), for the Python module's keyword arguments. Strict: an unknown key
// or a wrong type is an io::JsonFieldError naming the key. "policies" is not a field: a caller
// parses it with parse_run_config (presets/config_json.hpp).
#pragma once
#include "kvsched/io/json_fields.hpp"
#include "kvsched/sim/sim_setup.hpp"

namespace kvsched::io {

template <>
struct JsonFields<sim::SimSetup> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
#define KVSCHED_JSON_FIELD(m) f(#m, s.m)
    KVSCHED_JSON_FIELD(traces);
    KVSCHED_JSON_FIELD(trace_format);
    KVSCHED_JSON_FIELD(workload);
    KVSCHED_JSON_FIELD(rate_scale);
    KVSCHED_JSON_FIELD(rate);
    KVSCHED_JSON_FIELD(arrival);
    KVSCHED_JSON_FIELD(cv);
    KVSCHED_JSON_FIELD(num_requests);
    KVSCHED_JSON_FIELD(duration);
    KVSCHED_JSON_FIELD(seed);
    KVSCHED_JSON_FIELD(data_dir);
    KVSCHED_JSON_FIELD(slo_class);
    KVSCHED_JSON_FIELD(slo_ttft);
    KVSCHED_JSON_FIELD(slo_tbt);
    KVSCHED_JSON_FIELD(model);
    KVSCHED_JSON_FIELD(gpu);
    KVSCHED_JSON_FIELD(gpu_memory_gib);
    KVSCHED_JSON_FIELD(gpu_memory_utilization);
    KVSCHED_JSON_FIELD(kv_blocks);
    KVSCHED_JSON_FIELD(block_size);
    KVSCHED_JSON_FIELD(swap_space_gib);
    KVSCHED_JSON_FIELD(max_num_seqs);
    KVSCHED_JSON_FIELD(max_num_batched_tokens);
    KVSCHED_JSON_FIELD(max_model_len);
    KVSCHED_JSON_FIELD(no_prefix_caching);
    KVSCHED_JSON_FIELD(context_overflow);
    KVSCHED_JSON_FIELD(max_tokens);
    KVSCHED_JSON_FIELD(overlap_swap);
    KVSCHED_JSON_FIELD(cpu_overhead);
    KVSCHED_JSON_FIELD(latency_noise);
    KVSCHED_JSON_FIELD(ground_truth);
    KVSCHED_JSON_FIELD(slo_margin);
    KVSCHED_JSON_FIELD(engine_overrides);
    KVSCHED_JSON_FIELD(latency_overrides);
#undef KVSCHED_JSON_FIELD
  }
};

}  // namespace kvsched::io
