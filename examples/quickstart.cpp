// kvsched-quickstart: how an engine drives a kvsched scheduler, one call per iteration.
// Runs a small synthetic batch through every preset with a toy latency model and prints
// what each preset did. The real comparison on real traces is kvsched-sim.
#include <cstdio>
#include <kvsched/kvsched.hpp>

int main() {
  kvsched::EngineConfig engine;
  engine.block_size = 16;
  engine.num_device_blocks = 1024;  // 16k tokens of KV cache
  engine.num_host_blocks = 1024;
  engine.max_model_len = 4096;
  // A toy latency model: 10 ms per iteration + 20 us per token.
  kvsched::LatencyCoeffs c;
  c.cpu_overhead_s = 0.010;
  c.linear_s_per_token = 20e-6;
  const kvsched::LatencyModel latency(c);

  std::printf("%-28s %8s %10s %12s %10s\n", "preset", "steps", "sim time", "preemptions", "finished");
  for (const std::string& name : kvsched::preset_names()) {
    auto sched = kvsched::make_scheduler(name, engine, latency);
    for (std::uint64_t i = 0; i < 200; ++i) {
      kvsched::RequestSpec spec;
      spec.id = i;
      spec.arrival_s = 0.0;
      spec.prompt_tokens = 200 + static_cast<std::int32_t>((i * 37) % 900);
      spec.max_tokens = 100 + static_cast<std::int32_t>((i * 53) % 400);
      sched->add_request(spec);
    }
    double now = 0.0;
    std::int64_t steps = 0, finished = 0;
    while (sched->num_unfinished() > 0) {
      const kvsched::SchedulePlan& plan = sched->schedule(now);
      // An engine would apply plan.swap_out, plan.swap_in and plan.copy here, then run the
      // forward pass over plan.scheduled with the block tables from block_manager().
      // The toy model has no KV bytes per token, so swaps take no time here.
      const std::int64_t block_bytes = std::int64_t{engine.block_size} * latency.kv_bytes_per_token();
      now += plan.empty() ? 0.001 : kvsched::plan_time_s(plan, latency, block_bytes);
      sched->on_step_done({now, {}});
      finished += static_cast<std::int64_t>(sched->take_terminal().size());
      ++steps;
    }
    const auto& st = sched->stats();
    std::printf("%-28s %8lld %9.1fs %12lld %10lld\n", name.c_str(), static_cast<long long>(steps), now,
                static_cast<long long>(st.preemptions_recompute + st.preemptions_swap), static_cast<long long>(finished));
  }
  return 0;
}
