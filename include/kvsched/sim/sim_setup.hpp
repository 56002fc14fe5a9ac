// kvsched/sim/sim_setup.hpp: everything a simulation run is set up from (kvsched-sim's flags,
// the Python module's keyword arguments), turned into the workload, engine config, latency
// model and requests, and the run's full config as JSON. One place, shared by the CLI and
// Python, so that both run the same thing from the same settings.
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/io/number.hpp"
#include "kvsched/io/text.hpp"
#include "kvsched/latency/latency_json.hpp"
#include "kvsched/latency/profile_clock.hpp"
#include "kvsched/latency/profile_fit.hpp"
#include "kvsched/presets/config_json.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/sim/data_dir.hpp"
#include "kvsched/sim/default_run.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/simulator.hpp"
#include "kvsched/sim/slo_class.hpp"
#include "kvsched/sim/workload.hpp"
#include "kvsched/sim/workload_file.hpp"

namespace kvsched::sim {

/// A bad setting (flag or keyword argument): kvsched-sim exits with code 2, Python raises
/// ValueError. The message names the setting as a flag ("--rate must be > 0").
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};


/// Every setting of a run, with kvsched-sim's defaults (docs/simulator.md lists the flags).
struct SimSetup {
  // input
  std::vector<std::string> traces;   // --trace files (empty and no workload: the bundled default)
  std::string trace_format = "auto"; // auto, azure, vidur, lengths, mooncake
  std::string workload;              // workload file (JSON or TOML)
  std::optional<double> rate_scale;  // default 1, or 1.5 in the default run
  std::optional<double> rate;        // total arrival rate (requests/s)
  std::string arrival = "poisson";   // poisson, gamma (length-only traces)
  double cv = 1.0;                   // of gamma gaps
  std::optional<std::int64_t> num_requests;  // signed: -1 is an error, not a wrap to "all"
  std::optional<double> duration;    // s
  std::uint64_t seed = 0;
  std::string data_dir;              // bundled data/ (empty: env KVSCHED_DATA_DIR, else the repo's)
  // SLO
  std::string slo_class = "chatbot";
  std::optional<double> slo_ttft;    // s
  std::optional<double> slo_tbt;     // s
  // model, GPU, engine
  std::string model = "llama2-7b";
  std::string gpu = "h100-80g";
  std::optional<double> gpu_memory_gib;   // the GPU's memory (GiB) instead of its preset's: a what-if GPU with more
                                          // (or less) memory and the same speed, e.g. for "4x the KV blocks" runs
  double gpu_memory_utilization = 0.9;
  std::optional<std::int32_t> kv_blocks;
  std::int32_t block_size = 16;
  double swap_space_gib = 4.0;
  std::optional<std::int32_t> max_num_seqs;            // absent: each preset's own engine default
  std::optional<std::int32_t> max_num_batched_tokens;  // absent: each preset's own default
  std::optional<std::int32_t> max_model_len;
  bool no_prefix_caching = false;
  std::string context_overflow = "clip";  // clip, reject, cut-prompt
  std::string max_tokens;                 // trace, model-len, or a number (empty: trace, model-len in the default run)
  bool overlap_swap = false;
  // clock (docs/latency_model.md)
  std::string cpu_overhead = "async";     // async (vLLM v1), serial (V0 profile), off, engine (each preset's
                                          // engine: serial where EngineDefaults::async_scheduling is false)
  double latency_noise = 0.0;             // CV of the per-iteration lognormal noise, in [0, 10]
  std::string ground_truth = "model";     // model, profile (the simulator's clock; policies predict with the model)
  std::optional<double> slo_margin;       // AccelGen chunkers' spare fraction of the TBT SLO, in [0, 1)
  /// Overrides applied after the flags: an object overlaid on the engine config
  /// (engine_config_from_json) and one on the fitted latency coefficients; null = none.
  nlohmann::json engine_overrides;
  nlohmann::json latency_overrides;
  /// Where each came from (a file name, for messages; empty: given in code).
  std::string engine_overrides_from;
  std::string latency_overrides_from;
  /// Policies to run (empty: every preset with its defaults).
  std::vector<PolicySpec> policies;
};

/// Comma-separated names ("a, b,c") as a list, blanks dropped.
[[nodiscard]] inline std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    auto comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    const auto name = std::string(io::trim(std::string_view(s).substr(pos, comma - pos)));
    if (!name.empty()) out.push_back(name);
    pos = comma + 1;
  }
  return out;
}

/// "a, b, c".
[[nodiscard]] inline std::string join_names(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += ", ";
    s += x;
  }
  return s;
}

/// Policies named by preset (default configs), checked against the registry. Throws
/// UsageError naming `flag` for an unknown name or an empty list.
[[nodiscard]] inline std::vector<PolicySpec> policy_specs_from_names(const std::vector<std::string>& names,
                                                                     const std::string& flag = "--policy") {
  const auto known = preset_names();
  if (names.empty()) throw UsageError(flag + ": no policy named; known: " + join_names(known));
  std::vector<PolicySpec> out;
  for (const auto& n : names) {
    if (std::find(known.begin(), known.end(), n) == known.end()) {
      throw UsageError(flag + ": unknown policy '" + n + "'; known: " + join_names(known));
    }
    out.push_back({n, n, nlohmann::json::object()});
  }
  return out;
}

/// A setup turned into what a run needs. Built by prepare_sim().
struct PreparedSim {
  std::filesystem::path data_dir;
  bool default_run = false;              // no trace and no workload: the bundled default
  Workload workload;
  BuildOptions build;
  ModelSpec model;
  GpuSpec gpu;
  EngineConfig engine;
  LatencyCoeffs coeffs;
  std::shared_ptr<const LatencyModel> latency;  // over coeffs
  SimRequests requests;
  std::shared_ptr<const ProfileClock> ground_truth;  // the profile clock (ground_truth "profile"), else null
  /// cpu_overhead "engine": latency and ground_truth with serial CPU overhead, for presets whose
  /// engine does not overlap its CPU work with the forward pass; null otherwise.
  std::shared_ptr<const LatencyModel> latency_serial;
  std::shared_ptr<const ProfileClock> ground_truth_serial;
  SimOptions sim;                        // block size, overlap_swap, clock (no progress callback)
  std::vector<PolicySpec> policies;      // every preset when the setup names none
};

namespace detail {
inline BuildOptions build_options(const SimSetup& o, std::int32_t max_model_len, bool default_run) {
  BuildOptions b;
  b.rate_rps = o.rate;
  b.rate_scale = o.rate_scale.value_or(1.0);
  b.duration_s = o.duration;
  if (o.num_requests && *o.num_requests < 1) throw UsageError("--num-requests must be >= 1, got " + std::to_string(*o.num_requests));
  if (o.num_requests) b.num_requests = static_cast<std::size_t>(*o.num_requests);
  if (default_run && o.num_requests && !o.duration) b.duration_s = std::nullopt;
  b.seed = o.seed;
  b.max_model_len = max_model_len;
  if (o.context_overflow == "clip") {
    b.overflow = ContextOverflow::kClip;
  } else if (o.context_overflow == "reject") {
    b.overflow = ContextOverflow::kReject;
  } else if (o.context_overflow == "cut-prompt") {
    b.overflow = ContextOverflow::kCutPrompt;
  } else {
    throw UsageError("--context-overflow must be clip, reject or cut-prompt, got '" + o.context_overflow + "'");
  }
  const std::string max_tokens = o.max_tokens.empty() ? (default_run ? "model-len" : "trace") : o.max_tokens;
  if (max_tokens == "trace") {
    b.max_tokens_mode = MaxTokensMode::kTrace;
  } else if (max_tokens == "model-len") {
    b.max_tokens_mode = MaxTokensMode::kModelLen;
  } else {
    std::int64_t cap = 0;
    if (!io::parse_integer(max_tokens, cap) || cap < 1 || cap > 0x7fffffff) {
      throw UsageError("--max-tokens must be trace, model-len or a positive number, got '" + max_tokens + "'");
    }
    b.max_tokens_mode = MaxTokensMode::kCap;
    b.max_tokens_cap = static_cast<std::int32_t>(cap);
  }
  b.slo_ttft_s = o.slo_ttft;
  b.slo_tbt_s = o.slo_tbt;
  if (!(b.rate_scale > 0.0)) throw UsageError("--rate-scale must be > 0");
  if (o.rate && !(*o.rate > 0.0)) throw UsageError("--rate must be > 0");
  if (o.duration && !(*o.duration > 0.0)) throw UsageError("--duration must be > 0");
  if (o.slo_ttft && *o.slo_ttft < 0.0) throw UsageError("--slo-ttft must be >= 0");
  if (o.slo_tbt && *o.slo_tbt < 0.0) throw UsageError("--slo-tbt must be >= 0");
  return b;
}

inline Workload make_workload(const SimSetup& o, const std::filesystem::path& data_dir, bool& default_run) {
  default_run = o.traces.empty() && o.workload.empty();
  if (!o.traces.empty() && !o.workload.empty()) throw UsageError("give --trace or --workload, not both");
  if (!o.workload.empty()) return load_workload_file(o.workload, data_dir);
  const auto format = parse_trace_format(o.trace_format);
  if (!format) {
    throw UsageError("--trace-format must be auto, azure, vidur, lengths or mooncake, got '" + o.trace_format + "'");
  }
  const auto arrival = parse_arrival_kind(o.arrival);
  if (!arrival) throw UsageError("--arrival must be poisson or gamma, got '" + o.arrival + "'");
  if (!(o.cv > 0.0)) throw UsageError("--cv must be > 0");
  if (!find_default_slo_class(o.slo_class)) {
    std::vector<std::string> names;
    for (const auto& c : default_slo_classes()) names.push_back(c.name);
    throw UsageError("--slo-class: unknown class '" + o.slo_class + "'; known: " + join_names(names));
  }
  if (default_run) return default_workload(data_dir);
  std::vector<std::filesystem::path> paths;
  for (const auto& t : o.traces) paths.emplace_back(t);
  Workload w = workload_from_traces(paths, *format, o.slo_class);
  for (auto& s : w.sources) s.arrival = {*arrival, 1.0, o.cv};
  return w;
}

inline EngineConfig engine_config(const SimSetup& o, const ModelSpec& model, const GpuSpec& gpu, std::int32_t max_model_len) {
  if (o.block_size < 1) throw UsageError("--block-size must be >= 1");
  if (!(o.gpu_memory_utilization > 0.0 && o.gpu_memory_utilization <= 1.0)) {
    throw UsageError("--gpu-memory-utilization must be in (0, 1]");
  }
  if (!(o.swap_space_gib >= 0.0)) throw UsageError("--swap-space must be >= 0");
  EngineConfig e;
  e.block_size = o.block_size;
  try {
    if (o.kv_blocks && *o.kv_blocks > 0) check_device_pool_fits(model, gpu, *o.kv_blocks, o.block_size);
    e.num_device_blocks = o.kv_blocks ? *o.kv_blocks : kv_pool_blocks(model, gpu, o.gpu_memory_utilization, o.block_size);
    e.num_host_blocks = host_pool_blocks(model, o.swap_space_gib * 1073741824.0, o.block_size, EngineConfig::kMaxPoolBlocks);
  } catch (const std::invalid_argument& ex) {
    throw UsageError(std::string(o.kv_blocks ? "--kv-blocks / --swap-space: " : "--swap-space: ") + ex.what());
  }
  // Absent settings stay 0: each preset then applies its own engine default (EngineDefaults).
  if (o.max_num_seqs && *o.max_num_seqs < 1) throw UsageError("--max-num-seqs must be >= 1");
  if (o.max_num_batched_tokens && *o.max_num_batched_tokens < 1) throw UsageError("--max-num-batched-tokens must be >= 1");
  e.max_num_seqs = o.max_num_seqs.value_or(0);
  e.max_num_batched_tokens = o.max_num_batched_tokens.value_or(0);
  e.max_model_len = max_model_len;
  e.enable_prefix_caching = !o.no_prefix_caching;
  try {
    if (!o.engine_overrides.is_null()) e = engine_config_from_json(o.engine_overrides, e, false);
    e.validate();
  } catch (const io::JsonFieldError& ex) {
    const std::string from = o.engine_overrides_from.empty() ? "" : o.engine_overrides_from + ": ";
    throw UsageError(from + "engine." + ex.what());
  } catch (const std::invalid_argument& ex) {
    throw UsageError(ex.what());
  }
  return e;
}
}  // namespace detail

/// Resolves the data folder, the model and GPU, the workload and its requests, the engine
/// config and the latency model (fitted to the profiles, then latency_overrides). Errors:
/// UsageError for a bad setting, io::InputError for a bad trace or workload file.
[[nodiscard]] inline PreparedSim prepare_sim(const SimSetup& o) {
  PreparedSim p;
  p.data_dir = resolve_data_dir(o.data_dir.empty() ? std::nullopt : std::optional<std::filesystem::path>(o.data_dir));
  if (o.policies.empty()) {
    p.policies = policy_specs_from_names(default_policies());
  } else {
    p.policies = o.policies;
  }
  try {
    p.model = model_preset(o.model);
    p.gpu = gpu_preset(o.gpu);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (o.gpu_memory_gib) {
    if (!(*o.gpu_memory_gib > 0.0 && *o.gpu_memory_gib <= 1e6)) {
      throw UsageError("--gpu-memory-gib must be in (0, 1e6] GiB, got " + std::to_string(*o.gpu_memory_gib));
    }
    p.gpu.memory_bytes = static_cast<std::int64_t>(*o.gpu_memory_gib * 1073741824.0);
  }
  const std::int32_t max_model_len = o.max_model_len ? *o.max_model_len : p.model.max_model_len;
  if (max_model_len < 2) throw UsageError("--max-model-len must be >= 2");
  p.workload = detail::make_workload(o, p.data_dir, p.default_run);
  p.build = detail::build_options(o, max_model_len, p.default_run);
  p.engine = detail::engine_config(o, p.model, p.gpu, max_model_len);
  FitOptions fopt;
  try {
    fopt.cpu_mode = o.cpu_overhead == "engine" ? CpuOverheadMode::kAsync : parse_cpu_overhead_mode(o.cpu_overhead);
  } catch (const std::invalid_argument&) {
    throw UsageError("--cpu-overhead must be async, serial, off or engine, got '" + o.cpu_overhead + "'");
  }
  if (!(o.latency_noise >= 0.0 && o.latency_noise <= 10.0)) throw UsageError("--latency-noise must be in [0, 10]");
  if (o.ground_truth != "model" && o.ground_truth != "profile") {
    throw UsageError("--ground-truth must be model or profile, got '" + o.ground_truth + "'");
  }
  if (o.slo_margin && !(*o.slo_margin >= 0.0 && *o.slo_margin < 1.0)) throw UsageError("--slo-margin must be in [0, 1)");
  FitReport fit_report;
  fopt.iteration_checks = false;
  p.coeffs = fit_latency_coeffs(p.data_dir, p.model, p.gpu, &fit_report, fopt);
  if (!o.latency_overrides.is_null()) {
    try {
      p.coeffs = latency_coeffs_from_json(o.latency_overrides, p.coeffs);
    } catch (const std::invalid_argument& e) {
      const std::string from = o.latency_overrides_from.empty() ? "" : o.latency_overrides_from + ": ";
      throw UsageError(from + e.what());
    }
  }
  p.latency = std::make_shared<const LatencyModel>(p.coeffs);
  if (o.cpu_overhead == "engine") {
    LatencyCoeffs serial = p.coeffs;
    serial.cpu_mode = CpuOverheadMode::kSerial;
    p.latency_serial = std::make_shared<const LatencyModel>(serial);
  }
  if (o.ground_truth == "profile") {
    const AttentionProfile legacy =
        read_vidur_attention(p.data_dir / "vidur_profiling" / "a100_legacy" / "attention_llama2-70b_tp2.csv");
    const auto clock = [&](const LatencyModel& m) {
      return std::make_shared<const ProfileClock>(legacy, m, fit_report.prefill_head_scale, fit_report.decode_head_scale,
                                                  fit_report.compute_scale, fit_report.bandwidth_scale, p.model.num_layers);
    };
    p.ground_truth = clock(*p.latency);
    if (p.latency_serial) p.ground_truth_serial = clock(*p.latency_serial);
  }
  if (o.slo_margin) {  // an override of every preset whose chunker has slo_margin (AccelGen's)
    for (auto& spec : p.policies) {
      if (!preset_config(spec.preset)["chunker"].contains("slo_margin")) continue;
      spec.overrides.merge_patch({{"chunker", {{"slo_margin", *o.slo_margin}}}});
    }
  }
  p.requests = build_requests(p.workload, p.build);
  p.sim.block_size = p.engine.block_size;
  p.sim.overlap_swap = o.overlap_swap;
  p.sim.ground_truth = p.ground_truth.get();
  p.sim.latency_noise_cv = o.latency_noise;
  p.sim.noise_seed = o.seed;
  return p;
}

/// Whether policy `spec` runs with serial CPU overhead under cpu_overhead "engine": its preset's
/// engine does not overlap CPU work with the forward pass (EngineDefaults::async_scheduling
/// false: vLLM v0, Sarathi-Serve). False in every other cpu_overhead mode.
[[nodiscard]] inline bool serial_cpu(const PreparedSim& p, const PolicySpec& spec) {
  return p.latency_serial &&
         !make_scheduler(spec.preset, p.engine, *p.latency, spec.overrides, spec.name)->engine_defaults().async_scheduling;
}

/// The latency model policy `spec` predicts and runs with (p.latency, or p.latency_serial).
[[nodiscard]] inline const LatencyModel& latency_for(const PreparedSim& p, const PolicySpec& spec) {
  return serial_cpu(p, spec) ? *p.latency_serial : *p.latency;
}

/// `so` with the ground-truth clock of policy `spec` (the serial one where serial_cpu()).
[[nodiscard]] inline SimOptions sim_options_for(const PreparedSim& p, const PolicySpec& spec, SimOptions so) {
  if (so.ground_truth && serial_cpu(p, spec)) so.ground_truth = p.ground_truth_serial.get();
  return so;
}

/// The scheduler of policy `spec` on the prepared engine and its latency model.
[[nodiscard]] inline std::unique_ptr<AnyScheduler> make_policy_scheduler(const PreparedSim& p, const PolicySpec& spec) {
  return make_scheduler(spec.preset, p.engine, latency_for(p, spec), spec.overrides, spec.name);
}

/// Simulates one policy of the prepared run. progress(ended, total) may be empty.
[[nodiscard]] inline SimResult run_policy(const PreparedSim& p, const PolicySpec& spec,
                                          std::function<void(std::size_t, std::size_t)> progress = {}) {
  auto sched = make_policy_scheduler(p, spec);
  SimOptions so = sim_options_for(p, spec, p.sim);
  so.progress = std::move(progress);
  return simulate(*sched, p.requests, latency_for(p, spec), so);
}

/// What rerunning needs beside the workload: {"policies": [{"name", "preset", "overrides":
/// full bundle config}], "engine": EngineConfig, "latency_coeffs": LatencyCoeffs, "sim":
/// {"overlap_swap"}}. kvsched-sim --policy-config reads it back (parse_run_config).
[[nodiscard]] inline nlohmann::json rerun_config_json(const PreparedSim& p) {
  nlohmann::json pol = nlohmann::json::array();
  for (const auto& s : p.policies) pol.push_back(policy_spec_to_json(s));
  return {{"policies", std::move(pol)},
          {"engine", engine_config_to_json(p.engine)},
          {"latency_coeffs", to_json(p.coeffs)},
          {"sim", {{"overlap_swap", p.sim.overlap_swap}, {"latency_noise_cv", p.sim.latency_noise_cv},
                   {"ground_truth", p.ground_truth ? "profile" : "model"}}}};
}

/// The run's config as kvsched-sim --json writes it under "config": inputs (sources, rates,
/// limits, SLO classes), model, GPU, engine, latency coefficients, policy names, and "rerun"
/// (rerun_config_json: every policy's full bundle config).
[[nodiscard]] inline nlohmann::json config_json(const SimSetup& o, const PreparedSim& p) {
  const auto& w = p.workload;
  const auto& reqs = p.requests;
  const auto& b = p.build;
  const auto& e = p.engine;
  nlohmann::json j;
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : w.sources) {
    nlohmann::json src = {{"trace", s.trace.string()}, {"format", std::string(to_string(s.format))},
                          {"class", s.slo_class}, {"skip", s.skip}};
    if (s.share) src["share"] = *s.share;
    if (s.rate_rps) src["rate_rps"] = *s.rate_rps;
    if (s.num_requests) src["num_requests"] = *s.num_requests;
    src["arrival"] = {{"kind", std::string(to_string(s.arrival.kind))}, {"cv", s.arrival.cv}};
    sources.push_back(std::move(src));
  }
  j["workload_file"] = o.workload.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.workload);
  j["sources"] = std::move(sources);
  nlohmann::json names = nlohmann::json::array();
  for (const auto& s : p.policies) names.push_back(s.name);
  j["policies"] = std::move(names);
  j["model"] = {{"name", p.model.name}, {"kv_bytes_per_token", p.model.kv_bytes_per_token()},
                {"max_model_len", p.model.max_model_len}};
  j["gpu"] = {{"name", p.gpu.name}, {"memory_bytes", p.gpu.memory_bytes}};
  j["gpu_memory_utilization"] = o.gpu_memory_utilization;
  j["engine"] = {{"block_size", e.block_size},
                 {"num_device_blocks", e.num_device_blocks},
                 {"num_host_blocks", e.num_host_blocks},
                 // null: each preset's own default (the value each run used is in runs[].engine)
                 {"max_num_seqs", o.max_num_seqs ? nlohmann::json(e.max_num_seqs) : nlohmann::json(nullptr)},
                 {"max_num_batched_tokens",
                  o.max_num_batched_tokens ? nlohmann::json(e.max_num_batched_tokens) : nlohmann::json(nullptr)},
                 {"max_model_len", e.max_model_len},
                 {"enable_prefix_caching", e.enable_prefix_caching},
                 {"overlap_swap", o.overlap_swap}};
  j["latency_coeffs"] = to_json(p.coeffs);
  j["rate_rps"] = b.rate_rps ? nlohmann::json(*b.rate_rps) : nlohmann::json(nullptr);
  j["rate_scale"] = b.rate_scale;
  j["duration_s"] = b.duration_s ? nlohmann::json(*b.duration_s) : nlohmann::json(nullptr);
  j["num_requests_limit"] = b.num_requests ? nlohmann::json(*b.num_requests) : nlohmann::json(nullptr);
  j["seed"] = b.seed;
  j["context_overflow"] = o.context_overflow;
  j["clock"] = {{"ground_truth", o.ground_truth}, {"latency_noise_cv", o.latency_noise},
                {"cpu_overhead", o.cpu_overhead},
                {"slo_margin", o.slo_margin ? nlohmann::json(*o.slo_margin) : nlohmann::json(nullptr)}};
  j["max_tokens"] = b.max_tokens_mode == MaxTokensMode::kTrace      ? std::string("trace")
                    : b.max_tokens_mode == MaxTokensMode::kModelLen ? std::string("model-len")
                                                                    : std::to_string(b.max_tokens_cap);
  nlohmann::json classes = nlohmann::json::array();
  for (std::size_t i = 0; i < reqs.class_names.size(); ++i) {
    classes.push_back({{"name", reqs.class_names[i]}, {"ttft_s", reqs.class_slos[i].ttft_s}, {"tbt_s", reqs.class_slos[i].tbt_s}});
  }
  j["slo_classes"] = std::move(classes);
  j["num_requests"] = reqs.num_requests();
  j["first_arrival_s"] = reqs.first_arrival_s;
  j["last_arrival_s"] = reqs.last_arrival_s;
  j["percentiles"] = "linear interpolation between closest ranks (Hyndman-Fan type 7, NumPy default)";
  j["rerun"] = rerun_config_json(p);
  return j;
}

}  // namespace kvsched::sim
