// kvsched-latency-report: fits the latency model for every model x GPU preset and prints, as
// Markdown, the coefficients, the held-out error of each component fit, the attention scaling
// check and the whole-iteration shape comparisons (docs/latency_model.md holds its output).
//
// Usage: kvsched-latency-report [DATA_DIR] [--json MODEL GPU]
//   DATA_DIR defaults to $KVSCHED_SOURCE_DIR/data, else the source tree's data/ folder.
//   --json MODEL GPU prints only the fitted coefficients of one preset as JSON (a starting
//   point for a coefficients override file).
#include <fmt/core.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/latency/latency_json.hpp"
#include "kvsched/latency/prefill_feature_check.hpp"
#include "kvsched/latency/profile_fit.hpp"

namespace {

std::filesystem::path default_data_dir() {
  if (const char* env = std::getenv("KVSCHED_SOURCE_DIR"); env != nullptr && *env != '\0') {
    return std::filesystem::path(env) / "data";
  }
  return std::filesystem::path(KVSCHED_SOURCE_DIR_DEFAULT) / "data";
}

std::string err(const kvsched::ErrorStats& e) {
  return fmt::format("{:.2f}% (max {:.1f}%, {} rows)", e.mape_pct, e.max_ape_pct, e.rows);
}

void print_preset(const std::filesystem::path& data, const std::string& model_name, const std::string& gpu_name) {
  const auto model = kvsched::model_preset(model_name);
  const auto gpu = kvsched::gpu_preset(gpu_name);
  kvsched::FitReport r;
  const auto t0 = std::chrono::steady_clock::now();
  const auto c = kvsched::fit_latency_coeffs(data, model, gpu, &r);
  const double fit_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const kvsched::LatencyModel m(c);

  fmt::print("### {} on {}\n\n", model_name, gpu_name);
  fmt::print("KV pool at utilisation 0.9, block 16: {} blocks ({} tokens); fit + report took {:.3f} s.\n\n",
             kvsched::kv_pool_blocks(model, gpu), std::int64_t{kvsched::kv_pool_blocks(model, gpu)} * 16, fit_s);
  fmt::print("| coefficient | value |\n| --- | --- |\n");
  fmt::print("| cpu_overhead_s + per seq | {:.3f} ms + {:.2f} us/request |\n", c.cpu_overhead_s * 1e3,
             c.cpu_overhead_s_per_seq * 1e6);
  fmt::print(
      "| linear: base + per token x max(F, pivot) | {:.3f} ms + {:.2f} us/token, pivot {:.0f} tokens (flat {:.2f} ms) "
      "|\n",
      c.linear_base_s * 1e3, c.linear_s_per_token * 1e6, c.pivot_tokens, m.linear_s(1) * 1e3);
  fmt::print("| prefill attention: per chunk, per token | {:.3f} ms, {:.3f} us |\n", c.prefill_attn_s_per_chunk * 1e3,
             c.prefill_attn_s_per_token * 1e6);
  fmt::print("| prefill attention: per pair, per c^2 | {:.3f} ns, {:.3f} ns |\n", c.prefill_attn_s_per_pair * 1e9,
             c.prefill_attn_s_per_sq_token * 1e9);
  fmt::print("| decode attention: base, per seq, per context token | {:.3f} ms, {:.3f} us, {:.2f} ns |\n",
             c.decode_attn_base_s * 1e3, c.decode_attn_s_per_seq * 1e6, c.decode_attn_s_per_ctx_token * 1e9);
  fmt::print("| swap: latency, bandwidth | {:.1f} us, {:.2f} GB/s ({} KiB/token) |\n\n", c.swap_latency_s * 1e6,
             c.swap_bytes_per_s / 1e9, c.kv_bytes_per_token / 1024);

  fmt::print("| component fit | held-out MAPE | train MAPE |\n| --- | --- | --- |\n");
  fmt::print("| linear ops{} | {} | {} |\n", r.linear.measured ? "" : " (scaled rows, not measured)",
             err(r.linear.held_out), err(r.linear.train));
  fmt::print("| prefill attention (per layer, profile geometry) | {} | {} |\n", err(r.prefill_attention.held_out),
             err(r.prefill_attention.train));
  fmt::print("| decode attention (per layer, profile geometry) | {} | {} |\n", err(r.decode_attention.held_out),
             err(r.decode_attention.train));
  fmt::print("| CPU overhead | {} | {} |\n", err(r.cpu_overhead.held_out), err(r.cpu_overhead.train));
  fmt::print("| attention scaled to Llama-3-8B vs its sampled profile: prefill | {} | - |\n",
             err(r.attention_transfer_prefill));
  fmt::print("| attention scaled to Llama-3-8B vs its sampled profile: decode | {} | - |\n\n",
             err(r.attention_transfer_decode));
  fmt::print(
      "Scales: prefill heads x{:.2f}, decode KV heads x{:.2f}, compute x{:.3f} (datasheet x{:.3f}), bandwidth "
      "x{:.3f}.\n\n",
      r.prefill_head_scale, r.decode_head_scale, r.compute_scale, r.datasheet_compute_scale, r.bandwidth_scale);

  fmt::print("| whole-iteration ratio | source | measured | predicted | note |\n| --- | --- | --- | --- | --- |\n");
  for (const auto& k : r.iteration_checks) {
    fmt::print("| {} | {} | {:.3f} | {:.3f} | {} |\n", k.name, k.source, k.measured, k.predicted, k.note);
  }
  fmt::print(
      "\nSample predictions: prefill 1024 / 4096 tokens {:.1f} / {:.1f} ms; decode of 64 requests at 1024 context "
      "{:.1f} ms.\n",
      m.prefill_s(1024) * 1e3, m.prefill_s(4096) * 1e3, [&] {
        kvsched::BatchShape b;
        for (int i = 0; i < 64; ++i) b.add_decode(1024);
        return m.iteration_s(b) * 1e3;
      }());
  for (const auto& n : r.notes) fmt::print("\nNote: {}\n", n);
  fmt::print("\n");
}

// Held-out error of the prefill attention fit with the first interface's features [1, pairs]
// and with the features the model uses, [1, c, pairs, c^2] (why the terms were added).
void print_feature_check(const std::filesystem::path& data) {
  const auto p =
      kvsched::read_vidur_attention(data / "vidur_profiling" / "a100_legacy" / "attention_llama2-70b_tp2.csv");
  const auto check = kvsched::prefill_feature_check(p);
  fmt::print("## Prefill attention features\n\n| features | held-out MAPE |\n| --- | --- |\n");
  fmt::print("| [1, pairs] | {} |\n| [1, c, pairs, c^2] | {} |\n\n", err(check.pairs_only), err(check.full));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::filesystem::path data = default_data_dir();
    std::string json_model, json_gpu;
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--json") {
        if (i + 2 >= args.size()) throw std::invalid_argument("--json needs MODEL GPU");
        json_model = args.at(i + 1);
        json_gpu = args.at(i + 2);
        i += 2;
      } else if (args[i] == "-h" || args[i] == "--help") {
        fmt::print("usage: kvsched-latency-report [DATA_DIR] [--json MODEL GPU]\n");
        return 0;
      } else {
        data = args[i];
      }
    }
    if (!json_model.empty()) {
      const auto c =
          kvsched::fit_latency_coeffs(data, kvsched::model_preset(json_model), kvsched::gpu_preset(json_gpu));
      fmt::print("{}\n", kvsched::to_json(c).dump(2));
      return 0;
    }
    print_feature_check(data);
    for (const auto& model : kvsched::model_preset_names()) {
      for (const auto& gpu : kvsched::gpu_preset_names()) print_preset(data, model, gpu);
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "kvsched-latency-report: {}\n", e.what());
    return 1;
  }
}
