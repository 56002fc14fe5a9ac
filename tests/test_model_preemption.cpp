// Greedy generation through the real scheduler: every preset of the registry drives a small
// random Llama on the CPU backend as an engine would (apply the plan's swap_out / swap_in /
// copy, then one batched forward over the plan's prefill chunks and decodes, block tables
// from the scheduler's BlockManager). With few KV blocks the scheduler itself preempts, by
// recompute and by swap; the 16 greedy tokens of every request must equal those of a run with
// plenty of blocks and those of a dense, cache-free forward.
// Run with: ctest -R test_model_preemption
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

#include <kvsched/kvsched.hpp>

#include "kvsched/model/llama_model.hpp"
#include "kvsched/model/plan_batch.hpp"

using namespace kvsched;
using namespace kvsched::model;

namespace {

constexpr std::int32_t kBlockSize = 4;
constexpr std::int32_t kMaxTokens = 16;
constexpr std::int32_t kRequests = 10;

/// A small Llama (2 layers, hidden 64, 4 query heads over 2 KV heads of 16): cheap enough to
/// run every preset twice.
const LlamaModel& model() {
  static const LlamaModel m = [] {
    const LlamaConfig c{.hidden_size = 64, .intermediate_size = 128, .num_hidden_layers = 2, .num_attention_heads = 4,
                        .num_key_value_heads = 2, .vocab_size = 300, .rms_norm_eps = 1e-5};
    return LlamaModel(c, random_weights(c, 2024));
  }();
  return m;
}

std::vector<std::vector<std::int32_t>> prompts() {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<std::int32_t> tok(0, 299), len(9, 40);
  std::vector<std::vector<std::int32_t>> p(kRequests);
  for (auto& x : p) {
    x.resize(static_cast<std::size_t>(len(rng)));
    for (auto& t : x) t = tok(rng);
  }
  return p;
}

/// Greedy tokens of each prompt from the dense forward over prompt + tokens so far (no cache).
const std::vector<std::vector<std::int32_t>>& dense_greedy() {
  static const auto out = [] {
    std::vector<std::vector<std::int32_t>> g;
    for (auto seq : prompts()) {
      std::vector<std::int32_t> gen;
      for (std::int32_t i = 0; i < kMaxTokens; ++i) {
        gen.push_back(argmax(model().forward_dense(seq).bottomRows(1).row(0)));
        seq.push_back(gen.back());
      }
      g.push_back(gen);
    }
    return g;
  }();
  return out;
}

/// The engine of preset `name`: a 24-token budget forces chunked prefill of the longer prompts;
/// presets without chunked prefill keep their own budget (max(2048, max_model_len)), since a
/// budget below the longest prompt would reject it (vLLM v0 refuses such a config).
EngineConfig engine(std::int32_t device_blocks, std::int32_t host_blocks, const std::string& name = "") {
  EngineConfig e;
  e.block_size = kBlockSize;
  e.num_device_blocks = device_blocks;
  e.num_host_blocks = host_blocks;
  e.max_model_len = 64;
  const bool whole_prompts = name.starts_with("vllm_v0") || name.starts_with("trtllm");
  e.max_num_batched_tokens = whole_prompts ? 0 : 24;
  e.max_num_seqs = 8;
  return e;
}

LatencyModel latency() {
  return LatencyModel(LatencyCoeffs{.cpu_overhead_s = 0.005, .linear_s_per_token = 1e-4, .swap_bytes_per_s = 1e9,
                                    .kv_bytes_per_token = model().kv_shape(kBlockSize).bytes_per_token()});
}

struct Run {
  std::vector<std::vector<std::int32_t>> generated;  // per request, in id order
  std::int64_t swaps = 0, recomputes = 0, steps = 0, mixed_steps = 0;
};

/// Runs scheduler `s` to completion as an engine: request i arrives at step i; per step,
/// run_plan() (apply + forward) then the greedy token of each sampling request.
template <class S>
Run run(S& s, const std::string& label) {
  const BlockManager& bm = s.block_manager();
  CpuBackend backend(model().kv_shape(kBlockSize), bm.num_device_blocks(), bm.num_host_blocks());
  backend.device_pool().fill(std::byte{0xFF});  // NaN: KV read before it is written shows in the logits
  backend.host_pool().fill(std::byte{0xFF});
  const auto ps = prompts();
  std::map<RequestId, std::vector<std::int32_t>> seqs;
  Run r;
  double t = 0.0;
  for (std::int64_t step = 0; step < kRequests || s.num_unfinished() > 0; ++step) {
    if (step > 5000) FAIL(label << ": requests never finish");
    if (step < kRequests) {
      RequestSpec spec;
      spec.id = static_cast<RequestId>(step + 1);
      spec.arrival_s = t;
      spec.prompt_tokens = static_cast<std::int32_t>(ps[static_cast<std::size_t>(step)].size());
      spec.max_tokens = kMaxTokens;
      spec.oracle_output_tokens = kMaxTokens;
      spec.slo = {2.0, 0.5};
      seqs[spec.id] = ps[static_cast<std::size_t>(step)];
      s.add_request(spec);
    }
    const SchedulePlan& plan = s.schedule(t);
    const ForwardOutput out = run_plan(model(), backend, plan, bm, [&](RequestId id) { return std::span<const std::int32_t>(seqs.at(id)); });
    bool prefill = false, decode = false;
    for (std::size_t b = 0; b < plan.scheduled.size(); ++b) {
      const ScheduledRequest& sr = plan.scheduled[b];
      (sr.is_prefill ? prefill : decode) = true;
      if (!sr.samples_token) continue;
      const auto row = out.last_logits.row(static_cast<Eigen::Index>(b));
      if (!row.allFinite()) FAIL(label << " step " << step << ": request " << sr.id << " read unwritten KV (NaN logits)");
      seqs[sr.id].push_back(argmax(row));
    }
    for (const Preemption& p : plan.preempted) (p.mode == PreemptionMode::kSwap ? r.swaps : r.recomputes) += 1;
    r.mixed_steps += prefill && decode;
    t += 0.01;
    s.on_step_done({t, {}});
    ++r.steps;
  }
  for (const Request& q : s.take_terminal())
    if (q.state != RequestState::kFinished) FAIL(label << ": request " << q.id() << " ended " << to_string(q.state) << " " << q.reject_reason);
  for (RequestId id = 1; id <= kRequests; ++id) {
    const auto& seq = seqs.at(id);
    r.generated.emplace_back(seq.begin() + static_cast<std::ptrdiff_t>(ps[id - 1].size()), seq.end());
  }
  return r;
}

}  // namespace

TEST_CASE("model_preemption: every preset generates the same greedy tokens with 18 and with 400 KV blocks") {
  std::int64_t swaps = 0, recomputes = 0, mixed = 0;
  for (const std::string& name : preset_names()) {
    auto plenty = make_scheduler(name, engine(400, 64, name), latency());
    const Run ref = run(*plenty, name + " (400 blocks)");
    INFO(name);
    CHECK(ref.recomputes + ref.swaps == 0);
    CHECK(ref.generated == dense_greedy());
    auto tight = make_scheduler(name, engine(18, 64, name), latency());
    const Run got = run(*tight, name + " (18 blocks)");
    INFO(name << ": " << got.steps << " steps, " << got.recomputes << " recomputes, " << got.swaps << " swaps");
    CHECK(got.generated == ref.generated);
    swaps += got.swaps;
    recomputes += got.recomputes;
    mixed += got.mixed_steps + ref.mixed_steps;
  }
  INFO("over the registry: " << recomputes << " recomputes, " << swaps << " swaps, " << mixed << " steps mixing prefill and decode");
  CHECK(recomputes > 0);
  CHECK(swaps > 0);  // CacheOPT's mode chooser swaps where it is cheaper
  CHECK(mixed > 0);
}

namespace {

/// Scheduler<P> with swap preemption forced where P's mode chooser has a fixed mode.
template <class P>
Run run_swap_forced(std::int32_t host_blocks, const std::string& name) {
  P policies{};
  if constexpr (requires { policies.mode.mode = PreemptionMode::kSwap; }) policies.mode.mode = PreemptionMode::kSwap;
  Scheduler<P> s(engine(18, host_blocks, name), latency(), policies);
  return run(s, name + " (swap forced, host " + std::to_string(host_blocks) + ")");
}

}  // namespace

TEST_CASE("model_preemption: swap preemption (swap_out / swap_in over the host pool) keeps greedy tokens identical") {
  std::int64_t swaps = 0;
  auto check = [&](const Run& r, const std::string& name) {
    INFO(name << ": " << r.swaps << " swaps, " << r.recomputes << " recomputes");
    CHECK(r.generated == dense_greedy());
    swaps += r.swaps;
  };
  check(run_swap_forced<presets::vllm_v0>(64, "vllm_v0"), "vllm_v0");
  check(run_swap_forced<presets::vllm_v1>(64, "vllm_v1"), "vllm_v1");
  check(run_swap_forced<presets::sarathi>(64, "sarathi"), "sarathi");
  check(run_swap_forced<presets::sglang>(64, "sglang"), "sglang");
  check(run_swap_forced<presets::vllm_v0>(3, "vllm_v0 small host pool"), "vllm_v0 (host 3: recompute fallback)");
  CHECK(swaps > 0);
}
