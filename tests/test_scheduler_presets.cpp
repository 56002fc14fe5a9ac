// Exact plans of every baseline preset on small hand-made scenarios (docs/design.md section 3.1).
// Each table lists, step by step, which requests run with how many tokens and who is preempted.
#include <tuple>

#include "scheduler_harness.hpp"

using namespace kvsched;
using test::make_spec;
using test::run_table;
using test::StepExpect;

namespace {
constexpr auto kRecompute = PreemptionMode::kRecompute;
constexpr auto kSwap = PreemptionMode::kSwap;

EngineConfig tiny(std::int32_t blocks, std::int32_t host = 0, bool prefix = false) {
  EngineConfig e;
  e.block_size = 4;
  e.num_device_blocks = blocks;
  e.num_host_blocks = host;
  e.max_model_len = blocks * 4;
  e.max_num_batched_tokens = 64;
  e.enable_prefix_caching = prefix;
  return e;
}
}  // namespace

// Two 8-token prompts in a 6-block (24-token) pool (7 blocks, one of them vLLM's null block):
// at 13 tokens A needs a 4th block, so the most recently admitted request (B) is preempted by
// recompute and re-admitted after A ends.
TEST_CASE("vllm_v1: preempts the most recently admitted request by recompute", "[presets][vllm_v1]") {
  Scheduler<presets::vllm_v1> s(tiny(7), LatencyModel{});
  CHECK(s.block_manager().num_free_device() == 6);
  s.add_request(make_spec(1, 8, 8));
  s.add_request(make_spec(2, 8, 8));
  run_table(s, {
      {{{1, 8}, {2, 8}}},                      // 1: both prompts (2 blocks each)
      {{{1, 1}, {2, 1}}},                      // 2: 3rd block each, pool full
      {{{1, 1}, {2, 1}}},                      // 3
      {{{1, 1}, {2, 1}}},                      // 4
      {{{1, 1}, {2, 1}}},                      // 5: 12 tokens each, 3 blocks each
      {{{1, 1}}, {{2, kRecompute}}},           // 6: A needs a 4th block -> B recomputes
      {{{1, 1}}},                              // 7: B (13 tokens, 4 blocks) does not fit in 2
      {{{1, 1}}},                              // 8: A samples its 8th token and finishes
      {{{2, 13}}, {}, {1}},                    // 9: B re-prefills prompt + 5 generated tokens
      {{{2, 1}}},                              // 10
      {{{2, 1}}},                              // 11: B's 8th token
      {{}, {}, {2}},
  });
  CHECK(s.stats().preemptions_recompute == 1);
  CHECK(s.stats().recomputed_tokens == 12);
  const auto done = s.take_terminal();
  REQUIRE(done.size() == 2);
  for (const auto& r : done) {
    CHECK(r.state == RequestState::kFinished);
    CHECK(r.num_generated == 8);
    CHECK(r.token_times_s.size() == 8);
  }
}

// The same scenario with prefix caching: B's freed full blocks stay cached, so after A ends B
// re-hits 2 blocks (8 tokens) and prefills only the rest.
TEST_CASE("vllm_v1: a recomputed request re-hits its own cached blocks", "[presets][vllm_v1][prefix]") {
  Scheduler<presets::vllm_v1> s(tiny(7, 0, true), LatencyModel{});
  s.add_request(make_spec(1, 8, 8));
  s.add_request(make_spec(2, 8, 8));
  run_table(s, {
      {{{1, 8}, {2, 8}}},
      {{{1, 1}, {2, 1}}},
      {{{1, 1}, {2, 1}}},
      {{{1, 1}, {2, 1}}},
      {{{1, 1}, {2, 1}}},
      {{{1, 1}}, {{2, kRecompute}}},  // B's 3 blocks freed; A's new block evicts B's tail block
      {{{1, 1}}},
      {{{1, 1}}},
      {{{2, 5}}, {}, {1}},  // B: 13 tokens, 2 cached blocks re-hit -> 5 to compute
      {{{2, 1}}},
      {{{2, 1}}},
      {{}, {}, {2}},
  });
  CHECK(s.stats().prefix_cache_hit_tokens == 8);
}

// vLLM v0: a new prompt is admitted only if the watermark (int(watermark x pool) blocks; here
// 10% of 10 = 1 block, vLLM's 1% would be 0) stays free, prefill steps run alone, then decodes.
TEST_CASE("vllm_v0: watermark admission and prefill-priority steps", "[presets][vllm_v0]") {
  presets::vllm_v0 p;
  p.reserver.watermark = 0.1;
  Scheduler<presets::vllm_v0> s(tiny(10), LatencyModel{}, p);
  s.add_request(make_spec(1, 16, 2));  // 4 blocks
  s.add_request(make_spec(2, 16, 2));  // 4 blocks: 10 - 4 - 4 = 2 >= watermark 1
  s.add_request(make_spec(3, 8, 2));   // 2 blocks: would leave 0 < 1 -> waits
  run_table(s, {
      {{{1, 16}, {2, 16}}},       // 1: prefill-only step
      {{{1, 1}, {2, 1}}},         // 2: decodes take 5 blocks each (request 3 still waits)
      {{{3, 8}}, {}, {1, 2}},     // 3: both finished, 3 admitted alone
      {{{3, 1}}},
      {{}, {}, {3}},
  });
}

// vLLM v0 with swap forced: a swapped-out request blocks new admissions until it is back.
TEST_CASE("vllm_v0: swap preemption and no admission while swapped", "[presets][vllm_v0][swap]") {
  presets::vllm_v0 p;
  p.mode.mode = kSwap;
  p.reserver.watermark = 0.0;
  Scheduler<presets::vllm_v0> s(tiny(4, 8), LatencyModel{}, p);
  s.add_request(make_spec(1, 4, 6));
  s.add_request(make_spec(2, 4, 6));
  s.add_request(make_spec(3, 4, 1));
  run_table(s, {
      {{{1, 4}, {2, 4}, {3, 4}}},   // 1: 3 prompts of 1 block each (4-block pool)
      {{{1, 1}, {2, 1}}, {}, {3}},  // 2: 3 finished (max_tokens 1); A, B take 2nd blocks
      {{{1, 1}, {2, 1}}},           // 3
      {{{1, 1}, {2, 1}}},           // 4
      {{{1, 1}, {2, 1}}},           // 5: 8 tokens each
      {{{1, 1}}, {{2, kSwap}}},     // 6: A needs a 3rd block: B swapped out (2 blocks)
      {{{2, 1}}, {}, {1}},          // 7: A finished; B swapped back in and decodes
      {{}, {}, {2}},
  });
  CHECK(s.stats().preemptions_swap == 1);
  CHECK(s.stats().swapped_out_blocks == 2);
  CHECK(s.stats().swapped_in_blocks == 2);
}

// Sarathi-Serve: a 512-token budget, decodes first, then the ongoing chunked prefill, then new
// prompts chunked into what is left.
TEST_CASE("sarathi: fixed budget, decodes first, chunked prefills", "[presets][sarathi]") {
  EngineConfig e = tiny(1000);
  e.max_model_len = 2048;
  e.max_num_batched_tokens = 0;  // unset: Sarathi-Serve's own 512
  Scheduler<presets::sarathi> s(e, LatencyModel{});
  s.add_request(make_spec(1, 100, 3));
  s.add_request(make_spec(2, 1000, 2));
  s.add_request(make_spec(3, 300, 2));
  run_table(s, {
      {{{1, 100}, {2, 412}}},           // 1: budget 512: A whole, B's first chunk
      {{{1, 1}, {2, 511}}},             // 2: A's decode first, then B's next chunk
      {{{1, 1}, {2, 77}, {3, 300}}},    // 3: B's last 77 tokens, C fits in 434 left
      {{{2, 1}, {3, 1}}, {}, {1}},      // 4: A finished after 3 tokens
      {{}, {}, {2, 3}},
  });
}

// Sarathi-Serve reserves the whole prompt at admission: in a 6-block (24-token) pool, B (16 tokens, 4
// blocks) waits while A (12-token prompt, 3 blocks, growing to 5) runs, though B's first
// 4-token chunk would fit; nobody is preempted. A first-chunk admission (vllm_v1_first_chunk)
// admits B at once and then preempts it.
TEST_CASE("sarathi: admission reserves the whole prompt", "[presets][sarathi]") {
  auto run = [](auto preset, std::int32_t blocks) {
    EngineConfig e = tiny(blocks);
    e.max_num_batched_tokens = 8;
    Scheduler<decltype(preset)> s(e, LatencyModel{});
    s.add_request(make_spec(1, 12, 8));
    s.add_request(make_spec(2, 16, 2));
    int b_first = -1, a_done = -1;
    for (int step = 0; step < 40 && s.num_unfinished() > 0; ++step) {
      const SchedulePlan& p = s.schedule(step);
      for (const auto& r : p.scheduled)
        if (r.id == 2 && b_first < 0) b_first = step;
      for (auto id : p.finished)
        if (id == 1) a_done = step;
      s.on_step_done({step + 0.5, {}});
    }
    return std::tuple{b_first, a_done, s.stats().preemptions_recompute};
  };
  const auto [b_first, a_done, preemptions] = run(presets::sarathi{}, 6);
  CHECK(a_done > 0);
  CHECK(b_first >= a_done);  // B's first chunk only after A has finished and freed its blocks
  CHECK(preemptions == 0);
  const auto [b_first_fc, a_done_fc, preemptions_fc] = run(presets::vllm_v1_first_chunk{}, 7);  // 6 blocks and the null block
  CHECK(b_first_fc == 1);
  CHECK(preemptions_fc > 0);
}

// TensorRT-LLM GUARANTEED_NO_EVICT: admission reserves prompt + max_tokens; a request whose
// full length does not fit waits even though its prompt would; nobody is ever preempted.
TEST_CASE("trtllm_guaranteed_no_evict: full reservation, never preempts", "[presets][trtllm]") {
  Scheduler<presets::trtllm_guaranteed_no_evict> s(tiny(6), LatencyModel{});
  s.add_request(make_spec(1, 8, 9));  // 8 + 9 - 1 = 16 tokens = 4 blocks reserved
  s.add_request(make_spec(2, 4, 5));  // 4 + 5 - 1 = 8 tokens = 2 blocks
  s.add_request(make_spec(3, 4, 1));  // 1 block: no room beside 4 + 2
  std::vector<StepExpect> steps = {{{{1, 8}, {2, 4}}}};
  for (int i = 0; i < 4; ++i) steps.push_back({{{1, 1}, {2, 1}}});
  steps.push_back({{{1, 1}, {3, 4}}, {}, {2}});  // 6: B done after 5 tokens; C admitted
  steps.push_back({{{1, 1}}, {}, {3}});
  steps.push_back({{{1, 1}}});
  steps.push_back({{{1, 1}}});
  steps.push_back({{}, {}, {1}});
  run_table(s, steps);
  CHECK(s.stats().preemptions_recompute + s.stats().preemptions_swap == 0);
}

// SGLang: running requests are charged min(max_new - generated, 4096) x ratio; retraction
// takes the request with the fewest generated tokens, ties to the longest prompt.
TEST_CASE("sglang: new-token-ratio admission", "[presets][sglang]") {
  Scheduler<presets::sglang> s(tiny(20), LatencyModel{});
  // ratio 0.7, 20 blocks = 80 tokens free. A: 4 prompt + 0.7 x 40 = 32 <= 80, admitted
  // (running charge 28). B: 8 + 28 = 36 <= 76 - 28, admitted (charge 56). C: 4 + 28 = 32 >
  // 68 - 56: waits.
  s.add_request(make_spec(1, 4, 40));
  s.add_request(make_spec(2, 8, 40));
  s.add_request(make_spec(3, 4, 40));
  const SchedulePlan& p = s.schedule(0.0);
  REQUIRE(p.scheduled.size() == 2);
  CHECK(p.scheduled[0].id == 1);
  CHECK(p.scheduled[1].id == 2);
}

TEST_CASE("sglang: retraction order is fewest generated, then longest prompt", "[presets][sglang]") {
  FewestGeneratedVictim v;
  Request a, b, c;
  a.spec.prompt_tokens = 10; a.num_generated = 5;
  b.spec.prompt_tokens = 30; b.num_generated = 2;
  c.spec.prompt_tokens = 20; c.num_generated = 2;
  std::vector<Request*> cands{&a, &b, &c};
  CHECK(v.select(cands, a, SchedulerView{}) == &b);
  c.spec.prompt_tokens = 30;  // tie on both keys -> the later admitted
  CHECK(v.select(cands, a, SchedulerView{}) == &c);
}

namespace {
/// Builds preset P directly (kvsched::Scheduler<P>, as README.md shows) and through the
/// registry, under an engine with prefix caching on and one with it off.
template <class P>
void check_prefix_caching_flag(const char* name) {
  INFO(name);
  EngineConfig on = tiny(64);
  on.enable_prefix_caching = true;
  const Scheduler<P> direct(on, LatencyModel{});
  CHECK(direct.block_manager().prefix_caching() == P::prefix_caching);
  CHECK(direct.engine().enable_prefix_caching == P::prefix_caching);
  CHECK(make_scheduler(name, on, LatencyModel{})->block_manager().prefix_caching() == P::prefix_caching);
  const Scheduler<P> off(tiny(64, 0, false), LatencyModel{});
  CHECK_FALSE(off.block_manager().prefix_caching());
}
template <class... P>
void check_prefix_caching_flags(const std::vector<std::string>& names) {
  REQUIRE(names.size() == sizeof...(P));
  std::size_t i = 0;
  (check_prefix_caching_flag<P>(names[i++].c_str()), ...);
}
}  // namespace

TEST_CASE("every preset built directly applies its engine's prefix-caching default", "[presets][prefix]") {
  // vLLM v0, Sarathi-Serve and TensorRT-LLM's schedulers do not cache prefixes.
  static_assert(!presets::vllm_v0::prefix_caching && !presets::sarathi::prefix_caching &&
                !presets::trtllm_guaranteed_no_evict::prefix_caching);
  const Scheduler<presets::vllm_v0> v0(tiny(64, 0, true), LatencyModel{});
  CHECK_FALSE(v0.block_manager().prefix_caching());
  // In registry order (preset_names()).
  check_prefix_caching_flags<presets::vllm_v1, presets::vllm_v1_first_chunk, presets::vllm_v0, presets::sarathi, presets::trtllm_guaranteed_no_evict,
                             presets::sglang, presets::cacheopt, presets::cacheopt_paper_padding, presets::oracle,
                             presets::cacheopt_noisy_10, presets::cacheopt_noisy_30, presets::cacheopt_noisy_50,
                             presets::cacheopt_no_padding, presets::cacheopt_no_alloc, presets::cacheopt_no_reuse,
                             presets::cacheopt_no_topup, presets::cacheopt_no_reserve, presets::cacheopt_no_slack,
                             presets::cacheopt_no_slo_victim, presets::cacheopt_no_mode_choice, presets::trtllm_oracle_lengths,
                             presets::cacheopt_peak, presets::oracle_peak, presets::sarathi_2048, presets::accelgen,
                             presets::accelgen_paper, presets::accelgen_oracle, presets::cacheopt_accelgen,
                             presets::cacheopt_accelgen_padded, presets::cacheopt_accelgen_paper,
                             presets::cacheopt_accelgen_oracle, presets::slo_fit, presets::slo_fit,
                             presets::kvsched_no_slo_chunks, presets::kvsched_no_slack, presets::kvsched_no_fit,
                             presets::kvsched_no_late_last, presets::kvsched_no_swap, presets::kvsched_no_shortest_first,
                             presets::kvsched_no_lost_first, presets::kvsched_no_urgent>(preset_names());
}

namespace {
/// A reserver whose top_up takes a mutable Request: not ReserverTopUp, so Scheduler would
/// skip it; ReserverHooksWellFormed catches it (Scheduler static_asserts that).
struct TypoReserver {
  [[nodiscard]] bool can_admit(const Request&, std::int32_t, const SchedulerView&) const { return true; }
  [[nodiscard]] std::int32_t growth_floor(const SchedulerView&) const { return 0; }
  void top_up(Request&, const SchedulerView&, BlockManager&) const {}
};
struct GoodReserver {
  [[nodiscard]] bool can_admit(const Request&, std::int32_t, const SchedulerView&) const { return true; }
  [[nodiscard]] std::int32_t growth_floor(const SchedulerView&) const { return 0; }
  void top_up(const Request&, const SchedulerView&, BlockManager&) const {}
};
static_assert(Reserver<TypoReserver> && !ReserverTopUp<TypoReserver> && !ReserverHooksWellFormed<TypoReserver>);
static_assert(ReserverTopUp<GoodReserver> && ReserverHooksWellFormed<GoodReserver>);
static_assert(ReserverHooksWellFormed<WatermarkReserver>);  // no hooks at all
}  // namespace
