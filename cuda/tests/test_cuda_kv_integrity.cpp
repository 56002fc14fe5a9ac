// KV integrity under the real scheduler, on the GPU: every preset drives a CudaBackend and the
// CPU reference backend in lockstep, as an engine would (apply the plan's swap_out / swap_in /
// copy, write this step's K/V, run paged attention). After every step the GPU's device pool and
// pinned host pool must equal the CPU backend's bit for bit, and paged attention on the GPU
// must match the CPU's. The CPU backend's own KV is checked against the values written for
// each token in tests/test_backend_kv_integrity.cpp, so together: the CUDA backend keeps every
// request's KV intact through swap, recompute, copy-on-write and prefix sharing.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <kvsched/kvsched.hpp>

#include "backend_test_util.hpp"
#include "device_buffer.hpp"
#include "kvsched/backend/cpu_backend.hpp"
#include "kvsched/backend/paged_kv_tables.hpp"
#include "kvsched/cuda/cuda_backend.hpp"

using namespace kvsched;
using kvsched::test::DeviceBuffer;

namespace {

constexpr KvShape kShape{2, 2, 64, 16, KvDtype::kF32};  // head_dim 64: a size the attention kernel takes
constexpr std::int32_t kQoHeads = 4;                     // GQA: 2 query heads per KV head

struct Counts {
  std::int64_t steps = 0, finished = 0, swaps = 0, recomputes = 0, copies = 0, attention_checks = 0;
};

/// Drives `s` with a random workload (arrivals, EOS, aborts; shared prefixes) for `steps`
/// steps and then until every request ended, applying each plan to both backends.
template <class S>
Counts run_lockstep(S& s, std::uint64_t seed, std::int32_t steps, const std::string& label) {
  const BlockManager& bm = s.block_manager();
  CpuBackend cpu(kShape, bm.num_device_blocks(), bm.num_host_blocks());
  cuda::CudaBackend gpu(kShape, bm.num_device_blocks(), bm.num_host_blocks());  // both zeroed
  const KvLayout& L = cpu.layout();
  const auto row = static_cast<std::size_t>(L.token_stride);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::set<RequestId> live;
  RequestId next_id = 1;
  double t = 0.0;
  Counts out;
  for (std::int64_t step = 0; step < steps || s.num_unfinished() > 0; ++step) {
    if (step >= steps + 100000) FAIL(label << ": requests never finish");
    if (step < steps && u(rng) < 0.4) {
      RequestSpec spec;
      spec.id = next_id++;
      spec.arrival_s = t;
      spec.prompt_tokens = 1 + static_cast<std::int32_t>(u(rng) * 200);
      spec.max_tokens = 1 + static_cast<std::int32_t>(u(rng) * 100);
      spec.oracle_output_tokens = spec.max_tokens;
      spec.slo = {1.0 + u(rng), 0.05 + 0.2 * u(rng)};
      spec.content_block_tokens = 16;  // shared prefixes: 4 system prompts of 1 block
      spec.content_ids = {spec.id % 4, spec.id * 1000};
      s.add_request(spec);
      live.insert(spec.id);
    }
    if (!live.empty() && u(rng) < 0.003) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(u(rng) * static_cast<double>(live.size())) % static_cast<long>(live.size()));
      const Request* r = s.find(*it);
      if (r && !is_terminal(r->state)) s.abort(*it);
    }
    const SchedulePlan& plan = s.schedule(t);
    cpu.apply(plan);
    gpu.apply(plan);
    // The forward pass: K/V of this step's tokens, the same random values on both backends.
    std::vector<std::int64_t> slots;
    std::vector<RequestId> ids;
    std::vector<std::int64_t> kv_lens;
    std::vector<std::int32_t> qo_indptr{0};
    for (const ScheduledRequest& sr : plan.scheduled) {
      const auto table = bm.block_table(sr.id);
      for (std::int32_t p = sr.num_computed_before; p < sr.num_computed_before + sr.num_tokens; ++p)
        slots.push_back(std::int64_t{table[static_cast<std::size_t>(p / L.block_size)]} * L.block_size + p % L.block_size);
      ids.push_back(sr.id);
      kv_lens.push_back(sr.num_computed_before + sr.num_tokens);
      qo_indptr.push_back(qo_indptr.back() + sr.num_tokens);
    }
    if (!slots.empty()) {
      const DeviceBuffer<std::int64_t> dslots(slots);
      for (std::int32_t layer = 0; layer < L.num_layers; ++layer) {
        std::vector<float> k(slots.size() * row), v(slots.size() * row);
        for (auto& x : k) x = value(rng);
        for (auto& x : v) x = value(rng);
        cpu.write_kv<float>(layer, k, v, slots);
        const DeviceBuffer<float> dk(k), dv(v);
        gpu.write_kv(layer, dk.get(), dv.get(), dslots.get(), static_cast<std::int32_t>(slots.size()));
        gpu.synchronize();  // before dk, dv go
      }
    }
    // Paged attention of layer 0 over the plan's block tables, every 10th step.
    if (!plan.scheduled.empty() && step % 10 == 0) {
      const CsrBlockTables csr = bm.export_csr(ids, kv_lens);
      std::vector<float> q(static_cast<std::size_t>(qo_indptr.back()) * kQoHeads * kShape.head_dim);
      for (auto& x : q) x = value(rng);
      std::vector<float> want(q.size());
      cpu.paged_attention<float>(0, {paged_kv_index(csr), qo_indptr.data(), kQoHeads, 0.0f}, q, want);
      const DeviceBuffer<std::int32_t> indptr(csr.indptr), last(csr.last_page_len), qo(qo_indptr);
      const DeviceBuffer<BlockId> indices(csr.indices);
      const DeviceBuffer<float> dq(q), dout(q.size());
      AttentionBatch batch{paged_kv_index(csr), qo.get(), kQoHeads, 0.0f};
      batch.kv.indptr = indptr.get();
      batch.kv.indices = indices.get();
      batch.kv.last_page_len = last.get();
      std::int32_t max_qo = 1;
      for (std::size_t i = 0; i + 1 < qo_indptr.size(); ++i) max_qo = std::max(max_qo, qo_indptr[i + 1] - qo_indptr[i]);
      gpu.paged_attention(0, batch, max_qo, dq.get(), dout.get());
      gpu.synchronize();
      const std::vector<double> ref(want.begin(), want.end());
      const double err = test::max_row_rel_error(dout.download(), ref, kShape.head_dim);
      if (!(err < 1e-5)) FAIL(label << " step " << step << ": GPU attention relative error " << err << " against the CPU's");
      ++out.attention_checks;
    }
    gpu.synchronize();
    const KvPool& dev = cpu.device_pool();
    std::vector<std::byte> got(dev.size_bytes());
    KVSCHED_CUDA_CHECK(cudaMemcpy(got.data(), gpu.device_pool(), got.size(), cudaMemcpyDeviceToHost));
    if (std::memcmp(got.data(), dev.data(), got.size()) != 0) FAIL(label << " step " << step << ": GPU device pool differs from the CPU's");
    if (std::memcmp(gpu.host_pool(), cpu.host_pool().data(), cpu.host_pool().size_bytes()) != 0)
      FAIL(label << " step " << step << ": GPU host pool differs from the CPU's");
    for (const Preemption& p : plan.preempted) (p.mode == PreemptionMode::kSwap ? out.swaps : out.recomputes) += 1;
    out.copies += static_cast<std::int64_t>(plan.copy.size());

    StepResult res;
    for (const ScheduledRequest& sr : plan.scheduled)
      if (sr.samples_token && u(rng) < 0.02) res.outputs.push_back({sr.id, true});
    t += 0.02;
    res.now_s = t;
    s.on_step_done(res);
    for (const Request& r : s.take_terminal()) {
      live.erase(r.id());
      if (r.state == RequestState::kFinished) ++out.finished;
    }
    ++out.steps;
  }
  return out;
}

EngineConfig engine(std::int32_t host_blocks) { return test::kv_integrity_engine(kShape.block_size, host_blocks); }
LatencyModel latency() { return test::kv_integrity_latency(kShape.bytes_per_token()); }

}  // namespace

TEST_CASE("CUDA: KV integrity under the scheduler: every preset, GPU pools equal the CPU reference's at every step") {
  Counts total;
  std::uint64_t seed = 1;
  for (const std::string& name : preset_names()) {
    auto s = make_scheduler(name, engine(64), latency());
    const Counts c = run_lockstep(*s, seed++, 400, name);
    INFO(name << ": " << c.steps << " steps, " << c.swaps << " swaps, " << c.recomputes << " recomputes");
    CHECK(c.finished > 0);
    total.swaps += c.swaps;
    total.recomputes += c.recomputes;
    total.copies += c.copies;
    total.attention_checks += c.attention_checks;
  }
  // vLLM v0 with swap preemption: the swap path under a full host pool (6 blocks) and a roomy one.
  for (std::int32_t host : {64, 6}) {
    presets::vllm_v0 policies{};
    policies.mode.mode = PreemptionMode::kSwap;
    Scheduler<presets::vllm_v0> s(engine(host), latency(), policies);
    const Counts c = run_lockstep(s, 50 + static_cast<std::uint64_t>(host), 400, "vllm_v0 (swap) host " + std::to_string(host));
    CHECK(c.finished > 0);
    total.swaps += c.swaps;
    total.recomputes += c.recomputes;
  }
  INFO("swaps " << total.swaps << ", recomputes " << total.recomputes << ", copies " << total.copies << ", attention checks "
                << total.attention_checks);
  CHECK(total.swaps > 0);
  CHECK(total.recomputes > 0);
  CHECK(total.attention_checks > 0);
}
