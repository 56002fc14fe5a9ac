// fuzz/fuzz_scheduler.cpp: libFuzzer target of the scheduler API. The bytes choose a preset and
// an engine config, then a sequence of calls (add_request, abort, schedule, on_step_done) with
// adversarial values: NaN and infinite times and SLOs, zero and huge token counts, duplicate
// and unknown ids, EOS for requests the plan did not sample, time going backwards, schedule()
// twice and on_step_done() twice. Misuse must throw the documented exception and change
// nothing; after every call the block manager's invariants must hold, every plan must be
// executable (its requests live and running, their block tables covering the step's tokens,
// batch caps kept), and at the end every request must finish, abort or be rejected.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "kvsched/presets/registry.hpp"

namespace {

using namespace kvsched;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

double adversarial_time(fuzz::Bytes& b, double now) {
  switch (b.below(8)) {
    case 0: return kNaN;
    case 1: return kInf;
    case 2: return -1.0;
    default: return now + b.below(1000) * 1e-3;
  }
}

struct Harness {
  std::unique_ptr<AnyScheduler> s;
  EngineConfig e;
  std::set<RequestId> live;  // added, not yet taken as terminal
  RequestId next_id = 0;
  double now = 0.0;
  bool pending = false;       // a plan awaits on_step_done
  bool plan_needs_report = false;
  std::vector<ScheduledRequest> last_scheduled;

  void check(const char* after) {
    try {
      s->block_manager().check_invariants();
    } catch (const std::logic_error& ex) {
      fuzz::fail(std::string("invariants after ") + after + ": " + ex.what());
    }
    std::size_t unfinished = 0;
    for (RequestId id : live) {
      const Request* r = s->find(id);
      if (r == nullptr) fuzz::fail("live request " + std::to_string(id) + " unknown after " + after);
      if (!is_terminal(r->state)) ++unfinished;
      if (r->num_computed_tokens < 0 || r->num_computed_tokens > r->num_tokens())
        fuzz::fail("request " + std::to_string(id) + ": computed tokens outside [0, num_tokens] after " + after);
      if (r->num_generated > r->spec.max_tokens) fuzz::fail("generated beyond max_tokens after " + std::string(after));
      if (static_cast<std::size_t>(r->num_generated) != r->token_times_s.size()) fuzz::fail("token times != generated");
      for (std::size_t i = 1; i < r->token_times_s.size(); ++i)
        if (!(r->token_times_s[i] >= r->token_times_s[i - 1])) fuzz::fail("token times go backwards or NaN");
      if (r->state == RequestState::kRunning) {
        const auto held = static_cast<std::int64_t>(s->block_manager().block_table(id).size());
        if (held < blocks_for_tokens(r->num_computed_tokens, e.block_size)) fuzz::fail("running request holds too few blocks");
      }
    }
    if (unfinished != s->num_unfinished()) fuzz::fail(std::string("num_unfinished disagrees after ") + after);
  }

  void check_plan(const SchedulePlan& p) {
    if (static_cast<std::int32_t>(p.scheduled.size()) > e.max_num_seqs) fuzz::fail("plan exceeds max_num_seqs");
    // Without chunked prefill the budget is raised to max_model_len (token_budget_chunker.hpp).
    if (p.num_batched_tokens() > std::max(e.max_num_batched_tokens, e.max_model_len)) fuzz::fail("plan exceeds the token budget");
    std::set<RequestId> seen;
    for (const auto& sr : p.scheduled) {
      if (!seen.insert(sr.id).second) fuzz::fail("request scheduled twice in one plan");
      const Request* r = s->find(sr.id);
      if (r == nullptr || r->state != RequestState::kRunning) fuzz::fail("scheduled request not running");
      if (sr.num_tokens < 1) fuzz::fail("scheduled with < 1 token");
      const auto need = blocks_for_tokens(static_cast<std::int64_t>(sr.num_computed_before) + sr.num_tokens, e.block_size);
      if (static_cast<std::int64_t>(s->block_manager().block_table(sr.id).size()) < need) fuzz::fail("block table too short for the step");
      if (sr.num_computed_before + sr.num_tokens > r->num_tokens()) fuzz::fail("step computes beyond the sequence");
    }
    auto pairs_ok = [](const std::vector<BlockCopy>& v, std::int32_t src_n, std::int32_t dst_n) {
      return std::all_of(v.begin(), v.end(), [&](const BlockCopy& c) { return c.src >= 0 && c.src < src_n && c.dst >= 0 && c.dst < dst_n; });
    };
    const auto dev = s->block_manager().num_device_blocks(), host = s->block_manager().num_host_blocks();
    if (!pairs_ok(p.swap_out, dev, host) || !pairs_ok(p.swap_in, host, dev) || !pairs_ok(p.copy, dev, dev)) fuzz::fail("block pair out of range");
  }

  void add(fuzz::Bytes& b) {
    RequestSpec r;
    // Sometimes an earlier id: a duplicate while the scheduler still knows it, a valid reuse
    // once take_terminal() has handed it back (or when it was never accepted).
    r.id = b.below(8) == 0 && next_id > 0 ? b.below(static_cast<std::uint32_t>(next_id)) : next_id;
    const bool fresh = r.id == next_id;
    const bool duplicate = s->find(r.id) != nullptr;
    r.arrival_s = b.below(4) == 0 ? adversarial_time(b, now) : now;
    const auto L = static_cast<std::uint32_t>(e.max_model_len);
    r.prompt_tokens = b.below(16) == 0 ? static_cast<std::int32_t>(b.u32()) : static_cast<std::int32_t>(b.below(L + 8));
    r.max_tokens = b.below(16) == 0 ? static_cast<std::int32_t>(b.u32()) : static_cast<std::int32_t>(1 + b.below(64));
    r.slo = {b.below(8) == 0 ? adversarial_time(b, 0.5) : 0.01 * b.below(100), b.below(8) == 0 ? adversarial_time(b, 0.1) : 0.001 * b.below(100)};
    r.oracle_output_tokens = 1 + static_cast<std::int32_t>(b.below(64));
    if (b.below(3) == 0) r.predicted_output_tokens = static_cast<std::int32_t>(b.u32());
    if (b.below(4) == 0) {
      const std::int32_t sizes[] = {0, -1, 1, 16, 512};
      r.content_block_tokens = sizes[b.below(5)];
      for (std::uint32_t k = 0, n = b.below(4); k < n; ++k) r.content_ids.push_back(b.below(3));
    }
    const bool bad = duplicate || r.prompt_tokens < 1 || r.max_tokens < 1 || !std::isfinite(r.arrival_s) || !std::isfinite(r.slo.ttft_s) ||
                     !std::isfinite(r.slo.tbt_s) || (!r.content_ids.empty() && r.content_block_tokens < 1);
    if (fresh) ++next_id;  // accepted or not, the id is used up
    try {
      s->add_request(r);
      if (duplicate) fuzz::fail("a duplicate id was accepted");
      if (bad) fuzz::fail("add_request accepted a bad spec");
      live.insert(r.id);
    } catch (const std::invalid_argument&) {
      if (!bad) fuzz::fail("add_request refused a valid spec");
    }
    check("add_request");
  }

  void abort(fuzz::Bytes& b) {
    if (next_id == 0) return;
    const RequestId id = b.below(static_cast<std::uint32_t>(next_id + 2));
    const Request* r = s->find(id);
    const bool abortable = r != nullptr && !is_terminal(r->state);
    try {
      s->abort(id);
      if (!abortable) fuzz::fail("abort of an unknown or terminal request succeeded");
    } catch (const std::out_of_range&) {
      if (abortable) fuzz::fail("abort of a live request threw");
    }
    check("abort");
  }

  void schedule(fuzz::Bytes& b) {
    if (pending && plan_needs_report) {
      if (b.below(4) != 0) return;  // misuse now and then: it must throw and change nothing
      try {
        (void)s->schedule(now);
        fuzz::fail("schedule() before on_step_done() of a plan that runs was accepted");
      } catch (const std::invalid_argument&) {
        fuzz::fail("schedule() misuse threw invalid_argument, not logic_error");
      } catch (const std::logic_error&) {
      }
      check("schedule (misuse)");
      return;
    }
    if (b.below(32) == 0) {
      try {
        (void)s->schedule(kNaN);
        fuzz::fail("schedule(NaN) was accepted");
      } catch (const std::invalid_argument&) {
      }
    }
    const SchedulePlan& p = s->schedule(now);
    pending = true;
    plan_needs_report = !p.scheduled.empty() || !p.swap_out.empty() || !p.swap_in.empty() || !p.copy.empty();
    last_scheduled = p.scheduled;
    check_plan(p);
    check("schedule");
  }

  void step_done(fuzz::Bytes& b) {
    StepResult res;
    const bool bad_time = b.below(8) == 0;
    res.now_s = bad_time ? adversarial_time(b, now - 1.0) : now + 1e-3 * (1 + b.below(100));
    for (const auto& sr : last_scheduled)
      if (sr.samples_token && b.below(4) == 0) res.outputs.push_back({sr.id, true});
    bool bad_eos = false;
    if (b.below(8) == 0 && next_id > 0) {
      const RequestId id = b.below(static_cast<std::uint32_t>(next_id));
      bad_eos = std::none_of(last_scheduled.begin(), last_scheduled.end(), [&](const ScheduledRequest& sr) { return sr.id == id && sr.samples_token; });
      res.outputs.push_back({id, true});
    }
    const bool time_ok = std::isfinite(res.now_s) && res.now_s >= now;
    try {
      s->on_step_done(res);
      if (!pending) fuzz::fail("on_step_done without a pending plan was accepted");
      if (!time_ok) fuzz::fail("on_step_done accepted a NaN or backward time");
      if (bad_eos) fuzz::fail("on_step_done accepted EOS for a request the plan did not sample");
      pending = false;
      now = res.now_s;
    } catch (const std::invalid_argument&) {  // before logic_error, its base class
      if (!pending) fuzz::fail("on_step_done without a pending plan threw invalid_argument, not logic_error");
      if (time_ok && !bad_eos) fuzz::fail("on_step_done refused a valid result");
    } catch (const std::logic_error& ex) {
      if (pending) fuzz::fail(std::string("on_step_done of a pending plan threw logic_error: ") + ex.what());
    }
    check("on_step_done");
  }

  void collect() {
    for (const Request& r : s->take_terminal()) {
      if (!live.erase(r.id())) fuzz::fail("terminal request that was never added");
      if (!is_terminal(r.state)) fuzz::fail("take_terminal returned a live request");
    }
  }

  /// Runs to the end with valid calls only: every request must leave the scheduler.
  void drain() {
    for (int i = 0; i < 20000 && s->num_unfinished() > 0; ++i) {
      if (pending && plan_needs_report) {
        now += 1e-3;
        s->on_step_done({now, {}});
        pending = false;
        check("on_step_done (drain)");
      }
      const SchedulePlan& p = s->schedule(now);
      pending = true;
      plan_needs_report = !p.scheduled.empty() || !p.swap_out.empty() || !p.swap_in.empty() || !p.copy.empty();
      check_plan(p);
      StepResult res{now + 1e-3, {}};
      for (const auto& sr : p.scheduled) {
        const Request* r = s->find(sr.id);
        if (sr.samples_token && r && r->spec.oracle_output_tokens && r->num_generated + 1 >= *r->spec.oracle_output_tokens)
          res.outputs.push_back({sr.id, true});
      }
      now = res.now_s;
      s->on_step_done(res);
      pending = false;
      check("on_step_done (drain)");
      collect();
    }
    if (s->num_unfinished() > 0) fuzz::fail("requests never finish: " + std::to_string(s->num_unfinished()) + " left");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> names = preset_names();
  fuzz::Bytes b(data, size);
  Harness h;
  h.e.block_size = static_cast<std::int32_t>(1 + b.below(32));
  h.e.num_device_blocks = static_cast<std::int32_t>(1 + b.below(96));
  h.e.num_host_blocks = static_cast<std::int32_t>(b.below(48));
  h.e.max_num_seqs = static_cast<std::int32_t>(1 + b.below(16));
  h.e.max_num_batched_tokens = static_cast<std::int32_t>(1 + b.below(512));
  const auto pool_tokens = static_cast<std::uint32_t>(h.e.num_device_blocks * h.e.block_size);
  if (pool_tokens < 2) return 0;
  h.e.max_model_len = static_cast<std::int32_t>(2 + b.below(pool_tokens - 1));
  h.e.enable_prefix_caching = b.below(2) == 0;
  LatencyCoeffs c;
  c.cpu_overhead_s = 1e-4 * b.below(100);
  c.linear_s_per_token = 1e-6 * b.below(100);
  c.decode_attn_s_per_ctx_token = 1e-8 * b.below(100);
  c.kv_bytes_per_token = 1 + b.below(1 << 20);
  c.swap_bytes_per_s = 1e6 * (1 + b.below(1000));
  const std::string& preset = names[b.below(static_cast<std::uint32_t>(names.size()))];
  h.s = make_scheduler(preset, h.e, LatencyModel(c));
  fuzz::fail_context() = preset + " block_size " + std::to_string(h.e.block_size) + " blocks " + std::to_string(h.e.num_device_blocks) +
              " host " + std::to_string(h.e.num_host_blocks) + " seqs " + std::to_string(h.e.max_num_seqs) + " tokens " +
              std::to_string(h.e.max_num_batched_tokens) + " max_model_len " + std::to_string(h.e.max_model_len);
  for (int op = 0; op < 4000 && !b.empty(); ++op) {
    switch (b.below(8)) {
      case 0:
      case 1: h.add(b); break;
      case 2: h.abort(b); break;
      case 3:
      case 4:
      case 5: h.schedule(b); break;
      default: h.step_done(b); break;
    }
    if (b.below(4) == 0) h.collect();
  }
  h.drain();
  return 0;
}
