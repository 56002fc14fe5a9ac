// Invariants of every preset under randomized load: no block leaked or freed twice, pools
// never over capacity, promises never exceed free blocks, reference counts consistent, and
// every request ends finished, aborted or rejected with a reason.
#include "random_workload.hpp"

using namespace kvsched;

namespace {
struct PoolCase {
  std::int32_t device, host;
};
constexpr PoolCase kPools[] = {{24, 8}, {64, 32}, {256, 64}};
constexpr std::uint64_t kSeeds[] = {1, 2, 3, 4};
}  // namespace

TEST_CASE("every preset keeps the block invariants under random load", "[invariants]") {
  std::int64_t total_steps = 0;
  for (const std::string& name : preset_names()) {
    for (const PoolCase& pool : kPools) {
      for (std::uint64_t seed : kSeeds) {
        DYNAMIC_SECTION(name << " pool " << pool.device << " seed " << seed) {
          EngineConfig e;
          e.block_size = 16;
          e.num_device_blocks = pool.device;
          e.num_host_blocks = pool.host;
          e.max_model_len = std::min(pool.device * 16, 512);
          e.max_num_batched_tokens = 256;
          e.max_num_seqs = 32;
          LatencyCoeffs c;
          c.cpu_overhead_s = 0.005;
          c.linear_s_per_token = 1e-5;
          c.kv_bytes_per_token = 1024;
          c.swap_bytes_per_s = 1e9;
          auto s = make_scheduler(name, e, LatencyModel(c));
          test::RandomWorkload w;
          w.seed = seed;
          w.steps = 2000;
          const auto out = test::run_random_workload(*s, w);
          CHECK(out.finished > 0);
          total_steps += out.steps;
        }
      }
    }
  }
  INFO("steps simulated: " << total_steps);
}

TEST_CASE("swap preemption keeps the invariants (vllm_v0 with swap forced)", "[invariants][swap]") {
  for (std::uint64_t seed : kSeeds) {
    presets::vllm_v0 p;
    p.mode.mode = PreemptionMode::kSwap;
    EngineConfig e;
    e.block_size = 16;
    e.num_device_blocks = 40;
    e.num_host_blocks = seed % 2 ? 8 : 64;  // a small host pool forces the recompute fallback
    e.max_model_len = 512;
    e.max_num_batched_tokens = 512;
    Scheduler<presets::vllm_v0> s(e, LatencyModel{}, p);
    test::RandomWorkload w;
    w.seed = seed;
    w.steps = 5000;
    w.arrival_prob = 0.5;
    const auto out = test::run_random_workload(s, w);
    CHECK(s.stats().preemptions_swap > 0);
    CHECK(out.finished > 0);
  }
}
