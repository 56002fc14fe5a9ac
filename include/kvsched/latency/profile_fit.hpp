// kvsched/latency/profile_fit.hpp: fits LatencyCoeffs for a model on a GPU to the bundled
// Vidur profiles with Eigen least squares, and reports the fit error (docs/design.md section 4;
// method and measured errors in docs/latency_model.md). Fast enough to run at simulator
// start-up (it parses ~5 MB of CSV and solves a few hundred tiny least-squares problems).
#pragma once
#include <Eigen/Dense>
#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kvsched/hardware/gpu_spec.hpp"
#include "kvsched/hardware/model_spec.hpp"
#include "kvsched/latency/attention_fit.hpp"
#include "kvsched/latency/iteration_checks.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/latency/least_squares.hpp"
#include "kvsched/latency/pivot_fit.hpp"
#include "kvsched/latency/vidur_profiles.hpp"

namespace kvsched {

/// Choices of the fit that are ours (not in a paper); defaults are what kvsched-sim uses.
struct FitOptions {
  int holdout_every = 5;            // row i of each profile is held out when i % 5 == 4
  bool allow_scaled_linear = true;  // no mlp.csv for (model, GPU): scale the A100 one (else throw)
  bool cpu_overhead = true;         // fit the CPU overhead (false: 0, an engine that hides it)
  bool include_ray_comm = false;    // add Vidur's ray_comm_time to the CPU overhead
  std::string cpu_profile_model = "meta-llama/Llama-2-7b-hf";  // cpu_overheads.csv rows to fit (TP 1)
  bool iteration_checks = true;  // fill FitReport::iteration_checks (reads Sarathi/Splitwise data)
  CpuOverheadMode cpu_mode = CpuOverheadMode::kSerial;  // LatencyCoeffs::cpu_mode of the result
  bool linear_table = true;  // linear ops from the profile rows (false: the flat-then-linear fit only)
};

/// Quality of one component fit: relative error on the rows fitted and on the held-out rows.
struct ComponentFit {
  std::string source;    // data file(s) and what was regressed
  ErrorStats train;      // rows the coefficients were fitted on
  ErrorStats held_out;   // every holdout_every-th row, not used by the fit
  bool measured = true;  // false when the rows are themselves scaled from another GPU
};

/// What the fit did and how well it matches the data. Errors are of each component against
/// its own profile rows (per layer for attention, all layers for linear ops).
struct FitReport {
  std::string model;                             // ModelSpec::name
  std::string gpu;                               // GpuSpec::name
  ComponentFit linear;                           // linear ops vs num_tokens: the table (or the pivot fit when off)
  ComponentFit linear_pivot;                     // the flat-then-linear fit with scanned pivot, for comparison
  std::vector<std::pair<std::string, ErrorStats>> linear_regions;  // held-out table error by forward size
  std::vector<AttentionRegionError> attention_regions;  // attention error by region (attention_fit.hpp)
  ComponentFit prefill_attention;                // legacy attention profile, prefill rows
  ComponentFit decode_attention;                 // legacy attention profile, decode rows
  ComponentFit cpu_overhead;                     // cpu_overheads.csv, TP 1
  ErrorStats attention_transfer_prefill;         // legacy fit scaled to Llama-3-8B vs its own sampled profile
  ErrorStats attention_transfer_decode;          // (same, decode rows): checks the head-count scaling
  double prefill_head_scale = 1;                 // (target q heads x head_dim) / profile's, per GPU
  double decode_head_scale = 1;                  // (target KV heads x head_dim) / profile's, per GPU
  double compute_scale = 1;                      // target GPU time / A100 time for compute-bound terms (measured)
  double datasheet_compute_scale = 1;            // same from datasheet FLOPS, for comparison only
  double bandwidth_scale = 1;                    // target GPU time / A100-80GB time for memory-bound attention terms (datasheet HBM)
  double linear_bandwidth_scale = 1;             // memory-bound linear-op floor: profile GPU HBM / target HBM (same architecture)
  std::vector<IterationCheck> iteration_checks;  // whole-iteration shape comparisons
  std::vector<std::string> notes;                // scaling and data caveats, in words
};

namespace detail {

struct LinearFitResult {
  PivotLinearFit fit;
  ErrorStats train, held_out;
};

[[nodiscard]] inline LinearFitResult fit_linear_samples(const std::vector<LinearOpSample>& s, int holdout_every) {
  std::vector<double> tok, t, tok_test, t_test;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool test = is_held_out(i, holdout_every);
    (test ? tok_test : tok).push_back(s[i].tokens);
    (test ? t_test : t).push_back(s[i].time_s);
  }
  LinearFitResult r;
  r.fit = fit_pivot_linear(tok, t);
  auto stats = [&](const std::vector<double>& x, const std::vector<double>& y) {
    Eigen::VectorXd p(static_cast<Eigen::Index>(x.size())), m(static_cast<Eigen::Index>(x.size()));
    for (std::size_t i = 0; i < x.size(); ++i) {
      p(static_cast<Eigen::Index>(i)) = r.fit.predict(x[i]);
      m(static_cast<Eigen::Index>(i)) = y[i];
    }
    return ape_stats(p, m);
  };
  r.train = stats(tok, t);
  r.held_out = stats(tok_test, t_test);
  return r;
}

/// Linear-op table of `rows` (ascending tokens, duplicates averaged), optionally without the
/// held-out rows.
[[nodiscard]] inline std::vector<LinearPoint> linear_table_of(const std::vector<LinearOpSample>& s, int holdout_every,
                                                              bool drop_held_out) {
  std::vector<std::pair<double, double>> r;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!drop_held_out || !is_held_out(i, holdout_every)) r.emplace_back(s[i].tokens, s[i].time_s);
  std::sort(r.begin(), r.end());
  std::vector<LinearPoint> t;
  std::size_t n = 0;
  for (const auto& [x, y] : r) {
    if (!t.empty() && t.back().tokens == x) {
      t.back().time_s = (t.back().time_s * static_cast<double>(n) + y) / static_cast<double>(n + 1);
      ++n;
    } else {
      t.push_back({x, y});
      n = 1;
    }
  }
  return t;
}

/// Held-out error of the table built from the other rows, overall and by forward size.
struct TableErrors {
  ErrorStats train, held_out;
  std::vector<std::pair<std::string, ErrorStats>> regions;
};
[[nodiscard]] inline TableErrors linear_table_errors(const std::vector<LinearOpSample>& s, int holdout_every) {
  const auto t = linear_table_of(s, holdout_every, true);
  TableErrors out;
  auto stats = [&](auto keep) {
    std::vector<double> p, m;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (!keep(i, s[i].tokens)) continue;
      p.push_back(linear_table_s(t, s[i].tokens));
      m.push_back(s[i].time_s);
    }
    return ape_stats(Eigen::Map<Eigen::VectorXd>(p.data(), static_cast<Eigen::Index>(p.size())),
                     Eigen::Map<Eigen::VectorXd>(m.data(), static_cast<Eigen::Index>(m.size())));
  };
  out.train = stats([&](std::size_t i, double) { return !is_held_out(i, holdout_every); });
  out.held_out = stats([&](std::size_t i, double) { return is_held_out(i, holdout_every); });
  const std::pair<double, double> bands[] = {{0, 128}, {128, 512}, {512, 1024}, {1024, 4096}, {4096, 1e18}};
  const char* names[] = {"1-128 tokens", "129-512 tokens", "513-1024 tokens", "1025-4096 tokens", "> 4096 tokens"};
  for (std::size_t k = 0; k < 5; ++k) {
    const auto e = stats([&](std::size_t i, double x) {
      return is_held_out(i, holdout_every) && x > bands[k].first && x <= bands[k].second;
    });
    if (e.rows > 0) out.regions.emplace_back(names[k], e);
  }
  return out;
}

/// Coefficients of a relative least-squares fit and its errors.
struct RowFit {
  Eigen::VectorXd beta;
  ErrorStats train, held_out;
};

/// Relative least-squares fit of rows[i].time_s on features(rows[i]), every holdout_every-th
/// row held out. Errors: std::invalid_argument when there are too few rows.
template <class Row, class Features>
[[nodiscard]] RowFit fit_rows(const std::vector<Row>& rows, Features features, int holdout_every) {
  if (rows.empty()) throw std::invalid_argument("fit_rows: no rows");
  const auto k = static_cast<Eigen::Index>(features(rows.front()).size());
  std::vector<std::size_t> train, test;
  for (std::size_t i = 0; i < rows.size(); ++i) (is_held_out(i, holdout_every) ? test : train).push_back(i);
  auto build = [&](const std::vector<std::size_t>& idx, Eigen::MatrixXd& X, Eigen::VectorXd& y) {
    X.resize(static_cast<Eigen::Index>(idx.size()), k);
    y.resize(static_cast<Eigen::Index>(idx.size()));
    for (std::size_t j = 0; j < idx.size(); ++j) {
      X.row(static_cast<Eigen::Index>(j)) = features(rows[idx[j]]);
      y(static_cast<Eigen::Index>(j)) = rows[idx[j]].time_s;
    }
  };
  Eigen::MatrixXd X, Xt;
  Eigen::VectorXd y, yt;
  build(train, X, y);
  build(test, Xt, yt);
  RowFit r;
  r.beta = relative_least_squares(X, y);
  r.train = ape_stats(X * r.beta, y);
  r.held_out = ape_stats(Xt * r.beta, yt);
  return r;
}

/// Prefill attention features of one chunk: [1, c, c (p + (c+1)/2), c^2].
[[nodiscard]] inline Eigen::RowVector4d prefill_features(double c, double p) {
  return {1.0, c, c * (p + (c + 1.0) / 2.0), c * c};
}
/// Decode attention features: [1, batch x context].
[[nodiscard]] inline Eigen::RowVector2d decode_features(double batch, double context) { return {1.0, batch * context}; }

[[nodiscard]] inline std::filesystem::path mlp_path(const std::filesystem::path& data_dir, const std::string& gpu_dir,
                                                    const ModelSpec& m) {
  return data_dir / "vidur_profiling" / gpu_dir / m.vidur_dir / "mlp.csv";
}

}  // namespace detail

/// Fits LatencyCoeffs for `model` on `gpu` from the profiles under `data_dir` (the repository's
/// data/ folder). Steps, each a relative least-squares fit (least_squares.hpp) on every row
/// except each holdout_every-th, which is kept for the held-out error:
///  1. Linear ops: vidur_profiling/<gpu.vidur_dir>/<model.vidur_dir>/mlp.csv, TP 1, summed per
///     layer x num_layers (vidur_profiles.hpp) against num_tokens; flat-then-linear with the
///     pivot scanned (pivot_fit.hpp) -> linear_base_s, linear_s_per_token, pivot_tokens; and
///     (options.linear_table) the rows themselves -> linear_table (latency_model.hpp
///     linear_table_s). A GPU with less HBM bandwidth than the profile's (A100 40GB) gets
///     rows raised to (bandwidth ratio x flat), the memory-bound floor.
///  2. Attention: vidur_profiling/a100_legacy/attention_llama2-70b_tp2.csv (32 q / 4 KV heads of
///     128 per GPU) pooled with a100/Meta-Llama-3-8B/attention_tp1_sampled.csv
///     (attention_fit.hpp), per layer. Prefill: [1, c, pairs, KV tokens]; decode: [1, batch x
///     context]; the KV-token terms are memory-bound (x KV heads x HBM ratio). Scaled
///     to the target (ours): prefill token/pair/c^2 terms by q heads x head_dim (FLOPs), decode
///     context term by KV heads x head_dim (bytes read), fixed terms unscaled (launch bound);
///     all x num_layers. On a GPU whose vidur_dir is not "a100": compute-bound terms x the
///     measured Llama-2-7B linear-op slope ratio (GPU / A100), memory-bound decode term x the
///     datasheet HBM bandwidth ratio (A100-80GB / GPU). decode_attn_s_per_seq stays 0 (a
///     per-sequence term fits negative on both attention profiles).
///  3. CPU overhead: vidur_profiling/a100_legacy/cpu_overheads.csv rows of
///     options.cpu_profile_model at TP 1, [1, batch] -> cpu_overhead_s, cpu_overhead_s_per_seq.
///     The same rows serve every model and GPU (host-side cost; ours).
///  4. Swap: swap_latency_s = gpu.host_copy_latency_s, swap_bytes_per_s =
///     gpu.host_link_bytes_per_s; kv_bytes_per_token = model.kv_bytes_per_token().
/// Llama-3-8B on H100 has no mlp.csv: with options.allow_scaled_linear (default) each A100 row
/// is multiplied by the ratio of the fitted Llama-2-7B H100 and A100 linear-op curves at the
/// same token count and fitted as in step 1 (its "held-out error" is then against scaled rows:
/// report.linear.measured = false); otherwise std::runtime_error.
/// `report`, when given, receives errors, scales, notes and (options.iteration_checks) the
/// whole-iteration comparisons (iteration_checks.hpp).
/// Errors: std::runtime_error naming the missing profile file; io::InputError (file, line, column) for
/// malformed profile rows or a profile whose geometry is not `model`'s.
[[nodiscard]] inline LatencyCoeffs fit_latency_coeffs(const std::filesystem::path& data_dir, const ModelSpec& model,
                                                      const GpuSpec& gpu, FitReport* report = nullptr,
                                                      const FitOptions& options = {}) {
  FitReport local;
  FitReport& rep = report != nullptr ? *report : local;
  rep = FitReport{};
  rep.model = model.name;
  rep.gpu = gpu.name;
  const auto vidur = data_dir / "vidur_profiling";
  if (!std::filesystem::is_directory(vidur)) {
    throw std::runtime_error("fit_latency_coeffs: no profile folder " + vidur.string() +
                             " (pass the repository's data/ folder)");
  }

  // GPU scaling relative to the A100 profiles, measured on Llama-2-7B (the model with both).
  const bool is_a100 = gpu.vidur_dir == "a100";
  detail::LinearFitResult l2_a100, l2_gpu;
  if (!is_a100) {
    const ModelSpec l2 = model_preset("llama2-7b");
    const auto ref_gpu_path = detail::mlp_path(data_dir, gpu.vidur_dir, l2);
    if (!std::filesystem::exists(ref_gpu_path)) {
      throw std::runtime_error("fit_latency_coeffs: GPU '" + gpu.name + "' (vidur_dir '" + gpu.vidur_dir +
                               "') has no Llama-2-7B profile " + ref_gpu_path.string() + " to scale from A100");
    }
    l2_a100 = detail::fit_linear_samples(read_vidur_linear_ops(detail::mlp_path(data_dir, "a100", l2), l2),
                                         options.holdout_every);
    l2_gpu = detail::fit_linear_samples(read_vidur_linear_ops(ref_gpu_path, l2), options.holdout_every);
    rep.compute_scale = l2_gpu.fit.s_per_token / l2_a100.fit.s_per_token;
    const GpuSpec a100 = gpu_preset("a100-80g");
    rep.datasheet_compute_scale = a100.dense_fp16_flops / gpu.dense_fp16_flops;
    rep.bandwidth_scale = a100.hbm_bytes_per_s / gpu.hbm_bytes_per_s;
    rep.notes.push_back("attention scaled from A100: compute-bound terms x " + std::to_string(rep.compute_scale) +
                        " (Llama-2-7B linear-op slope " + gpu.vidur_dir + "/a100; datasheet FLOPS ratio " +
                        std::to_string(rep.datasheet_compute_scale) + "), decode context term x " +
                        std::to_string(rep.bandwidth_scale) + " (datasheet HBM a100-80g/" + gpu.name + ")");
  }

  LatencyCoeffs c;
  // 1. Linear ops.
  const auto mlp = detail::mlp_path(data_dir, gpu.vidur_dir, model);
  detail::LinearFitResult lin;
  std::vector<LinearOpSample> lin_rows;
  if (std::filesystem::exists(mlp)) {
    lin_rows = read_vidur_linear_ops(mlp, model);
    lin = detail::fit_linear_samples(lin_rows, options.holdout_every);
    rep.linear.source = mlp.string();
  } else {
    const auto a100_mlp = detail::mlp_path(data_dir, "a100", model);
    if (is_a100 || !options.allow_scaled_linear || !std::filesystem::exists(a100_mlp)) {
      throw std::runtime_error(
          "fit_latency_coeffs: no linear-op profile for " + model.name + " on " + gpu.name + ": " + mlp.string() +
          " does not exist" +
          (is_a100 || !std::filesystem::exists(a100_mlp) ? "" : " (scaling from A100 is disabled)"));
    }
    lin_rows = read_vidur_linear_ops(a100_mlp, model);
    for (auto& r : lin_rows) r.time_s *= l2_gpu.fit.predict(r.tokens) / l2_a100.fit.predict(r.tokens);
    lin = detail::fit_linear_samples(lin_rows, options.holdout_every);
    rep.linear.source = a100_mlp.string() + " x Llama-2-7B " + gpu.vidur_dir + "/a100 linear-op ratio";
    rep.linear.measured = false;
    rep.notes.push_back("no " + gpu.vidur_dir + " mlp profile for " + model.name +
                        ": linear ops scaled from A100 by the Llama-2-7B ratio at each token count (not measured)");
  }
  // Same architecture, other HBM (A100 40GB vs the 80GB the profile was measured on): the
  // memory-bound floor of the linear ops (reading the weights, what the flat region below the
  // pivot is) scales with bandwidth, compute does not: row' = max(row, ratio x flat) (ours,
  // roofline). Refit on the scaled rows.
  const GpuSpec profile_gpu = gpu_preset(gpu.vidur_dir == "h100" ? "h100-80g" : "a100-80g");
  rep.linear_bandwidth_scale = profile_gpu.hbm_bytes_per_s / gpu.hbm_bytes_per_s;
  if (rep.linear_bandwidth_scale > 1.0) {
    const double floor_s = rep.linear_bandwidth_scale * lin.fit.predict(0);
    for (auto& r : lin_rows) r.time_s = std::max(r.time_s, floor_s);
    lin = detail::fit_linear_samples(lin_rows, options.holdout_every);
    rep.notes.push_back("linear ops: memory-bound floor x " + std::to_string(rep.linear_bandwidth_scale) + " (HBM " +
                        profile_gpu.name + " / " + gpu.name + "): rows below " +
                        std::to_string(floor_s * 1e3) + " ms raised to it (scaled, not measured)");
  }
  rep.linear_pivot = {rep.linear.source + ": flat-then-linear, scanned pivot", lin.train, lin.held_out,
                      rep.linear.measured};
  c.linear_base_s = lin.fit.base_s;
  c.linear_s_per_token = lin.fit.s_per_token;
  c.pivot_tokens = lin.fit.pivot_tokens;
  if (options.linear_table) {
    const auto te = detail::linear_table_errors(lin_rows, options.holdout_every);
    rep.linear.train = te.train;
    rep.linear.held_out = te.held_out;
    rep.linear_regions = te.regions;
    rep.linear.source += ": measured rows, interpolated (linear_table_s)";
    c.linear_table = detail::linear_table_of(lin_rows, options.holdout_every, false);
  } else {
    rep.linear.train = lin.train;
    rep.linear.held_out = lin.held_out;
  }

  // 2. Attention: both A100 profiles pooled (attention_fit.hpp), scaled to the target.
  const auto attn_path = vidur / "a100_legacy" / "attention_llama2-70b_tp2.csv";
  const auto l3_path = vidur / "a100" / "Meta-Llama-3-8B" / "attention_tp1_sampled.csv";
  for (const auto& f : {attn_path, l3_path})
    if (!std::filesystem::exists(f)) throw std::runtime_error("fit_latency_coeffs: missing " + f.string());
  const AttentionProfile attn = read_vidur_attention(attn_path);
  const AttentionProfile l3 = read_vidur_attention(l3_path);
  const AttentionFit af = fit_attention(attn, l3, options.holdout_every);
  rep.prefill_attention = {attn_path.string() + " + " + l3_path.filename().string() +
                               " prefill rows: [1, c, pairs, kv tokens] (+ legacy-only c^2, 1, c) per layer",
                           af.legacy_prefill_train, af.legacy_prefill_held_out, true};
  rep.decode_attention = {attn_path.string() + " + " + l3_path.filename().string() +
                              " decode rows: [1, batch x context] per layer",
                          af.legacy_decode_train, af.legacy_decode_held_out, true};
  rep.attention_transfer_prefill = af.sample_prefill;
  rep.attention_transfer_decode = af.sample_decode;
  rep.attention_regions = af.regions;
  rep.prefill_head_scale = static_cast<double>(model.num_q_heads) * model.head_dim /
                           (static_cast<double>(attn.q_heads_per_gpu) * attn.head_dim);
  rep.decode_head_scale = static_cast<double>(model.num_kv_heads) * model.head_dim /
                          (static_cast<double>(attn.kv_heads_per_gpu) * attn.head_dim);
  {
    const GpuSpec a100 = gpu_preset("a100-80g");
    rep.bandwidth_scale = a100.hbm_bytes_per_s / gpu.hbm_bytes_per_s;
  }
  const double layers = model.num_layers;
  const double pf_scale = rep.prefill_head_scale * rep.compute_scale * layers;
  const double mem_scale = rep.decode_head_scale * rep.bandwidth_scale * layers;
  c.prefill_attn_s_per_chunk = af.coeffs.prefill_per_chunk_s * layers;
  c.prefill_attn_s_per_token = af.coeffs.prefill_per_token_s * pf_scale;
  c.prefill_attn_s_per_pair = af.coeffs.prefill_per_pair_s * pf_scale;
  c.prefill_attn_s_per_kv_token = af.coeffs.prefill_per_kv_token_s * mem_scale;
  c.prefill_attn_s_per_sq_token = 0.0;
  c.decode_attn_base_s = af.coeffs.decode_base_s * layers;
  c.decode_attn_s_per_ctx_token = af.coeffs.decode_per_ctx_token_s * mem_scale;
  c.decode_attn_s_per_seq = 0.0;

  // 3. CPU overhead.
  const auto cpu_path = vidur / "a100_legacy" / "cpu_overheads.csv";
  if (!std::filesystem::exists(cpu_path)) throw std::runtime_error("fit_latency_coeffs: missing " + cpu_path.string());
  const auto cpu_rows = read_vidur_cpu_overheads(cpu_path, options.cpu_profile_model, 1, options.include_ray_comm);
  const auto cpu = detail::fit_rows(
      cpu_rows, [](const CpuOverheadSample& s) { return Eigen::RowVector2d(1.0, s.batch); }, options.holdout_every);
  rep.cpu_overhead = {cpu_path.string() + " (" + options.cpu_profile_model + ", TP 1): [1, batch]", cpu.train,
                      cpu.held_out, true};
  c.cpu_mode = options.cpu_mode;
  if (options.cpu_overhead) {
    c.cpu_overhead_s = cpu.beta(0);
    c.cpu_overhead_s_per_seq = cpu.beta(1);
  } else {
    rep.notes.emplace_back("CPU overhead fitted but not applied (FitOptions::cpu_overhead = false)");
  }

  // 4. Swap and KV size.
  c.swap_latency_s = gpu.host_copy_latency_s;
  c.swap_bytes_per_s = gpu.host_link_bytes_per_s;
  c.kv_bytes_per_token = model.kv_bytes_per_token();

  for (const double v :
       {c.prefill_attn_s_per_chunk, c.prefill_attn_s_per_token, c.prefill_attn_s_per_pair,
        c.prefill_attn_s_per_sq_token, c.prefill_attn_s_per_kv_token, c.decode_attn_base_s, c.decode_attn_s_per_ctx_token, c.cpu_overhead_s_per_seq}) {
    if (v < 0) {
      rep.notes.emplace_back("a fitted coefficient is negative: predictions may fall for some shapes");
      break;
    }
  }
  if (report != nullptr && options.iteration_checks)
    rep.iteration_checks = whole_iteration_checks(data_dir, LatencyModel(c), gpu, model.max_model_len);
  return c;
}

}  // namespace kvsched
