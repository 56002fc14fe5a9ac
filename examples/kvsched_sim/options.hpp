// examples/kvsched_sim/options.hpp: kvsched-sim's command line (CLI11).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kvsched/sim/sim_setup.hpp"

namespace kvsched::sim_cli {

/// Every flag of kvsched-sim, as parsed: the run's settings (sim::SimSetup, validated by
/// sim::prepare_sim) and the CLI's own (policy names or file, outputs).
struct Options : sim::SimSetup {
  std::string policy_names;   // --policy a,b,c (empty = every preset)
  std::string policy_config;  // --policy-config FILE
  std::string latency_json;   // --latency-json FILE or inline JSON
  std::string json;
  std::string requests_csv;
  std::string sweep_rate;
  std::string plot_dir;
  bool no_wall_time = false;
  bool quiet = false;
  std::size_t replicas = 1;                 // --replicas (cluster of engine replicas)
  std::string router = "least_loaded";      // --router a,b (cluster_runs.hpp)
  bool find_replicas = false;               // --find-replicas (capacity planning)
  std::size_t max_replicas = 256;           // --max-replicas (capacity search bound)
  std::size_t threads = 0;                  // --threads (0 = every core)
};

/// Options of one --help group of `app`.
struct OptionGroup {
  CLI::App& app;
  std::string name;
  /// Option `flag` bound to `var`; with `show_default`, --help prints the default value.
  template <class T>
  void add(const std::string& flag, T& var, const std::string& help, bool show_default = false) const {
    CLI::Option* opt = app.add_option(flag, var, help);
    if (show_default) opt->capture_default_str();
    opt->group(name);
  }
  /// Boolean flag `flag` bound to `var`.
  void flag(const std::string& flag, bool& var, const std::string& help) const {
    app.add_flag(flag, var, help)->group(name);
  }
};

/// Declares every flag on `app`, bound to `o`.
inline void add_options(CLI::App& app, Options& o) {
  app.description(
      "kvsched-sim: replay a request trace through KV-cache scheduling policies on a latency model\n"
      "fitted to measured GPU profiles; prints TTFT, TBT, SLO attainment and goodput side by side.\n"
      "With no arguments: the bundled mixed-SLO mix (Azure conv chat, arXiv summarisation, BWB\n"
      "translation; an SLO per class) at 4 requests/s for 10 simulated minutes, clients giving no\n"
      "max_tokens, llama2-7b on h100-80g, through the engine baselines, the papers' presets and kvsched.");
  constexpr bool kShowDefault = true;
  const OptionGroup in{app, "Input"};
  in.add("--trace", o.traces, "Trace file (repeatable): Azure CSV, Vidur/Splitwise CSV, length-only CSV or Mooncake JSONL");
  in.add("--trace-format", o.trace_format, "Format of every --trace: auto, azure, vidur, lengths, mooncake", kShowDefault);
  in.add("--workload", o.workload, "Workload file (JSON, or TOML by extension .toml) mixing sources");
  in.add("--rate-scale", o.rate_scale, "Replay arrivals X times faster (default 1)");
  in.add("--rate", o.rate, "Total arrival rate (requests/s): rescales timed traces, drives length-only ones");
  in.add("--arrival", o.arrival, "Arrival process for length-only traces: poisson, gamma", kShowDefault);
  in.add("--cv", o.cv, "Coefficient of variation of gamma inter-arrival gaps", kShowDefault);
  in.add("--num-requests", o.num_requests, "Keep the first N requests");
  in.add("--duration", o.duration, "Keep requests arriving in the first S seconds (after scaling)");
  in.add("--seed", o.seed, "Seed of the arrival processes", kShowDefault);
  in.add("--data-dir", o.data_dir, "Bundled data folder (default: env KVSCHED_DATA_DIR, else the repo's data/)");

  const OptionGroup slo{app, "SLO"};
  slo.add("--slo-class", o.slo_class, "SLO class of --trace inputs: chatbot, code_completion, summarization, best_effort",
          kShowDefault);
  slo.add("--slo-ttft", o.slo_ttft, "TTFT target (s) for every class");
  slo.add("--slo-tbt", o.slo_tbt, "TBT target (s) for every gap, every class");

  const OptionGroup eng{app, "Model, GPU and engine"};
  eng.add("--policy", o.policy_names, "Policy preset(s), comma-separated, or all (default: the engine baselines, the papers' presets and kvsched)");
  eng.add("--policy-config", o.policy_config,
          "JSON file: {\"preset\", \"overrides\", \"name\"}, a list of them, or a run config (--json's config.rerun)");
  eng.add("--model", o.model, "Model preset", kShowDefault);
  eng.add("--gpu", o.gpu, "GPU preset", kShowDefault);
  eng.add("--gpu-memory-gib", o.gpu_memory_gib,
          "GPU memory (GiB) instead of the preset's, same speed: a what-if GPU (e.g. 4x the KV blocks)");
  eng.add("--gpu-memory-utilization", o.gpu_memory_utilization, "Share of GPU memory for weights + KV (vLLM)",
          kShowDefault);
  eng.add("--kv-blocks", o.kv_blocks, "Device KV pool size in blocks (default: from model, GPU, utilisation)");
  eng.add("--block-size", o.block_size, "Tokens per KV block", kShowDefault);
  eng.add("--swap-space", o.swap_space_gib, "Host swap pool (GiB; vLLM --swap-space)", kShowDefault);
  eng.add("--max-num-seqs", o.max_num_seqs, "Requests per batch, every preset (default: each preset's engine default, 256)");
  eng.add("--max-num-batched-tokens", o.max_num_batched_tokens,
          "Tokens per forward pass, every preset (default: each preset's own: 2048, sarathi 512, vllm_v0 and "
          "trtllm max(2048, max_model_len))");
  eng.add("--max-model-len", o.max_model_len, "Context limit (tokens; default: the model's)");
  eng.flag("--no-prefix-caching", o.no_prefix_caching, "Turn prefix caching off in every preset");
  eng.add("--context-overflow", o.context_overflow,
          "Prompts beyond the context: clip (keep the output, cut the prompt) or reject; "
          "cut-prompt: also cut the prompt of every request whose prompt + output exceeds the context "
          "(as Vidur's trace replay does; clip cuts the output then)",
          kShowDefault);
  eng.add("--max-tokens", o.max_tokens,
          "Client output cap the scheduler sees: trace (exact), model-len (none), or a number "
          "(default: trace, model-len in the default run)");
  eng.flag("--overlap-swap", o.overlap_swap, "Swap transfers overlap the forward pass");
  eng.add("--latency-json", o.latency_json,
          "LatencyCoeffs fields overriding the fitted ones: a JSON file, or inline JSON, e.g. "
          "--latency-json '{\"cpu_overhead_s\": 0.004, \"cpu_overhead_mode\": \"serial\"}'");
  eng.add("--cpu-overhead", o.cpu_overhead,
          "CPU work per iteration: async (max(cpu, gpu): vLLM v1 async scheduling), serial (cpu + gpu: "
          "vLLM V0, Vidur's profile), off, or engine (each preset as its engine: serial for vllm_v0 and "
          "sarathi, whose engines schedule between forward passes, async for the others)",
          kShowDefault);
  eng.add("--latency-noise", o.latency_noise,
          "CV of a per-iteration multiplicative lognormal noise (mean 1) on compute time, seeded by --seed",
          kShowDefault);
  eng.add("--ground-truth", o.ground_truth,
          "Clock of the simulator: model (the fitted model the policies predict with) or profile (the "
          "measured profile tables, interpolated; policies still predict with the model)",
          kShowDefault);
  eng.add("--slo-margin", o.slo_margin, "Fraction of the TBT SLO AccelGen's chunker keeps spare, in [0, 1) (default 0)");

  const OptionGroup cl{app, "Cluster and threads"};
  cl.add("--replicas", o.replicas, "Engine replicas (one GPU each) behind a router", kShowDefault);
  cl.add("--router", o.router,
         "Router(s), comma-separated: round_robin, least_loaded, kv_aware, prefix_aware (docs/cluster.md)", kShowDefault);
  cl.flag("--find-replicas", o.find_replicas,
          "Capacity planning: per policy and router, the fewest replicas with both SLO attainments >= 90%");
  cl.add("--max-replicas", o.max_replicas, "Largest cluster --find-replicas tries", kShowDefault);
  cl.add("--threads", o.threads, "Threads for independent runs, and those left over for one run's replicas (0 = every core; results do not depend on it)");

  const OptionGroup out{app, "Output"};
  out.add("--json", o.json, "Write config, per-policy metrics and sweep as JSON");
  out.add("--requests-csv", o.requests_csv, "Write one CSV row per request and policy");
  out.add("--sweep-rate", o.sweep_rate, "A:B:STEP total rates (requests/s): each policy's maximum sustainable rate");
  out.add("--plot", o.plot_dir, "Write PNG plots (TTFT/TBT CDFs, attainment vs rate) to DIR");
  out.flag("--no-wall-time", o.no_wall_time, "Write sim_wall_s as null: byte-identical JSON for a seed");
  out.flag("-q,--quiet", o.quiet, "No progress bar");
}

}  // namespace kvsched::sim_cli
