// kvsched/sim/request_builder.hpp: turns a Workload into the RequestSpecs the simulator feeds
// to a scheduler: reads the traces, times and mixes them, clips to the model's context.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kvsched/core/request.hpp"
#include "kvsched/io/input_error.hpp"
#include "kvsched/sim/arrival_process.hpp"
#include "kvsched/sim/rng.hpp"
#include "kvsched/sim/trace_reader.hpp"
#include "kvsched/sim/workload.hpp"

namespace kvsched::sim {

/// What to do with a request whose prompt does not fit the model's context (prompt + 1 output
/// token > max_model_len).
enum class ContextOverflow : std::uint8_t {
  kClip,    // keep the output length, cut the prompt to max(1, max_model_len - output) tokens (ours)
  kReject,  // do not submit it; it counts as rejected (vLLM rejects such prompts)
  /// Every request whose prompt + output exceeds max_model_len (not only over-long prompts)
  /// keeps its output and loses prompt tokens: prompt = max(1, max_model_len - output), the
  /// output then cut to what remains. Vidur's trace-replay request generator clips requests to
  /// max_tokens this way (vidur/request_generator/trace_replay_request_generator.py).
  kCutPrompt,
};

/// What max_tokens (the client's output cap, which the scheduler sees) is set to.
enum class MaxTokensMode : std::uint8_t {
  kTrace,     // the trace's output length (clipped to the context): the cap is exact
  kModelLen,  // max_model_len - prompt: no client cap, as vLLM's OpenAI server defaults to
  kCap,       // a fixed cap (BuildOptions::max_tokens_cap), clipped to max_model_len - prompt
};

/// Options of build_requests; the CLI flags map onto them.
struct BuildOptions {
  std::optional<double> rate_rps;            // total arrival rate (requests/s); overrides the workload's
  double rate_scale = 1.0;                   // divide every arrival time by this (replay k x faster)
  std::optional<double> duration_s;          // keep arrivals < duration (s), after scaling; overrides
  std::optional<std::size_t> num_requests;   // keep the first N; overrides the workload's
  std::uint64_t seed = 0;                    // for arrival processes
  std::int32_t max_model_len = 4096;         // prompt + output limit of the model (tokens)
  ContextOverflow overflow = ContextOverflow::kClip;
  MaxTokensMode max_tokens_mode = MaxTokensMode::kTrace;
  std::int32_t max_tokens_cap = 0;           // for kCap (tokens)
  std::optional<double> slo_ttft_s;          // overrides every class's TTFT target (s)
  std::optional<double> slo_tbt_s;           // overrides every class's TBT target (s)
};

/// A request of the workload that was not submitted (prompt beyond the context, kReject).
struct RejectedInput {
  double arrival_s = 0.0;
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;
  std::uint16_t class_id = 0;
  std::int64_t line = 0;  // line in its trace file
};

/// Requests ready for simulate(), sorted by arrival; specs[i].id == i.
struct SimRequests {
  std::vector<RequestSpec> specs;
  std::vector<std::int32_t> output_tokens;   // true output length per id (EOS after this many)
  std::vector<std::string> class_names;      // by class_id
  std::vector<Slo> class_slos;               // by class_id, after overrides
  std::vector<std::int64_t> source_rows;     // trace line of each request (for messages)
  std::vector<RejectedInput> rejected;       // not submitted: prompt beyond the context (kReject)
  std::size_t num_clipped_prompt = 0;        // prompts cut to fit the context (kClip)
  std::size_t num_clipped_output = 0;        // outputs cut to fit the context
  double first_arrival_s = 0.0;
  double last_arrival_s = 0.0;
  /// Requests the workload asked for: submitted + rejected as too long.
  [[nodiscard]] std::size_t num_requests() const { return specs.size() + rejected.size(); }
};

namespace detail {
struct Candidate {
  double arrival_s;
  std::size_t source;
  std::size_t row;
  const TraceRequest* req;
};
}  // namespace detail

/// Reads every source's trace, gives each its arrival times (WorkloadSource), divides them by
/// rate_scale, merges by time (ties: source order, then row order), cuts to duration and
/// num_requests, applies the context limit and the SLO classes.
///   prompt + output <= max_model_len; with kClip a prompt that leaves no room keeps
///   max(1, max_model_len - output) tokens and the output is then cut to what remains.
/// Throws InputError for bad traces and for a source that needs a rate and has none;
/// std::invalid_argument for bad options. Every rate, given or derived (share x total), must
/// lie in [ArrivalProcess::kMinRate, kMaxRate] and every arrival time must come out finite:
/// NaN or infinite times would never be reached by the simulator's clock. More SLO classes than
/// a class id holds (65,535) throw InputError instead of wrapping.
[[nodiscard]] inline SimRequests build_requests(const Workload& w, const BuildOptions& opt) {
  if (!(opt.rate_scale >= 1e-9 && opt.rate_scale <= 1e9))
    throw std::invalid_argument("rate scale must be in [1e-9, 1e9], got " + ArrivalProcess::fmt_number(opt.rate_scale));
  auto check_rate = [](double r, const std::string& what) {
    if (!(r >= ArrivalProcess::kMinRate && r <= ArrivalProcess::kMaxRate))
      throw std::invalid_argument(what + " must be in [1e-9, 1e9] requests/s, got " + ArrivalProcess::fmt_number(r));
  };
  if (opt.rate_rps) check_rate(*opt.rate_rps, "arrival rate");
  if (opt.max_model_len < 2) throw std::invalid_argument("max_model_len must be >= 2");
  if (opt.max_tokens_mode == MaxTokensMode::kCap && opt.max_tokens_cap < 1) throw std::invalid_argument("max_tokens cap must be >= 1");
  if (w.sources.empty()) throw io::InputError(w.file, 0, "sources", "no source");
  const std::optional<double> total_rate = opt.rate_rps ? opt.rate_rps : w.rate_rps;
  if (w.rate_rps) check_rate(*w.rate_rps, "workload rate");
  double share_sum = 0.0;
  for (const auto& s : w.sources) share_sum += s.share.value_or(1.0);
  if (!std::isfinite(share_sum) || !(share_sum > 0.0))
    throw io::InputError(w.file, 0, "sources", "shares must sum to a finite positive number, got " + ArrivalProcess::fmt_number(share_sum));

  std::vector<Trace> traces;
  traces.reserve(w.sources.size());
  std::vector<detail::Candidate> all;
  for (std::size_t si = 0; si < w.sources.size(); ++si) {
    const auto& src = w.sources[si];
    traces.push_back(read_trace(src.trace, src.format));
    Trace& t = traces.back();
    const std::string where = "sources[" + std::to_string(si) + "]";
    // Rows used.
    const std::size_t begin = std::min(src.skip, t.requests.size());
    const std::size_t end = src.num_requests ? std::min(t.requests.size(), begin + *src.num_requests) : t.requests.size();
    if (begin >= end) throw io::InputError(src.trace, 0, "", "no rows left after skipping " + std::to_string(src.skip));
    // Target rate of this source.
    std::optional<double> rate = src.rate_rps;
    if (!rate && total_rate) rate = *total_rate * (src.share.value_or(1.0) / share_sum);
    if (rate) check_rate(*rate, where + " rate (its share of the total)");
    const std::size_t n = end - begin;
    std::vector<double> times(n, 0.0);
    if (t.timed && !src.retime) {
      const double t0 = t.requests[begin].arrival_s;
      const double span = t.requests[end - 1].arrival_s - t0;
      double factor = 1.0;  // time multiplier
      if (rate && n > 1 && span > 0.0) factor = (static_cast<double>(n - 1) / span) / *rate;
      for (std::size_t i = 0; i < n; ++i) times[i] = (t.requests[begin + i].arrival_s - t0) * factor;
      if (!std::isfinite(times[n - 1]))
        throw std::invalid_argument(where + ": rescaling " + src.trace.string() + " to " + ArrivalProcess::fmt_number(*rate) +
                                    " requests/s gives non-finite arrival times");
    } else {
      if (!rate) {
        throw io::InputError(w.file.empty() ? src.trace : w.file, 0, w.file.empty() ? "rate" : where + ".rate",
                         std::string(t.timed ? "retimed" : "length-only") +
                             " trace needs an arrival rate: give the workload's rate, the source's rate, or --rate");
      }
      ArrivalProcess p = src.arrival;
      p.rate_rps = *rate;
      times = generate_arrival_times(p, n, derive_seed(opt.seed, si));
    }
    for (std::size_t i = 0; i < n; ++i) {
      const double at = times[i] / opt.rate_scale;
      if (!std::isfinite(at))
        throw std::invalid_argument(where + ": arrival time of row " + std::to_string(t.requests[begin + i].line) +
                                    " is not finite after dividing by the rate scale " + ArrivalProcess::fmt_number(opt.rate_scale));
      all.push_back({at, si, begin + i, &t.requests[begin + i]});
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.arrival_s < b.arrival_s; });
  const auto duration = opt.duration_s ? opt.duration_s : w.duration_s;
  const auto limit = opt.num_requests ? opt.num_requests : w.num_requests;
  if (duration) {
    const double t_end = (all.empty() ? 0.0 : all.front().arrival_s) + *duration;
    all.erase(std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.arrival_s >= t_end; }), all.end());
  }
  if (limit && all.size() > *limit) all.resize(*limit);

  // SLO classes in order of first use by a source.
  SimRequests out;
  std::vector<std::uint16_t> class_of_source(w.sources.size(), 0);
  std::unordered_map<std::string, std::uint16_t> class_ids;  // name -> index into class_names
  for (std::size_t si = 0; si < w.sources.size(); ++si) {
    const auto& name = w.sources[si].slo_class;
    auto it = class_ids.find(name);
    if (it == class_ids.end()) {
      if (out.class_names.size() >= std::numeric_limits<std::uint16_t>::max())
        throw io::InputError(w.file, 0, "sources[" + std::to_string(si) + "].class",
                             "more than " + std::to_string(std::numeric_limits<std::uint16_t>::max()) +
                                 " SLO classes (a class id is 16 bits)");
      const auto slo = w.find_class(name);
      if (!slo) throw io::InputError(w.file, 0, "sources[" + std::to_string(si) + "].class", "unknown SLO class '" + name + "'");
      Slo s = *slo;
      if (opt.slo_ttft_s) s.ttft_s = *opt.slo_ttft_s;
      if (opt.slo_tbt_s) s.tbt_s = *opt.slo_tbt_s;
      it = class_ids.emplace(name, static_cast<std::uint16_t>(out.class_names.size())).first;
      out.class_names.push_back(name);
      out.class_slos.push_back(s);
    }
    class_of_source[si] = it->second;
  }
  out.specs.reserve(all.size());
  out.output_tokens.reserve(all.size());
  const std::int32_t L = opt.max_model_len;
  for (const auto& c : all) {
    const auto& r = *c.req;
    std::int32_t prompt = r.prompt_tokens;
    std::int32_t output = r.output_tokens;
    const auto cls = class_of_source[c.source];
    if (opt.overflow == ContextOverflow::kCutPrompt && prompt + output > L && prompt > 1) {
      const std::int32_t cut = std::max(1, L - output);
      if (cut < prompt) {
        prompt = cut;
        ++out.num_clipped_prompt;
      }
    }
    if (prompt + 1 > L) {
      if (opt.overflow == ContextOverflow::kReject) {
        out.rejected.push_back({c.arrival_s, prompt, output, cls, r.line});
        continue;
      }
      prompt = std::max(1, L - output);
      ++out.num_clipped_prompt;
    }
    if (prompt + output > L) {
      output = L - prompt;
      ++out.num_clipped_output;
    }
    RequestSpec s;
    s.id = out.specs.size();
    s.arrival_s = c.arrival_s;
    s.prompt_tokens = prompt;
    switch (opt.max_tokens_mode) {
      case MaxTokensMode::kTrace: s.max_tokens = output; break;
      case MaxTokensMode::kModelLen: s.max_tokens = L - prompt; break;
      case MaxTokensMode::kCap: s.max_tokens = std::min(opt.max_tokens_cap, L - prompt); break;
    }
    output = std::min(output, s.max_tokens);
    s.slo = out.class_slos[cls];
    s.class_id = cls;
    s.oracle_output_tokens = output;
    const auto& trace = traces[c.source];
    if (!r.content_ids.empty()) {
      const auto nblocks = static_cast<std::size_t>((prompt + trace.content_block_tokens - 1) / trace.content_block_tokens);
      s.content_ids.assign(r.content_ids.begin(), r.content_ids.begin() + static_cast<std::ptrdiff_t>(std::min(nblocks, r.content_ids.size())));
      s.content_block_tokens = trace.content_block_tokens;
    }
    out.specs.push_back(std::move(s));
    out.output_tokens.push_back(output);
    out.source_rows.push_back(r.line);
  }
  if (!all.empty()) {
    out.first_arrival_s = all.front().arrival_s;
    out.last_arrival_s = all.back().arrival_s;
  }
  if (out.specs.empty() && out.rejected.empty()) {
    throw io::InputError(w.file.empty() ? w.sources.front().trace : w.file, 0, "", "no request left after the duration and count limits");
  }
  return out;
}

/// The requests `copies` times in a row (for scaling benchmarks): copy k arrives k x (span +
/// mean gap) later than the original, where span = last - first arrival and mean gap = span /
/// (n - 1); ids are renumbered 0..copies x n - 1. Rejected inputs are repeated the same way.
/// Throws std::invalid_argument when copies < 1.
[[nodiscard]] inline SimRequests repeat_requests(const SimRequests& r, int copies) {
  if (copies < 1) throw std::invalid_argument("repeat_requests: copies must be >= 1");
  SimRequests out = r;
  out.specs.clear();
  out.output_tokens.clear();
  out.source_rows.clear();
  out.rejected.clear();
  const double span = r.last_arrival_s - r.first_arrival_s;
  const std::size_t n = r.specs.size() + r.rejected.size();
  const double period = n > 1 ? span + span / static_cast<double>(n - 1) : 1.0;
  for (int k = 0; k < copies; ++k) {
    const double shift = period * k;
    for (std::size_t i = 0; i < r.specs.size(); ++i) {
      RequestSpec s = r.specs[i];
      s.id = out.specs.size();
      s.arrival_s += shift;
      out.specs.push_back(std::move(s));
      out.output_tokens.push_back(r.output_tokens[i]);
      out.source_rows.push_back(r.source_rows[i]);
    }
    for (auto rj : r.rejected) {
      rj.arrival_s += shift;
      out.rejected.push_back(rj);
    }
  }
  out.num_clipped_prompt = r.num_clipped_prompt * static_cast<std::size_t>(copies);
  out.num_clipped_output = r.num_clipped_output * static_cast<std::size_t>(copies);
  out.last_arrival_s = r.last_arrival_s + period * (copies - 1);
  return out;
}

/// Workload of plain trace files, as given with --trace: one source each, same class; shares
/// equal (so a --rate is split evenly).
[[nodiscard]] inline Workload workload_from_traces(const std::vector<std::filesystem::path>& traces, TraceFormat format,
                                                   const std::string& slo_class = std::string(kDefaultSloClass)) {
  Workload w;
  for (const auto& p : traces) {
    WorkloadSource s;
    s.trace = p;
    s.format = format;
    s.slo_class = slo_class;
    w.sources.push_back(std::move(s));
  }
  return w;
}

}  // namespace kvsched::sim
