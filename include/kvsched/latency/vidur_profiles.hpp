// kvsched/latency/vidur_profiles.hpp: readers for the bundled Vidur profiles
// (data/vidur_profiling/, see its SOURCE.md). They turn per-op CSV rows into the samples the
// latency fit regresses on. Times are converted from the CSVs' milliseconds to seconds.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvsched/hardware/model_spec.hpp"
#include "kvsched/io/csv_table.hpp"

namespace kvsched {

/// Linear-op time of one forward pass of `tokens` tokens, all layers (s).
struct LinearOpSample {
  double tokens = 0;     // num_tokens of the profile row
  double time_s = 0;     // sum of per-layer op medians x num_layers (s)
  std::size_t line = 0;  // line in the CSV (for messages)
};

/// Per-layer ops of Vidur's mlp.csv that make up a decoder layer's non-attention time, as
/// Vidur's ExecutionTime sums them (vidur/entities/execution_time.py: norms, QKV and O
/// projections, RoPE, gated MLP, residual add). The embedding ("emb") is left out, as Vidur
/// leaves it out; so is the LM head, which the profile does not time.
inline constexpr std::array<std::string_view, 9> kVidurLinearOps = {
    "input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm", "mlp_up_proj",
    "mlp_act",         "mlp_down_proj", "add"};

/// Reads Vidur's mlp.csv: rows with num_tensor_parallel_workers == 1, in file order; time =
/// sum over kVidurLinearOps of time_stats.<op>.median x model.num_layers.
/// Errors: io::InputError (file, line, column) for a missing column, a bad number, a non-positive time,
/// or a row whose n_head / n_kv_head / n_embd / n_expanded_embd differ from `model`; and when the
/// file has no TP-1 rows.
[[nodiscard]] inline std::vector<LinearOpSample> read_vidur_linear_ops(const std::filesystem::path& file,
                                                                       const ModelSpec& model) {
  const io::CsvTable t = io::CsvTable::read(file);
  const std::size_t tp = t.column("num_tensor_parallel_workers"), tok = t.column("num_tokens");
  const std::array<std::pair<std::size_t, std::int64_t>, 4> geometry = {
      {{t.column("n_head"), model.num_q_heads},
       {t.column("n_kv_head"), model.num_kv_heads},
       {t.column("n_embd"), model.hidden},
       {t.column("n_expanded_embd"), model.ffn_hidden}}};
  std::array<std::size_t, kVidurLinearOps.size()> cols{};
  for (std::size_t i = 0; i < kVidurLinearOps.size(); ++i) {
    cols[i] = t.column("time_stats." + std::string(kVidurLinearOps[i]) + ".median");
  }
  std::vector<LinearOpSample> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    if (t.integer(r, tp) != 1) continue;
    for (const auto& [col, want] : geometry) {
      if (t.integer(r, col) != want) {
        throw t.error(r, col, "profile is not " + model.name + " (expected " + std::to_string(want) + ")");
      }
    }
    double ms = 0;
    for (std::size_t c : cols) ms += t.number(r, c);
    if (!(ms > 0)) throw t.error(r, cols[0], "non-positive linear-op time");
    out.push_back({t.number(r, tok), ms * 1e-3 * model.num_layers, t.line_of(r)});
  }
  if (out.empty()) throw t.file_error("no rows with num_tensor_parallel_workers == 1");
  return out;
}

/// One prefill attention measurement: a chunk of `chunk` tokens after `context` cached tokens,
/// one layer, one GPU of the profile's tensor-parallel group (s).
struct PrefillAttnSample {
  double chunk = 0;
  double context = 0;
  double time_s = 0;
  std::size_t line = 0;
};
/// One decode attention measurement: `batch` sequences of `context` cached tokens each, one
/// layer, one GPU (s).
struct DecodeAttnSample {
  double batch = 0;
  double context = 0;
  double time_s = 0;
  std::size_t line = 0;
};

/// A Vidur attention profile and the per-GPU geometry it was measured with.
struct AttentionProfile {
  std::string source;                      // file path
  std::int32_t q_heads_per_gpu = 0;        // n_q_head / num_tensor_parallel_workers
  std::int32_t kv_heads_per_gpu = 0;       // n_kv_head / num_tensor_parallel_workers
  std::int32_t head_dim = 0;               // n_embd / n_q_head
  std::vector<PrefillAttnSample> prefill;  // is_prefill rows, file order
  std::vector<DecodeAttnSample> decode;    // decode rows, file order
};

/// Reads a Vidur attention.csv (the legacy full file or the hand-sampled Llama-3-8B file; both
/// have n_embd, n_q_head, n_kv_head, num_tensor_parallel_workers, batch_size,
/// prefill_chunk_size, kv_cache_size, is_prefill and time_stats.attn_{prefill,decode}.median).
/// Prefill rows use attn_prefill, decode rows attn_decode; reshape and KV-cache-save ops are not
/// included (Vidur's legacy profile has no KV-save column, and the sampled file's KV-save times
/// are inconsistent: 0.004 ms for 500 decode tokens, 0.31 ms for 576 prefill tokens).
/// Errors: io::InputError for missing columns, bad numbers, non-positive times, mixed geometry.
[[nodiscard]] inline AttentionProfile read_vidur_attention(const std::filesystem::path& file) {
  const io::CsvTable t = io::CsvTable::read(file);
  const std::size_t embd = t.column("n_embd"), qh = t.column("n_q_head"), kvh = t.column("n_kv_head"),
                    tp = t.column("num_tensor_parallel_workers"), bs = t.column("batch_size"),
                    chunk = t.column("prefill_chunk_size"), kv = t.column("kv_cache_size"),
                    is_pf = t.column("is_prefill"), tpf = t.column("time_stats.attn_prefill.median"),
                    tdc = t.column("time_stats.attn_decode.median");
  AttentionProfile p;
  p.source = t.source();
  if (t.num_rows() == 0) throw t.file_error("no attention rows");
  const std::int64_t n_tp = t.integer(0, tp), n_q = t.integer(0, qh), n_kv = t.integer(0, kvh),
                     n_embd = t.integer(0, embd);
  if (n_tp <= 0 || n_q <= 0 || n_kv <= 0 || n_q % n_tp != 0 || n_kv % n_tp != 0 || n_embd % n_q != 0) {
    throw t.error(0, qh, "inconsistent head geometry");
  }
  p.q_heads_per_gpu = static_cast<std::int32_t>(n_q / n_tp);
  p.kv_heads_per_gpu = static_cast<std::int32_t>(n_kv / n_tp);
  p.head_dim = static_cast<std::int32_t>(n_embd / n_q);
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    if (t.integer(r, tp) != n_tp || t.integer(r, qh) != n_q || t.integer(r, kvh) != n_kv ||
        t.integer(r, embd) != n_embd) {
      throw t.error(r, qh, "geometry differs from the first row");
    }
    if (t.boolean(r, is_pf)) {
      const double ms = t.number(r, tpf);
      if (!(ms > 0)) throw t.error(r, tpf, "non-positive attention time");
      p.prefill.push_back({t.number(r, chunk), t.number(r, kv), ms * 1e-3, t.line_of(r)});
    } else {
      const double ms = t.number(r, tdc);
      if (!(ms > 0)) throw t.error(r, tdc, "non-positive attention time");
      p.decode.push_back({t.number(r, bs), t.number(r, kv), ms * 1e-3, t.line_of(r)});
    }
  }
  return p;
}

/// CPU time of one engine iteration with `batch` requests (s).
struct CpuOverheadSample {
  double batch = 0;
  double time_s = 0;
  std::size_t line = 0;
};

/// Reads Vidur's cpu_overheads.csv rows of `model_name` at tensor_parallel_degree `tp`:
/// time = schedule + sampler_e2e + prepare_inputs_e2e + process_model_outputs (medians), plus
/// ray_comm_time_mean when `include_ray_comm` (Vidur adds it; an engine without Ray workers at
/// TP 1 does not pay it, so the fit leaves it out by default, ours).
/// Errors: io::InputError for missing columns / bad numbers, and when no row matches.
[[nodiscard]] inline std::vector<CpuOverheadSample> read_vidur_cpu_overheads(const std::filesystem::path& file,
                                                                             std::string_view model_name, int tp,
                                                                             bool include_ray_comm) {
  const io::CsvTable t = io::CsvTable::read(file);
  const std::size_t name = t.column("model_name"), bs = t.column("batch_size"),
                    tpd = t.column("tensor_parallel_degree"), ray = t.column("ray_comm_time_mean");
  const std::array<std::size_t, 4> parts = {t.column("schedule_median"), t.column("sampler_e2e_median"),
                                            t.column("prepare_inputs_e2e_median"),
                                            t.column("process_model_outputs_median")};
  std::vector<CpuOverheadSample> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    if (t.cell(r, name) != model_name || t.integer(r, tpd) != tp) continue;
    double ms = 0;
    for (std::size_t c : parts) ms += t.number(r, c);
    if (include_ray_comm) ms += t.number(r, ray);
    out.push_back({t.number(r, bs), ms * 1e-3, t.line_of(r)});
  }
  if (out.empty()) {
    throw t.file_error("no rows for model '" + std::string(model_name) + "' at TP " + std::to_string(tp));
  }
  return out;
}

}  // namespace kvsched
