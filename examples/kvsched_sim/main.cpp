// kvsched-sim: trace-driven serving simulator. Replays a real request trace through every
// policy preset (or the ones named) on a latency model fitted to measured GPU profiles, and
// prints TTFT, TBT, SLO attainment and goodput side by side. See docs/simulator.md.
//
// Exit codes: 0 success; 2 bad input (malformed trace or workload, unknown name, bad flag);
// 1 any other failure. Output files are written whole (temporary file + rename) or not at all.
#include <cstdio>
#include <fstream>
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
#include "kvsched/latency/profile_fit.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/sim/data_dir.hpp"
#include "kvsched/sim/output_file.hpp"
#include "kvsched/presets/config_json.hpp"
#include "kvsched/sim/rate_sweep.hpp"
#include "kvsched/sim/report_json.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/sim_setup.hpp"
#include "kvsched/sim/requests_csv.hpp"
#include "kvsched/sim/simulator.hpp"
#include "kvsched/sim/slo_class.hpp"
#include "kvsched/sim/workload_file.hpp"
#include "cluster_runs.hpp"
#include "cluster_table.hpp"
#include "options.hpp"
#include "plot.hpp"
#include "progress_bar.hpp"
#include "report_table.hpp"
#include "run_checks.hpp"

namespace {

using namespace kvsched;
using namespace kvsched::sim;
using sim_cli::Options;

/// The policies, engine and latency overrides of --policy, --policy-config and --latency-json.
void resolve_policy_flags(Options& o) {
  if (!o.policy_names.empty() && !o.policy_config.empty()) throw UsageError("give --policy or --policy-config, not both");
  if (o.policy_names == "all") {
    o.policies = policy_specs_from_names(preset_names());
  } else if (!o.policy_names.empty()) {
    o.policies = policy_specs_from_names(split_names(o.policy_names));
  }
  if (!o.policy_config.empty()) {
    RunConfig rc = read_run_config_file(o.policy_config);
    o.policies = std::move(rc.policies);
    o.engine_overrides = std::move(rc.engine);
    o.latency_overrides = std::move(rc.latency_coeffs);
    o.engine_overrides_from = o.latency_overrides_from = o.policy_config;
    if (rc.sim.contains("overlap_swap")) o.overlap_swap = o.overlap_swap || rc.sim.at("overlap_swap").get<bool>();
    if (rc.sim.contains("latency_noise_cv")) o.latency_noise = rc.sim.at("latency_noise_cv").get<double>();
    if (rc.sim.contains("ground_truth")) o.ground_truth = rc.sim.at("ground_truth").get<std::string>();
  }
  if (!o.latency_json.empty()) {
    // Inline JSON when the first non-blank character is '{', else a file.
    const auto first = o.latency_json.find_first_not_of(" \t\r\n");
    const bool inline_json = first != std::string::npos && o.latency_json[first] == '{';
    const std::string from = inline_json ? std::string("inline JSON") : o.latency_json;
    nlohmann::json j;
    try {
      if (inline_json) {
        j = nlohmann::json::parse(o.latency_json);
      } else {
        std::ifstream in(o.latency_json);
        if (!in) throw UsageError("--latency-json: " + o.latency_json + ": cannot open latency coefficients file");
        j = nlohmann::json::parse(in);
      }
    } catch (const nlohmann::json::parse_error& e) {
      throw UsageError("--latency-json: " + from + ": JSON syntax error at byte " + std::to_string(e.byte));
    } catch (const nlohmann::json::exception& e) {  // out_of_range 406: a number such as 1e999
      throw UsageError("--latency-json: " + from + ": " + e.what());
    }
    if (!j.is_object()) throw UsageError("--latency-json: " + from + ": expected an object");
    if (o.latency_overrides.is_null()) o.latency_overrides = nlohmann::json::object();
    o.latency_overrides.merge_patch(j);
    o.latency_overrides_from = o.latency_overrides_from.empty() ? from : o.policy_config + " + " + from;
  }
}

/// Routers of --router, checked; --replicas must be >= 1.
std::vector<RouterKind> resolve_routers(const Options& o) {
  if (o.replicas < 1) throw UsageError("--replicas must be >= 1");
  if (o.max_replicas < 1) throw UsageError("--max-replicas must be >= 1");
  std::vector<RouterKind> out;
  for (const auto& n : split_names(o.router)) {
    const auto k = parse_router(n);
    if (!k) throw UsageError("--router: unknown router '" + n + "'; known: round_robin, least_loaded, kv_aware, prefix_aware");
    out.push_back(*k);
  }
  if (out.empty()) throw UsageError("--router: no router named");
  return out;
}

int run(Options& o) {
  resolve_policy_flags(o);
  const auto routers = resolve_routers(o);
  const std::string python = o.plot_dir.empty() ? std::string() : sim_cli::find_plot_python();
  std::vector<double> sweep_rates_rps;
  if (!o.sweep_rate.empty()) {
    try {
      sweep_rates_rps = parse_rate_range(o.sweep_rate);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--sweep-rate: ") + e.what());
    }
  }
  const PreparedSim prep = prepare_sim(o);
  const Workload& w = prep.workload;
  // Every output path, before any simulation: writable, not an input, not given twice.
  {
    std::vector<std::filesystem::path> inputs{w.file};
    for (const auto& s : w.sources) inputs.push_back(s.trace);
    const auto first = o.latency_json.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && o.latency_json[first] != '{') inputs.emplace_back(o.latency_json);
    if (!o.policy_config.empty()) inputs.emplace_back(o.policy_config);
    std::vector<OutputPath> outputs{{"--json", o.json}, {"--requests-csv", o.requests_csv}, {"--plot", o.plot_dir, true}};
    if (!o.plot_dir.empty() && o.json.empty()) outputs.push_back({"--plot", std::filesystem::path(o.plot_dir) / "kvsched-sim.json"});
    check_output_paths(outputs, inputs);
  }
  const BuildOptions& bopt = prep.build;
  const EngineConfig& engine = prep.engine;
  const ModelSpec& model = prep.model;
  const GpuSpec& gpu = prep.gpu;
  const SimRequests& reqs = prep.requests;
  const std::int32_t max_model_len = engine.max_model_len;

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

  SimOptions sopt = prep.sim;
  sim_cli::ProgressBar bar(!o.quiet);
  // Runs: every policy (x router on a cluster), on --threads threads (cluster_runs.hpp).
  const auto specs =
      sim_cli::run_specs(prep.policies, o.replicas > 1 ? routers : std::vector<RouterKind>{routers.front()}, o.replicas);
  auto ran = sim_cli::run_all(specs, reqs, prep, sopt, o.threads, !o.no_wall_time, !o.requests_csv.empty(), bar);
  std::vector<nlohmann::json> runs = std::move(ran.runs);
  const std::string csv = sim::kRequestsCsvHeader + ran.csv_rows;
  std::vector<PolicySweep> sweep;
  if (!sweep_rates_rps.empty()) {
    std::vector<std::string> names;
    for (const auto& p : prep.policies) names.push_back(p.name);
    SimOptions so = sopt;
    so.progress = {};
    const PolicyRunner runner = [&](const std::string& name, const SimRequests& r) {
      for (const auto& p : prep.policies) {
        if (p.name == name) return sim_cli::run_one({p, {o.replicas, routers.front(), {}}}, r, prep, so).merged;
      }
      throw std::logic_error("sweep: no policy named " + name);
    };
    sweep = sweep_rates_with(w, bopt, sweep_rates_rps, names, runner, o.threads,
                             [&](std::size_t done, std::size_t total) { bar.update("rate sweep", done, total); });
  }
  std::vector<CapacityResult> capacity;
  if (o.find_replicas) {
    capacity = sim_cli::find_capacity(prep.policies, routers, o.max_replicas, reqs, prep, sopt, o.threads, bar);
  }
  bar.finish();

  fmt::print("\n{}", sim_cli::comparison_table(runs));
  const std::string best = sim_cli::best_line(runs);
  if (const auto pc = sim_cli::per_class_table(runs); !pc.empty()) fmt::print("\n{}", pc);
  if (const auto pr = sim_cli::per_replica_table(runs); !pr.empty()) fmt::print("\n{}", pr);
  if (!sweep.empty()) fmt::print("\n{}", sim_cli::sweep_table(sweep));
  if (!capacity.empty()) fmt::print("\n{}", sim_cli::capacity_table(capacity));
  if (!best.empty()) fmt::print("\n{}", best);
  std::fflush(stdout);

  nlohmann::json out;
  out["config"] = config_json(o, prep);
  if (o.replicas > 1 || o.find_replicas) {
    out["config"]["cluster"] = {{"replicas", o.replicas}, {"routers", split_names(o.router)}, {"max_replicas", o.max_replicas}};
  }
  out["runs"] = runs;
  out["sweep"] = sweep_to_json(sweep);
  if (o.find_replicas) out["capacity"] = capacity_to_json(capacity);
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
  return sim_cli::report_stuck(runs);
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
    if (rc != 0 && std::string(e.what()).find("--policy") != std::string::npos)
      fmt::print(stderr, "known policies: {}\n", join_names(preset_names()));
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
