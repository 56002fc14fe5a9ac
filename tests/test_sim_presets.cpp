// The simulator drives every registered preset on slices of the bundled traces: every
// request ends, finished ones produce exactly their true output length, token times are
// ordered and after arrival, runs are deterministic; KV pressure shows as preemptions.
#include <catch2/catch.hpp>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/latency/profile_fit.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/sim/report_json.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/simulator.hpp"
#include "support/sim_fixtures.hpp"

using namespace kvsched;
using namespace kvsched::sim;
using kvsched::test::conv_slice;
using kvsched::test::llama2_a100;

namespace {
void check_invariants(const SimResult& r, const SimRequests& reqs) {
  REQUIRE(r.outcomes.size() == reqs.num_requests());
  CHECK(r.num_stuck == 0);
  for (std::size_t i = 0; i < reqs.specs.size(); ++i) {
    const auto& o = r.outcomes[i];
    INFO(r.policy << " request " << i);
    CHECK(o.id == i);
    CHECK((o.state == RequestState::kFinished || o.state == RequestState::kRejected));
    if (o.state != RequestState::kFinished) continue;
    CHECK(o.generated() == reqs.output_tokens[i]);
    CHECK(o.token_times_s.front() > o.arrival_s);
    CHECK(std::is_sorted(o.token_times_s.begin(), o.token_times_s.end()));
    CHECK(o.first_scheduled_s >= o.arrival_s);
  }
}
}  // namespace

TEST_CASE("every preset serves a slice of Azure conv under KV pressure") {
  const SimRequests reqs = conv_slice(250, 3.0);
  EngineConfig e;
  e.num_device_blocks = 600;  // ~9.6k tokens: a handful of requests at once
  e.num_host_blocks = 256;
  e.max_model_len = 4096;
  std::int64_t preemptions = 0;
  for (const auto& name : preset_names()) {
    auto s1 = make_scheduler(name, e, llama2_a100());
    const SimResult r = simulate(*s1, reqs, llama2_a100(), sim_options(e.block_size));
    check_invariants(r, reqs);
    preemptions += r.stats.preemptions_recompute + r.stats.preemptions_swap;
    REQUIRE(r.kv_timeline.size() == static_cast<std::size_t>(r.iterations));
    CHECK(r.num_device_blocks == 600);
    std::int32_t used_max = 0;
    double dt_min = 1.0;
    for (const auto& k : r.kv_timeline) {
      used_max = std::max(used_max, k.used_blocks);
      dt_min = std::min(dt_min, k.dt_s);
    }
    CHECK(used_max <= 600);
    CHECK(used_max > 300);  // the pool is contended
    CHECK(dt_min > 0.0);
    CHECK(compute_metrics(r.outcomes).num_finished > 200);
    auto s2 = make_scheduler(name, e, llama2_a100());
    const SimResult again = simulate(*s2, reqs, llama2_a100(), sim_options(e.block_size));
    CHECK(run_to_json(r, reqs, false) == run_to_json(again, reqs, false));
  }
  CHECK(preemptions > 0);
}

TEST_CASE("Mooncake prefix ids reach the prefix cache") {
  BuildOptions o;
  o.num_requests = 120;
  o.max_model_len = 8192;
  const SimRequests reqs = build_requests(
      workload_from_traces({kvsched::test::bundled_data_dir() / "mooncake_fast25/synthetic_trace.jsonl"}, TraceFormat::kAuto), o);
  CHECK(reqs.num_clipped_prompt > 0);
  EngineConfig e;
  e.num_device_blocks = 8000;
  e.max_model_len = 8192;
  e.max_num_batched_tokens = 8192;
  auto s = make_scheduler("vllm_v1", e, llama2_a100());
  const SimResult r = simulate(*s, reqs, llama2_a100(), sim_options(e.block_size));
  check_invariants(r, reqs);
  CHECK(r.stats.prefix_cache_hit_tokens > 0);
}
