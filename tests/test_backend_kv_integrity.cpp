// KV integrity under the real scheduler: every preset drives the CPU backend like an engine
// (apply the plan's swap_out / swap_in / copy, write this step's K/V, run attention), with
// random workloads that force preemption by swap and by recompute. After every step, every
// running request's KV read through its block table (and every swapped request's KV read
// through its host blocks) must be exactly the values written for its tokens.
// Run with: ctest -R kv_integrity
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>

#include <kvsched/kvsched.hpp>

#include "backend_test_util.hpp"
#include "kvsched/backend/cpu_backend.hpp"
#include "kvsched/backend/paged_kv_tables.hpp"
#include "random_workload.hpp"

using namespace kvsched;

namespace {

constexpr KvShape kShape{2, 2, 4, 16, KvDtype::kF32};  // 2 layers, 2 KV heads, head_dim 4, 16 tokens per block
constexpr std::int32_t kQoHeads = 4;                    // GQA: 2 query heads per KV head

/// The K/V every token must hold. A token's identity is the chained content hash of its
/// block (block_content_hash, the prefix cache's key: requests sharing a prefix share those
/// blocks, so they must expect the same values there) and its offset in the block; beyond
/// shared prefixes the chain includes the request id, so values are request-specific.
class ExpectedKv {
 public:
  static constexpr std::size_t kRow = static_cast<std::size_t>(kShape.num_kv_heads * kShape.head_dim);  // one token, layer, K or V
  static constexpr std::size_t kTokenElems = static_cast<std::size_t>(kShape.num_layers) * 2 * kRow;

  /// Identity of token `pos` of the request with `spec`.
  std::uint64_t token_key(const RequestSpec& spec, std::int32_t pos) {
    auto& chain = state_[spec.id].chain;
    const auto b = static_cast<std::size_t>(pos / kShape.block_size);
    while (chain.size() <= b)
      chain.push_back(block_content_hash(spec, static_cast<std::int64_t>(chain.size()), kShape.block_size, chain.empty() ? 0 : chain.back()));
    return mix64(chain[b] ^ mix64(static_cast<std::uint64_t>(pos % kShape.block_size) + 0x1234));
  }
  /// The num_kv_heads x head_dim values token `pos` must hold in (layer, kv), cached per request.
  const float* row(const RequestSpec& spec, std::int32_t pos, std::int32_t layer, std::int32_t kv) {
    auto& rows = state_[spec.id].rows;
    while (rows.size() < (static_cast<std::size_t>(pos) + 1) * kTokenElems) {
      const auto p = static_cast<std::int32_t>(rows.size() / kTokenElems);
      const std::uint64_t key = token_key(spec, p);
      for (std::int32_t l = 0; l < kShape.num_layers; ++l)
        for (std::int32_t k = 0; k < 2; ++k)
          for (std::int32_t h = 0; h < kShape.num_kv_heads; ++h)
            for (std::int32_t d = 0; d < kShape.head_dim; ++d) rows.push_back(value(key, l, k, h, d));
    }
    return rows.data() + static_cast<std::size_t>(pos) * kTokenElems + static_cast<std::size_t>(layer * 2 + kv) * kRow;
  }
  void forget(RequestId id) { state_.erase(id); }
  /// Element (layer, K|V, head, dim) of a token with identity `key`: a 24-bit integer, exact in fp32.
  static float value(std::uint64_t key, std::int32_t layer, std::int32_t kv, std::int32_t head, std::int32_t d) {
    const auto e = static_cast<std::uint64_t>(((layer * 2 + kv) * kShape.num_kv_heads + head) * kShape.head_dim + d);
    return static_cast<float>(mix64(key ^ ((e + 1) * 0x9E3779B97F4A7C15ull)) >> 40);
  }

 private:
  struct PerRequest {
    std::vector<std::uint64_t> chain;  // chained block hashes
    std::vector<float> rows;           // [token][layer][K, V][head][dim] expected values
  };
  std::unordered_map<RequestId, PerRequest> state_;
};

/// The random workload of random_workload.hpp at this test's sizes (shared_prefixes unused:
/// prompts are unique), plus how often paged attention is run and checked.
struct Workload : test::RandomWorkload {
  std::int32_t attention_every = 10;  // run and check paged attention every n-th step
  double fault_prob = 0.0;            // each swap_out / swap_in / copy pair fails with this probability
  Workload() {
    steps = 400;
    arrival_prob = 0.4;
    max_output = 100;
    abort_prob = 0.003;
  }
};

struct Outcome {
  std::int64_t steps = 0, finished = 0, checked_tokens = 0, attention_checks = 0;
  std::int64_t swaps = 0, recomputes = 0, copies = 0, prefix_hit_tokens = 0;
  std::int64_t faults = 0, fault_recomputes = 0;  // injected failed pairs; requests recomputed for them
};

/// Mismatches of request `r`'s first num_computed_tokens tokens read through `blocks` of `pool`.
std::int64_t count_mismatches(const KvPool& pool, std::span<const BlockId> blocks, const Request& r, ExpectedKv& expected,
                              std::string& first) {
  const KvLayout& L = pool.layout();
  const auto data = pool.elements<float>();
  std::int64_t bad = 0;
  if (blocks_for_tokens(r.num_computed_tokens, L.block_size) > static_cast<std::int64_t>(blocks.size())) {
    first = "request " + std::to_string(r.id()) + " holds " + std::to_string(blocks.size()) + " blocks for " +
            std::to_string(r.num_computed_tokens) + " computed tokens";
    return 1;
  }
  for (std::int32_t p = 0; p < r.num_computed_tokens; ++p) {
    const BlockId blk = blocks[static_cast<std::size_t>(p / L.block_size)];
    for (std::int32_t layer = 0; layer < L.num_layers; ++layer)
      for (std::int32_t kv = 0; kv < 2; ++kv) {
        const float* want = expected.row(r.spec, p, layer, kv);
        const float* got = data.data() + L.offset(blk, layer, kv, p % L.block_size, 0);  // the token's heads are contiguous
        for (std::size_t e = 0; e < ExpectedKv::kRow; ++e) {
          if (got[e] == want[e]) continue;
          if (bad++ == 0) {
            std::ostringstream os;
            os << "request " << r.id() << " (" << to_string(r.state) << ") token " << p << " block " << blk << " layer " << layer
               << (kv ? " V" : " K") << " head " << e / static_cast<std::size_t>(L.head_dim) << " dim "
               << e % static_cast<std::size_t>(L.head_dim) << ": got " << got[e] << ", wrote " << want[e];
            first = os.str();
          }
        }
      }
  }
  return bad;
}

/// Paged attention of layer 0 for this step's batch (chunked prefills and decodes, through the
/// BlockManager's CSR export) against dense attention over the expected K/V. Returns the
/// largest relative error over (query token, head) rows.
double attention_error(const CpuBackend& backend, const BlockManager& bm, const SchedulePlan& plan,
                       const std::vector<const Request*>& reqs, ExpectedKv& expected, std::mt19937_64& rng) {
  std::vector<RequestId> ids;
  std::vector<std::int64_t> kv_lens;
  std::vector<std::int32_t> qo_indptr{0};
  for (const ScheduledRequest& sr : plan.scheduled) {
    ids.push_back(sr.id);
    kv_lens.push_back(sr.num_computed_before + sr.num_tokens);
    qo_indptr.push_back(qo_indptr.back() + sr.num_tokens);
  }
  const CsrBlockTables csr = bm.export_csr(ids, kv_lens);
  const AttentionBatch batch{paged_kv_index(csr), qo_indptr.data(), kQoHeads, 0.0f};
  const std::int32_t D = kShape.head_dim, G = kQoHeads / kShape.num_kv_heads;
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::vector<float> q(static_cast<std::size_t>(qo_indptr.back()) * kQoHeads * static_cast<std::size_t>(D));
  for (auto& x : q) x = uni(rng) * 0x1p-22f;  // K values are up to 2^24: keep the scores O(1)
  std::vector<float> out(q.size(), std::numeric_limits<float>::quiet_NaN());
  backend.paged_attention<float>(0, batch, q, out);
  double worst = 0;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t n = static_cast<std::int32_t>(kv_lens[i]), m = qo_indptr[i + 1] - qo_indptr[i];
    for (std::int32_t j = 0; j < m; ++j)
      for (std::int32_t hq = 0; hq < kQoHeads; ++hq) {
        const std::int32_t hk = hq / G, pos = n - m + j;
        const float* qr = q.data() + (static_cast<std::size_t>(qo_indptr[i] + j) * kQoHeads + static_cast<std::size_t>(hq)) * static_cast<std::size_t>(D);
        std::vector<double> s(static_cast<std::size_t>(pos + 1));
        for (std::int32_t t = 0; t <= pos; ++t) {
          const float* k = expected.row(reqs[i]->spec, t, 0, 0) + hk * D;
          double dot = 0;
          for (std::int32_t d = 0; d < D; ++d) dot += static_cast<double>(qr[d]) * k[d];
          s[static_cast<std::size_t>(t)] = dot * scale;
        }
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (auto& x : s) sum += (x = std::exp(x - mx));
        double num = 0, den = 0;
        for (std::int32_t d = 0; d < D; ++d) {
          double acc = 0;
          for (std::int32_t t = 0; t <= pos; ++t)
            acc += s[static_cast<std::size_t>(t)] * expected.row(reqs[i]->spec, t, 0, 1)[hk * D + d];
          const double ref = acc / sum;
          const double got = out[static_cast<std::size_t>(qr - q.data()) + static_cast<std::size_t>(d)];
          if (std::isnan(got)) return std::numeric_limits<double>::infinity();
          num = std::max(num, std::abs(got - ref));
          den = std::max(den, std::abs(ref));
        }
        worst = std::max(worst, num / std::max(den, 1e-30));
      }
  }
  return worst;
}

/// Drives scheduler `s` (Scheduler<P> or AnyScheduler) with workload `w`, applying every plan
/// to a CPU backend as an engine would and checking the KV of every live request each step.
template <class S>
Outcome run(S& s, const Workload& w, const std::string& label) {
  const BlockManager& bm = s.block_manager();
  CpuBackend backend(kShape, bm.num_device_blocks(), bm.num_host_blocks());
  backend.device_pool().fill(std::byte{0xFF});  // NaN: a token read before it was written fails
  backend.host_pool().fill(std::byte{0xFF});
  const KvLayout& L = backend.layout();
  const auto row = static_cast<std::size_t>(L.token_stride);
  ExpectedKv expected;
  std::mt19937_64 rng(w.seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::mt19937_64 fault_rng(w.seed ^ 0xFA17);
  if (w.fault_prob > 0)
    backend.set_fault_injector([&](const char*, std::size_t) { return std::uniform_real_distribution<double>(0, 1)(fault_rng) < w.fault_prob; });
  std::set<RequestId> live;
  RequestId next_id = 1;
  double t = 0.0;
  Outcome out;
  for (std::int64_t step = 0; step < w.steps || s.num_unfinished() > 0; ++step) {
    if (step >= w.steps + 100000) FAIL(label << ": requests never finish");
    if (step < w.steps && u(rng) < w.arrival_prob) {
      RequestSpec spec;
      spec.id = next_id++;
      spec.arrival_s = t;
      spec.prompt_tokens = 1 + static_cast<std::int32_t>(u(rng) * w.max_prompt);
      spec.max_tokens = 1 + static_cast<std::int32_t>(u(rng) * w.max_output);
      spec.oracle_output_tokens = spec.max_tokens;
      spec.slo = {1.0 + u(rng), 0.05 + 0.2 * u(rng)};
      spec.content_block_tokens = 16;  // shared prefixes: 4 system prompts of 1 block, then unique content
      spec.content_ids = {spec.id % 4, spec.id * 1000};
      s.add_request(spec);
      live.insert(spec.id);
    }
    if (!live.empty() && u(rng) < w.abort_prob) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(u(rng) * static_cast<double>(live.size())) % static_cast<long>(live.size()));
      const Request* r = s.find(*it);
      if (r && !is_terminal(r->state)) s.abort(*it);
    }

    const SchedulePlan& plan = s.schedule(t);
    // 1. Data movement before the forward pass: swap out, swap in, copy-on-write. Failed pairs
    //    (fault injection) are reported back; the requests holding them are recomputed.
    const std::vector<LostBlock> lost = backend.apply(plan);
    out.faults += static_cast<std::int64_t>(lost.size());
    // 2. The forward pass writes K/V of this step's tokens (padding slots in between).
    std::vector<std::int64_t> slots;
    std::vector<std::uint64_t> keys;
    std::vector<const Request*> reqs;
    for (const ScheduledRequest& sr : plan.scheduled) {
      const Request* r = s.find(sr.id);
      if (!r) FAIL(label << " step " << step << ": scheduled request " << sr.id << " unknown");
      reqs.push_back(r);
      const auto table = bm.block_table(sr.id);
      for (std::int32_t p = sr.num_computed_before; p < sr.num_computed_before + sr.num_tokens; ++p) {
        if (static_cast<std::size_t>(p / L.block_size) >= table.size())
          FAIL(label << " step " << step << ": request " << sr.id << " has no block for token " << p);
        slots.push_back(std::int64_t{table[static_cast<std::size_t>(p / L.block_size)]} * L.block_size + p % L.block_size);
        keys.push_back(expected.token_key(r->spec, p));
      }
      if (u(rng) < 0.25) {  // padding, as a CUDA-graph batch would have
        slots.push_back(-1);
        keys.push_back(0);
      }
    }
    for (std::int32_t layer = 0; layer < L.num_layers; ++layer) {
      std::vector<float> k(slots.size() * row, -7.0f), v(slots.size() * row, -7.0f);  // -7: padding, never expected
      for (std::size_t i = 0; i < slots.size(); ++i) {
        if (slots[i] < 0) continue;
        for (std::int32_t h = 0; h < L.num_kv_heads; ++h)
          for (std::int32_t d = 0; d < L.head_dim; ++d) {
            const std::size_t e = i * row + static_cast<std::size_t>(h * L.head_dim + d);
            k[e] = ExpectedKv::value(keys[i], layer, 0, h, d);
            v[e] = ExpectedKv::value(keys[i], layer, 1, h, d);
          }
      }
      backend.write_kv<float>(layer, k, v, slots);
    }
    // 3. Attention over the block tables (every few steps: it is the slow part of the test).
    //    An engine does not use the output of a request whose KV move failed: skip the check then.
    if (!plan.scheduled.empty() && step % w.attention_every == 0 && lost.empty()) {
      const double err = attention_error(backend, bm, plan, reqs, expected, rng);
      if (!(err < 1e-5)) FAIL(label << " step " << step << " attention relative error " << err);
      ++out.attention_checks;
    }
    for (const Preemption& p : plan.preempted) (p.mode == PreemptionMode::kSwap ? out.swaps : out.recomputes) += 1;
    out.copies += static_cast<std::int64_t>(plan.copy.size());

    StepResult res;
    for (const ScheduledRequest& sr : plan.scheduled)
      if (sr.samples_token && u(rng) < w.eos_prob) res.outputs.push_back({sr.id, true});
    t += 0.02;
    res.now_s = t;
    res.lost_blocks = lost;
    s.on_step_done(res);

    // 4. Every live request's KV, read through its block table (device) or host blocks.
    for (RequestId id : live) {
      const Request* r = s.find(id);
      if (!r || (r->state != RequestState::kRunning && r->state != RequestState::kSwapped)) continue;
      const bool swapped = r->state == RequestState::kSwapped;
      std::string first;
      const std::int64_t bad = swapped ? count_mismatches(backend.host_pool(), bm.host_blocks(id), *r, expected, first)
                                       : count_mismatches(backend.device_pool(), bm.block_table(id), *r, expected, first);
      if (bad != 0) FAIL(label << " step " << step << ": " << bad << " wrong elements; first: " << first);
      out.checked_tokens += r->num_computed_tokens;
    }
    for (const Request& r : s.take_terminal()) {
      live.erase(r.id());
      expected.forget(r.id());
      if (r.state == RequestState::kFinished) ++out.finished;
    }
    ++out.steps;
  }
  out.prefix_hit_tokens = s.stats().prefix_cache_hit_tokens;
  out.fault_recomputes = s.stats().kv_fault_recomputes;
  return out;
}

EngineConfig engine(std::int32_t host_blocks) { return test::kv_integrity_engine(kShape.block_size, host_blocks); }
LatencyModel latency() { return test::kv_integrity_latency(kShape.bytes_per_token()); }

/// P's policies with swap preemption forced where P's mode chooser has a fixed mode.
template <class P>
P swap_forced() {
  P policies{};
  if constexpr (requires { policies.mode.mode = PreemptionMode::kSwap; }) policies.mode.mode = PreemptionMode::kSwap;
  return policies;
}

// Sum over the runs of a test case, to assert that both preemption modes were exercised.
struct Totals {
  std::int64_t swaps = 0, recomputes = 0, finished = 0, checked_tokens = 0, attention_checks = 0, copies = 0, prefix_hits = 0;
  void add(const Outcome& o) {
    copies += o.copies;
    prefix_hits += o.prefix_hit_tokens;
    swaps += o.swaps;
    recomputes += o.recomputes;
    finished += o.finished;
    checked_tokens += o.checked_tokens;
    attention_checks += o.attention_checks;
  }
};

}  // namespace

TEST_CASE("kv_integrity: every preset (registry, default modes) keeps each request's KV intact") {
  Totals total;
  std::uint64_t seed = 1;  // one workload per preset, a different one each (keeps the suite fast)
  for (const std::string& name : preset_names()) {
    auto s = make_scheduler(name, engine(64), latency());
    Workload w;
    w.seed = seed++;
    const Outcome o = run(*s, w, name + " seed " + std::to_string(w.seed));
    INFO(name << " seed " << w.seed << ": " << o.steps << " steps, " << o.swaps << " swaps, " << o.recomputes << " recomputes");
    CHECK(o.finished > 0);
    total.add(o);
  }
  INFO("tokens checked " << total.checked_tokens << ", attention checks " << total.attention_checks << ", copy-on-write pairs "
                          << total.copies << ", prefix-cache hit tokens " << total.prefix_hits);
  CHECK(total.recomputes > 0);
  CHECK(total.swaps > 0);        // CacheOPT's mode chooser swaps where that is cheaper
  CHECK(total.prefix_hits > 0);  // shared prefixes and re-admissions read KV other steps wrote
  CHECK(total.attention_checks > 0);
}

namespace {

// Runs Scheduler<P> with swap forced (where P's mode chooser has a fixed mode), once with a host
// pool large enough to swap and once with a small one that forces the recompute fallback.
template <class P>
void run_swap_forced(const std::string& name, Totals& total) {
  for (std::int32_t host : {64, 6}) {
    Scheduler<P> s(engine(host), latency(), swap_forced<P>());
    Workload w;
    w.seed = 10 + static_cast<std::uint64_t>(host);
    const Outcome o = run(s, w, name + " (swap forced) host " + std::to_string(host));
    CHECK(o.finished > 0);
    CHECK(s.stats().preemptions_swap == o.swaps);
    total.add(o);
  }
}

}  // namespace

TEST_CASE("kv_integrity: every preset with swap preemption forced keeps each request's KV intact") {
  Totals total;
  run_swap_forced<presets::vllm_v1>("vllm_v1", total);
  run_swap_forced<presets::vllm_v0>("vllm_v0", total);
  run_swap_forced<presets::sarathi>("sarathi", total);
  run_swap_forced<presets::trtllm_guaranteed_no_evict>("trtllm_guaranteed_no_evict", total);
  run_swap_forced<presets::sglang>("sglang", total);
  INFO("swaps " << total.swaps << ", recomputes " << total.recomputes << ", tokens checked " << total.checked_tokens);
  CHECK(total.swaps > 0);
  CHECK(total.recomputes > 0);  // host pool of 6 blocks: the recompute fallback
}

namespace {

// Runs Scheduler<P> with swap forced where P allows it and 5% of block moves failing, with a
// roomy and a tiny (often full) host pool.
template <class P>
void run_with_faults(const std::string& name, Totals& total, std::int64_t& faults, std::int64_t& fault_recomputes) {
  for (std::int32_t host : {64, 6}) {
    Scheduler<P> s(engine(host), latency(), swap_forced<P>());
    Workload w;
    w.seed = 100 + static_cast<std::uint64_t>(host);
    w.fault_prob = 0.05;
    const Outcome o = run(s, w, name + " (faults) host " + std::to_string(host));  // FAILs if KV is wrong or requests never finish
    CHECK(o.finished > 0);
    s.block_manager().check_invariants();
    total.add(o);
    faults += o.faults;
    fault_recomputes += o.fault_recomputes;
  }
}

}  // namespace

TEST_CASE("kv_integrity: failed swap-outs, swap-ins and copies fall back to recompute; KV stays intact", "[faults]") {
  Totals total;
  std::int64_t faults = 0, fault_recomputes = 0;
  run_with_faults<presets::vllm_v1>("vllm_v1", total, faults, fault_recomputes);
  run_with_faults<presets::vllm_v0>("vllm_v0", total, faults, fault_recomputes);
  run_with_faults<presets::sglang>("sglang", total, faults, fault_recomputes);
  run_with_faults<presets::cacheopt>("cacheopt", total, faults, fault_recomputes);
  run_with_faults<presets::accelgen>("accelgen", total, faults, fault_recomputes);
  INFO("faults " << faults << ", fault recomputes " << fault_recomputes << ", swaps " << total.swaps << ", copies " << total.copies);
  CHECK(faults > 0);
  CHECK(fault_recomputes > 0);
  CHECK(total.swaps > 0);
}

TEST_CASE("kv_integrity: a lost block leaves the prefix cache and its holders recompute", "[faults]") {
  EngineConfig e = engine(8);
  Scheduler<presets::vllm_v1> s(e, latency());
  RequestSpec a;
  a.id = 1;
  a.prompt_tokens = 40;
  a.max_tokens = 8;
  s.add_request(a);
  const SchedulePlan& p = s.schedule(0.0);
  REQUIRE(p.scheduled.size() == 1);
  const BlockId b0 = s.block_manager().block_table(1)[0];
  s.on_step_done({0.1, {}});  // prefill done: block 0 is hashed
  (void)s.schedule(0.1);
  s.on_step_done({0.2, {}, {{Pool::kDevice, b0}}});
  const Request* r = s.find(1);
  REQUIRE(r != nullptr);
  CHECK(r->state == RequestState::kPreempted);
  CHECK(r->num_computed_tokens == 0);
  CHECK(s.stats().kv_fault_recomputes == 1);
  CHECK(s.block_manager().device_pool().block_hash(b0) == 0);
  s.block_manager().check_invariants();
  // Re-admitted, it must not hit the lost block in the prefix cache.
  const SchedulePlan& p2 = s.schedule(0.2);
  REQUIRE(p2.scheduled.size() == 1);
  CHECK(p2.scheduled[0].num_computed_before == 0);
  CHECK_THROWS_AS(s.on_step_done({0.3, {}, {{Pool::kHost, 999}}}), std::invalid_argument);
}
