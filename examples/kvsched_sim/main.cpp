// kvsched-sim: trace-driven serving simulator. Replays a real request trace through every
// policy preset (or the ones named) on a latency model fitted to measured GPU profiles, and
// prints TTFT, TBT, SLO attainment and goodput side by side. See docs/simulator.md.
//
// Exit codes: 0 success; 2 bad input (malformed trace or workload, unknown name, bad flag);
// 1 any other failure. Output files are written whole (temporary file + rename) or not at all.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/io/input_error.hpp"
#include "kvsched/io/number.hpp"
#include "kvsched/io/text.hpp"
#include "kvsched/latency/latency_json.hpp"
#include "kvsched/latency/profile_clock.hpp"
#include "kvsched/latency/profile_fit.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/sim/data_dir.hpp"
#include "kvsched/sim/output_file.hpp"
#include "kvsched/sim/rate_sweep.hpp"
#include "kvsched/sim/report_json.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/requests_csv.hpp"
#include "kvsched/sim/simulator.hpp"
#include "kvsched/sim/slo_class.hpp"
#include "kvsched/sim/workload_file.hpp"
#include "default_run.hpp"
#include "options.hpp"
#include "plot.hpp"
#include "progress_bar.hpp"
#include "report_table.hpp"

namespace {

using namespace kvsched;
using namespace kvsched::sim;
using sim_cli::Options;

// Bundled default run: default_run.hpp (the mixed-SLO mix, no client max_tokens).

/// Bad command-line value: exit code 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

std::vector<std::string> split_names(const std::string& s) {
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

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += ", ";
    s += x;
  }
  return s;
}

/// Policies to run: --policy names checked against the registry; "all" = every preset; none =
/// the engine baselines, the papers' presets and kvsched (default_run.hpp).
std::vector<std::string> resolve_policies(const Options& o) {
  const auto known = preset_names();
  if (o.policies.empty()) return sim_cli::default_policies();
  if (o.policies == "all") return known;
  auto names = split_names(o.policies);
  if (names.empty()) throw UsageError("--policy: no policy named; known: " + join(known));
  for (const auto& n : names) {
    if (std::find(known.begin(), known.end(), n) == known.end()) {
      throw UsageError("--policy: unknown policy '" + n + "'; known: " + join(known));
    }
  }
  return names;
}

BuildOptions build_options(const Options& o, std::int32_t max_model_len, bool default_run) {
  BuildOptions b;
  b.rate_rps = o.rate;
  b.rate_scale = o.rate_scale.value_or(1.0);
  b.duration_s = o.duration;
  b.num_requests = o.num_requests;
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
    if (!io::parse_integer(o.max_tokens, cap) || cap < 1 || cap > 0x7fffffff) {
      throw UsageError("--max-tokens must be trace, model-len or a positive number, got '" + o.max_tokens + "'");
    }
    b.max_tokens_mode = MaxTokensMode::kCap;
    b.max_tokens_cap = static_cast<std::int32_t>(cap);
  }
  b.slo_ttft_s = o.slo_ttft;
  b.slo_tbt_s = o.slo_tbt;
  if (!(b.rate_scale > 0.0)) throw UsageError("--rate-scale must be > 0");
  if (o.rate && !(*o.rate > 0.0)) throw UsageError("--rate must be > 0");
  if (o.duration && !(*o.duration > 0.0)) throw UsageError("--duration must be > 0");
  if (o.num_requests && *o.num_requests == 0) throw UsageError("--num-requests must be >= 1");
  if (o.slo_ttft && *o.slo_ttft < 0.0) throw UsageError("--slo-ttft must be >= 0");
  if (o.slo_tbt && *o.slo_tbt < 0.0) throw UsageError("--slo-tbt must be >= 0");
  return b;
}

Workload make_workload(const Options& o, const std::filesystem::path& data_dir, bool& default_run) {
  default_run = o.traces.empty() && o.workload.empty();
  if (!o.traces.empty() && !o.workload.empty()) throw UsageError("give --trace or --workload, not both");
  if (!o.workload.empty()) return load_workload_file(o.workload, data_dir);
  const auto format = parse_trace_format(o.trace_format);
  if (!format) throw UsageError("--trace-format must be auto, azure, vidur, lengths or mooncake, got '" + o.trace_format + "'");
  const auto arrival = parse_arrival_kind(o.arrival);
  if (!arrival) throw UsageError("--arrival must be poisson or gamma, got '" + o.arrival + "'");
  if (!(o.cv > 0.0)) throw UsageError("--cv must be > 0");
  if (!find_default_slo_class(o.slo_class)) {
    std::vector<std::string> names;
    for (const auto& c : default_slo_classes()) names.push_back(c.name);
    throw UsageError("--slo-class: unknown class '" + o.slo_class + "'; known: " + join(names));
  }
  std::vector<std::filesystem::path> paths;
  if (default_run) return sim_cli::default_workload(data_dir);
  for (const auto& t : o.traces) paths.emplace_back(t);
  Workload w = workload_from_traces(paths, *format, o.slo_class);
  for (auto& s : w.sources) s.arrival = {*arrival, 1.0, o.cv};
  return w;
}

EngineConfig engine_config(const Options& o, const ModelSpec& model, const GpuSpec& gpu, std::int32_t max_model_len) {
  if (o.block_size < 1) throw UsageError("--block-size must be >= 1");
  if (!(o.gpu_memory_utilization > 0.0 && o.gpu_memory_utilization <= 1.0)) {
    throw UsageError("--gpu-memory-utilization must be in (0, 1]");
  }
  if (o.swap_space_gib < 0.0) throw UsageError("--swap-space must be >= 0");
  EngineConfig e;
  e.block_size = o.block_size;
  e.num_device_blocks = o.kv_blocks ? *o.kv_blocks : kv_pool_blocks(model, gpu, o.gpu_memory_utilization, o.block_size);
  const double block_bytes = static_cast<double>(o.block_size) * static_cast<double>(model.kv_bytes_per_token());
  e.num_host_blocks = static_cast<std::int32_t>(o.swap_space_gib * 1073741824.0 / block_bytes);
  // Absent flags stay 0: each preset then applies its own engine default (EngineDefaults).
  if (o.max_num_seqs && *o.max_num_seqs < 1) throw UsageError("--max-num-seqs must be >= 1");
  if (o.max_num_batched_tokens && *o.max_num_batched_tokens < 1) throw UsageError("--max-num-batched-tokens must be >= 1");
  e.max_num_seqs = o.max_num_seqs.value_or(0);
  e.max_num_batched_tokens = o.max_num_batched_tokens.value_or(0);
  e.max_model_len = max_model_len;
  e.enable_prefix_caching = !o.no_prefix_caching;
  try {
    e.validate();
  } catch (const std::invalid_argument& ex) {
    throw UsageError(ex.what());
  }
  return e;
}

nlohmann::json config_json(const Options& o, const Workload& w, const SimRequests& reqs, const ModelSpec& model,
                           const GpuSpec& gpu, const EngineConfig& e, const LatencyCoeffs& c, const BuildOptions& b,
                           const std::vector<std::string>& policies) {
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
  j["policies"] = policies;
  j["model"] = {{"name", model.name}, {"kv_bytes_per_token", model.kv_bytes_per_token()},
                {"max_model_len", model.max_model_len}};
  j["gpu"] = {{"name", gpu.name}, {"memory_bytes", gpu.memory_bytes}};
  j["gpu_memory_utilization"] = o.gpu_memory_utilization;
  j["engine"] = {{"block_size", e.block_size},
                 {"num_device_blocks", e.num_device_blocks},
                 {"num_host_blocks", e.num_host_blocks},
                 // null: each preset's own default (the value each run used is in runs[].engine)
                 {"max_num_seqs", o.max_num_seqs ? nlohmann::json(e.max_num_seqs) : nlohmann::json(nullptr)},
                 {"max_num_batched_tokens", o.max_num_batched_tokens ? nlohmann::json(e.max_num_batched_tokens) : nlohmann::json(nullptr)},
                 {"max_model_len", e.max_model_len},
                 {"enable_prefix_caching", e.enable_prefix_caching},
                 {"overlap_swap", o.overlap_swap}};
  j["clock"] = {{"ground_truth", o.ground_truth}, {"latency_noise_cv", o.latency_noise},
                {"cpu_overhead", o.cpu_overhead},
                {"slo_margin", o.slo_margin ? nlohmann::json(*o.slo_margin) : nlohmann::json(nullptr)}};
  j["latency_coeffs"] = to_json(c);
  j["rate_rps"] = b.rate_rps ? nlohmann::json(*b.rate_rps) : nlohmann::json(nullptr);
  j["rate_scale"] = b.rate_scale;
  j["duration_s"] = b.duration_s ? nlohmann::json(*b.duration_s) : nlohmann::json(nullptr);
  j["num_requests_limit"] = b.num_requests ? nlohmann::json(*b.num_requests) : nlohmann::json(nullptr);
  j["seed"] = b.seed;
  j["context_overflow"] = o.context_overflow;
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
  return j;
}

int run(const Options& o) {
  const auto data_dir = resolve_data_dir(o.data_dir.empty() ? std::nullopt : std::optional<std::filesystem::path>(o.data_dir));
  const auto policies = resolve_policies(o);
  const std::string python = o.plot_dir.empty() ? std::string() : sim_cli::find_plot_python();
  std::vector<double> sweep_rates_rps;
  if (!o.sweep_rate.empty()) {
    try {
      sweep_rates_rps = parse_rate_range(o.sweep_rate);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--sweep-rate: ") + e.what());
    }
  }
  ModelSpec model;
  GpuSpec gpu;
  try {
    model = model_preset(o.model);
    gpu = gpu_preset(o.gpu);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const std::int32_t max_model_len = o.max_model_len ? *o.max_model_len : model.max_model_len;
  if (max_model_len < 2) throw UsageError("--max-model-len must be >= 2");
  bool default_run = false;
  const Workload w = make_workload(o, data_dir, default_run);
  const BuildOptions bopt = build_options(o, max_model_len, default_run);
  const EngineConfig engine = engine_config(o, model, gpu, max_model_len);
  FitOptions fopt;
  try {
    fopt.cpu_mode = parse_cpu_overhead_mode(o.cpu_overhead);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--cpu-overhead: ") + e.what());
  }
  if (!(o.latency_noise >= 0.0 && o.latency_noise <= 10.0)) throw UsageError("--latency-noise must be in [0, 10]");
  if (o.ground_truth != "model" && o.ground_truth != "profile")
    throw UsageError("--ground-truth must be model or profile, got '" + o.ground_truth + "'");
  if (o.slo_margin && !(*o.slo_margin >= 0.0 && *o.slo_margin < 1.0))
    throw UsageError("--slo-margin must be in [0, 1)");
  FitReport fit_report;
  fopt.iteration_checks = false;
  LatencyCoeffs coeffs = fit_latency_coeffs(data_dir, model, gpu, &fit_report, fopt);
  if (!o.latency_json.empty()) {
    try {
      coeffs = latency_coeffs_from_arg(o.latency_json, coeffs);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--latency-json: ") + e.what());
    }
  }
  const LatencyModel lm(coeffs);
  std::optional<ProfileClock> truth;
  if (o.ground_truth == "profile") {
    truth.emplace(read_vidur_attention(data_dir / "vidur_profiling" / "a100_legacy" / "attention_llama2-70b_tp2.csv"),
                  lm, fit_report.prefill_head_scale, fit_report.decode_head_scale, fit_report.compute_scale,
                  fit_report.bandwidth_scale, model.num_layers);
  }
  PresetTuning tuning;
  tuning.slo_margin = o.slo_margin;
  const SimRequests reqs = build_requests(w, bopt);

  fmt::print("kvsched-sim: {} requests over {:.1f} s from {}{}{}\n", reqs.num_requests(),
             reqs.last_arrival_s - reqs.first_arrival_s,
             o.workload.empty() ? w.sources.front().trace.filename().string() : o.workload,
             w.sources.size() > 1 ? fmt::format(" (+{} more)", w.sources.size() - 1) : std::string(),
             bopt.rate_scale != 1.0 ? fmt::format(", replayed {}x faster", bopt.rate_scale) : std::string());
  fmt::print("model {} on {} ({:.2f} memory): {} KV blocks of {} tokens ({} tokens), {} host blocks; max_model_len {}\n",
             model.name, gpu.name, o.gpu_memory_utilization, engine.num_device_blocks, engine.block_size,
             static_cast<std::int64_t>(engine.num_device_blocks) * engine.block_size, engine.num_host_blocks, max_model_len);
  for (std::size_t i = 0; i < reqs.class_names.size(); ++i) {
    fmt::print("SLO class {}: TTFT {} s, TBT {} s\n", reqs.class_names[i], reqs.class_slos[i].ttft_s, reqs.class_slos[i].tbt_s);
  }
  if (reqs.num_clipped_prompt + reqs.num_clipped_output + reqs.rejected.size() > 0) {
    fmt::print("requests beyond max_model_len: {} prompts clipped, {} outputs clipped, {} rejected\n",
               reqs.num_clipped_prompt, reqs.num_clipped_output, reqs.rejected.size());
  }
  fmt::print("clock: {}{}, CPU overhead {}{}\n", o.ground_truth == "profile" ? "profile tables" : "fitted model",
             o.latency_noise > 0.0 ? fmt::format(" x lognormal noise (CV {})", o.latency_noise) : std::string(),
             o.cpu_overhead, o.slo_margin ? fmt::format("; AccelGen slo_margin {}", *o.slo_margin) : std::string());
  std::fflush(stdout);

  SimOptions sopt;
  sopt.block_size = engine.block_size;
  sopt.overlap_swap = o.overlap_swap;
  sopt.ground_truth = truth ? &*truth : nullptr;
  sopt.latency_noise_cv = o.latency_noise;
  sopt.noise_seed = o.seed;
  sim_cli::ProgressBar bar(!o.quiet);
  std::vector<nlohmann::json> runs;
  std::string csv = sim::kRequestsCsvHeader;
  for (const auto& p : policies) {
    auto sched = make_scheduler(p, engine, lm, tuning);
    sopt.progress = [&](std::size_t done, std::size_t total) { bar.update(p, done, total); };
    const SimResult r = simulate(*sched, reqs, lm, sopt);
    runs.push_back(run_to_json(r, reqs, !o.no_wall_time));
    runs.back()["engine"] = {{"max_num_seqs", sched->engine().max_num_seqs},
                             {"max_num_batched_tokens", sched->engine().max_num_batched_tokens}};
    if (!o.requests_csv.empty()) append_requests_csv(csv, r, reqs);
  }
  std::vector<PolicySweep> sweep;
  if (!sweep_rates_rps.empty()) {
    const PolicySchedulerFactory factory = [&](const std::string& p) { return make_scheduler(p, engine, lm, tuning); };
    sweep = sweep_rates(w, bopt, sweep_rates_rps, policies, factory, lm, sopt,
                        [&](std::size_t done, std::size_t total) { bar.update("rate sweep", done, total); });
  }
  bar.finish();

  fmt::print("\n{}", sim_cli::comparison_table(runs));
  const std::string best = sim_cli::best_line(runs);
  if (const auto pc = sim_cli::per_class_table(runs); !pc.empty()) fmt::print("\n{}", pc);
  if (!sweep.empty()) fmt::print("\n{}", sim_cli::sweep_table(sweep));
  if (!best.empty()) fmt::print("\n{}", best);
  std::fflush(stdout);

  nlohmann::json out;
  out["config"] = config_json(o, w, reqs, model, gpu, engine, coeffs, bopt, policies);
  out["runs"] = runs;
  out["sweep"] = sweep_to_json(sweep);
  const std::string json_text = out.dump(1) + "\n";
  if (!o.json.empty()) write_file_atomically(o.json, json_text);
  if (!o.requests_csv.empty()) write_file_atomically(o.requests_csv, csv);
  if (!o.plot_dir.empty()) {
    std::filesystem::create_directories(o.plot_dir);
    std::filesystem::path json_path = o.json;
    if (json_path.empty()) {
      json_path = std::filesystem::path(o.plot_dir) / "kvsched-sim.json";
      write_file_atomically(json_path, json_text);
    }
    sim_cli::run_plot(python, json_path, o.plot_dir);
    fmt::print("plots written to {}\n", o.plot_dir);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app;
  Options o;
  sim_cli::add_options(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    return run(o);
  } catch (const io::InputError& e) {
    fmt::print(stderr, "kvsched-sim: error: {}\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "kvsched-sim: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "kvsched-sim: error: {}\n", e.what());
    return 1;
  }
}
