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
#include <cmath>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <algorithm>
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

// Whole iterations measured by other engines against the model's predictions, after one
// stated scale per series: s = geometric mean of measured / predicted over the series (the
// models differ: Yi-34B TP2, Llama2-70B TP2), so that only the shape can miss. Target: every
// point within 15%.
void print_absolute_checks(const std::filesystem::path& data, const kvsched::LatencyModel& m,
                           const kvsched::GpuSpec& gpu) {
  using kvsched::io::CsvTable;
  struct Pt {
    std::string x;
    double measured, predicted;
  };
  auto series = [&](const std::string& name, const std::vector<Pt>& pts) {
    double lg = 0;
    for (const auto& p : pts) lg += std::log(p.measured / p.predicted);
    const double s = std::exp(lg / static_cast<double>(pts.size()));
    double worst = 0, mean = 0;
    std::string row;
    for (const auto& p : pts) {
      const double e = (s * p.predicted - p.measured) / p.measured * 100;
      worst = std::max(worst, std::abs(e));
      mean += std::abs(e) / static_cast<double>(pts.size());
      row += fmt::format("{} {:+.0f}%; ", p.x, e);
    }
    fmt::print("| {} | x{:.3f} | {:.1f}% | {:.1f}% | {} | {} |\n", name, s, mean, worst,
               worst < 15 ? "yes" : "**no**", row);
  };
  fmt::print("Whole iterations after one scale per series (s = geometric mean of measured / predicted):\n\n");
  fmt::print("| series | scale | mean error | worst | within 15% | per point (error after scaling) |\n"
             "| --- | ---: | ---: | ---: | --- | --- |\n");
  const auto sar = data / "sarathi_osdi_measurements";
  {
    const auto t = CsvTable::read(sar / "fig2_prefill_yi34b_tp2_a100.csv");
    std::vector<Pt> pts;
    for (const char* n : {"512", "1024", "2048", "4096"}) {
      pts.push_back({n, kvsched::detail::mean_where(t, "batch_execution_time", {{"batch_num_prefill_tokens", n}}),
                     m.prefill_s(std::stoll(n))});
    }
    series("Sarathi fig. 2 prefill, 512-4096 tokens (Yi-34B TP2 A100)", pts);
  }
  {
    const auto t = CsvTable::read(sar / "fig2_decode_yi34b_tp2_a100.csv");
    std::vector<Pt> pts;
    for (const char* n : {"1", "8", "32", "64", "128"}) {
      pts.push_back({n, kvsched::detail::mean_where(t, "batch_execution_time", {{"batch_num_decode_tokens", n}}),
                     kvsched::detail::decode_iteration_s(m, std::stoi(n), 1024)});
    }
    series("Sarathi fig. 2 decode, batch 1-128 at context ~1,020 (1,024-token requests)", pts);
  }
  {
    const auto t = CsvTable::read(sar / "fig9_chunking_overhead.csv");
    std::vector<Pt> pts;
    for (const char* len : {"2047", "4095"}) {
      for (const char* ch : {"512", "1024", "2048"}) {
        pts.push_back({std::string(len) + "/" + ch,
                       kvsched::detail::mean_where(t, "prefill_execution_time", {{"prefill_length", len}, {"chunk_size", ch}}) * 1e-3,
                       kvsched::detail::chunked_prefill_s(m, std::stoll(len), std::stoll(ch))});
      }
    }
    series("Sarathi fig. 9 chunked prefill, length/chunk", pts);
  }
  {
    const auto t = CsvTable::read(data / "splitwise_sim_perf_model" / "perf_model.csv");
    const std::string hw = gpu.vidur_dir == "h100" ? "h100-80gb" : "a100-80gb";
    auto mean = [&](const char* col, const std::string& prompt, const std::string& batch, const char* tokens) {
      return kvsched::detail::mean_where(t, col, {{"model", "llama2-70b"}, {"hardware", hw}, {"tensor_parallel", "2"},
                                                   {"prompt_size", prompt}, {"batch_size", batch}, {"token_size", tokens}});
    };
    std::vector<Pt> pp, tp;
    for (const char* n : {"512", "1024", "2048", "4096"}) pp.push_back({n, mean("prompt_time", n, "1", "128") * 1e-3, m.prefill_s(std::stoll(n))});
    for (const char* b : {"1", "8", "32", "64"}) {
      tp.push_back({b, mean("token_time", "512", b, "128") * 1e-3, kvsched::detail::decode_iteration_s(m, std::stoi(b), 576)});
    }
    series("Splitwise prompt time, 512-4096 tokens, batch 1 (Llama2-70B TP2 " + hw + ")", pp);
    series("Splitwise token time, batch 1-64, context ~576", tp);
  }
  fmt::print("\n");
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
  fmt::print("| prefill attention: per pair, per c^2, per KV token read | {:.3f} ns, {:.3f} ns, {:.2f} ns |\n",
             c.prefill_attn_s_per_pair * 1e9, c.prefill_attn_s_per_sq_token * 1e9, c.prefill_attn_s_per_kv_token * 1e9);
  fmt::print("| linear table | {} rows, {:.0f}..{:.0f} tokens |\n", c.linear_table.size(),
             c.linear_table.empty() ? 0.0 : c.linear_table.front().tokens,
             c.linear_table.empty() ? 0.0 : c.linear_table.back().tokens);
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
  fmt::print("| linear ops, flat-then-linear fit (previous model) | {} | {} |\n", err(r.linear_pivot.held_out),
             err(r.linear_pivot.train));
  fmt::print("| CPU overhead | {} | {} |\n", err(r.cpu_overhead.held_out), err(r.cpu_overhead.train));
  fmt::print("| attention scaled to Llama-3-8B vs its sampled profile: prefill | {} | - |\n",
             err(r.attention_transfer_prefill));
  fmt::print("| attention scaled to Llama-3-8B vs its sampled profile: decode | {} | - |\n\n",
             err(r.attention_transfer_decode));
  fmt::print(
      "Scales: prefill heads x{:.2f}, decode KV heads x{:.2f}, compute x{:.3f} (datasheet x{:.3f}), bandwidth "
      "x{:.3f}.\n\n",
      r.prefill_head_scale, r.decode_head_scale, r.compute_scale, r.datasheet_compute_scale, r.bandwidth_scale);

  fmt::print("Validation by region (targets: linear ops held-out mean < 5%, worst < 15%; attention mean < 10%):\n\n");
  fmt::print("| component | region | rows | mean error | worst | target met |\n| --- | --- | ---: | ---: | ---: | --- |\n");
  for (const auto& [name, e] : r.linear_regions) {
    fmt::print("| linear ops{} | {} | {} | {:.2f}% | {:.1f}% | {} |\n", r.linear.measured ? "" : " (scaled rows)", name,
               e.rows, e.mape_pct, e.max_ape_pct, e.mape_pct < 5 && e.max_ape_pct < 15 ? "yes" : "**no**");
  }
  for (const auto& a : r.attention_regions) {
    fmt::print("| attention: {} | {} | {} | {:.2f}% | {:.1f}% | {} |\n", a.profile, a.region, a.error.rows,
               a.error.mape_pct, a.error.max_ape_pct, a.error.mape_pct < 10 ? "yes" : "**no**");
  }
  fmt::print("\n");
  print_absolute_checks(data, m, gpu);
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
