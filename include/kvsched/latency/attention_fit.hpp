// kvsched/latency/attention_fit.hpp: the attention part of the latency fit, pooled over the
// two bundled Vidur attention profiles (legacy FlashAttention Llama-2-70B TP2 and the sampled
// FlashInfer Llama-3-8B TP1, both A100), in one per-layer reference geometry.
#pragma once
#include <Eigen/Dense>
#include <cstddef>
#include <string>
#include <vector>

#include "kvsched/latency/least_squares.hpp"
#include "kvsched/latency/vidur_profiles.hpp"

namespace kvsched {

/// Per-layer attention coefficients in the legacy profile's per-GPU geometry (32 q heads, 4
/// KV heads of 128): the caller scales them to a model by heads and to a GPU by compute and
/// bandwidth (profile_fit.hpp).
struct AttentionCoeffs {
  double prefill_per_chunk_s = 0;     // fixed cost per prefill chunk
  double prefill_per_token_s = 0;     // per chunk token
  double prefill_per_pair_s = 0;      // per causal (query, key) pair, 32 q heads of 128
  double prefill_per_kv_token_s = 0;  // per KV token a chunk reads (context + chunk), 4 KV heads of 128
  double legacy_sq_token_s = 0;       // legacy kernel only: extra per c^2 (not used by the model)
  double decode_base_s = 0;           // per iteration with decodes
  double decode_per_ctx_token_s = 0;  // per context token read, 4 KV heads of 128
};

/// One region of an attention profile and the fitted model's error on it.
struct AttentionRegionError {
  std::string profile;  // "legacy FA (Llama-2-70B TP2)" or "FlashInfer (Llama-3-8B TP1)"
  std::string region;   // e.g. "prefill, context 0"
  ErrorStats error;     // held-out rows only for the legacy profile; every row of the sample
};

/// What fit_attention() returns.
struct AttentionFit {
  AttentionCoeffs coeffs;
  ErrorStats legacy_prefill_train, legacy_prefill_held_out;  // legacy rows, with its c^2 term
  ErrorStats legacy_decode_train, legacy_decode_held_out;
  ErrorStats sample_prefill, sample_decode;  // sampled FlashInfer rows, every one (model terms only)
  std::vector<AttentionRegionError> regions;
};

namespace detail {
/// Pooled prefill features of one row, reference geometry: [1, c, pairs x q, (p + c) x kv,
/// L c^2, L, L c] with q / kv the profile's q / KV heads over the reference's and L = 1 on the
/// legacy profile (its FlashAttention kernel spends about as much on the chunk's own causal
/// block as on context pairs and has its own fixed costs; these three terms absorb that and
/// are not used to predict).
[[nodiscard]] inline Eigen::Matrix<double, 1, 7> pooled_prefill_features(double c, double p, double q, double kv,
                                                                        bool legacy) {
  const double L = legacy ? 1.0 : 0.0;
  return {1.0, c, c * (p + (c + 1.0) / 2.0) * q, (p + c) * kv, L * c * c, L, L * c};
}
/// Pooled decode features: [1, batch x context x kv].
[[nodiscard]] inline Eigen::RowVector2d pooled_decode_features(double batch, double context, double kv) {
  return {1.0, batch * context * kv};
}
}  // namespace detail

/// Fits attention on both profiles at once (ours; docs/latency_model.md). Every
/// `holdout_every`-th row of each profile is held out of the fit. The sampled profile's rows
/// weigh (legacy rows / sample rows) each, so that both profiles count the same in total.
/// Prefill: detail::pooled_prefill_features; decode: detail::pooled_decode_features. Errors on
/// the legacy profile include its legacy-only terms; errors on the sample use the model terms
/// only (what a prediction uses). `legacy` must be the reference geometry (32 q / 4 KV per GPU
/// of 128; any other geometry is scaled to it).
/// Errors: std::invalid_argument from the solver when a profile has too few rows.
[[nodiscard]] inline AttentionFit fit_attention(const AttentionProfile& legacy, const AttentionProfile& sample,
                                                int holdout_every) {
  const double ref_q = static_cast<double>(legacy.q_heads_per_gpu) * legacy.head_dim;
  const double ref_kv = static_cast<double>(legacy.kv_heads_per_gpu) * legacy.head_dim;
  const double sq = static_cast<double>(sample.q_heads_per_gpu) * sample.head_dim / ref_q;
  const double skv = static_cast<double>(sample.kv_heads_per_gpu) * sample.head_dim / ref_kv;
  AttentionFit out;
  // Prefill.
  {
    std::vector<std::size_t> lt, ltest, st;
    for (std::size_t i = 0; i < legacy.prefill.size(); ++i) (is_held_out(i, holdout_every) ? ltest : lt).push_back(i);
    for (std::size_t i = 0; i < sample.prefill.size(); ++i)
      if (!is_held_out(i, holdout_every)) st.push_back(i);
    const auto n = static_cast<Eigen::Index>(lt.size() + st.size());
    Eigen::MatrixXd X(n, 7);
    Eigen::VectorXd y(n), w(n);
    Eigen::Index k = 0;
    const double ws = st.empty() ? 1.0 : static_cast<double>(lt.size()) / static_cast<double>(st.size());
    for (auto i : lt) {
      const auto& s = legacy.prefill[i];
      X.row(k) = detail::pooled_prefill_features(s.chunk, s.context, 1.0, 1.0, true);
      y(k) = s.time_s;
      w(k++) = 1.0;
    }
    for (auto i : st) {
      const auto& s = sample.prefill[i];
      X.row(k) = detail::pooled_prefill_features(s.chunk, s.context, sq, skv, false);
      y(k) = s.time_s;
      w(k++) = ws;
    }
    const Eigen::VectorXd b = relative_least_squares(X, y, w);
    out.coeffs.prefill_per_chunk_s = b(0);
    out.coeffs.prefill_per_token_s = b(1);
    out.coeffs.prefill_per_pair_s = b(2);
    out.coeffs.prefill_per_kv_token_s = b(3);
    out.coeffs.legacy_sq_token_s = b(4);
    auto err = [&](const std::vector<PrefillAttnSample>& rows, auto keep, double q, double kv, bool leg) {
      std::vector<double> p, m;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        if (!keep(i, rows[i])) continue;
        p.push_back((detail::pooled_prefill_features(rows[i].chunk, rows[i].context, q, kv, leg) * b).value());
        m.push_back(rows[i].time_s);
      }
      return ape_stats(Eigen::Map<Eigen::VectorXd>(p.data(), static_cast<Eigen::Index>(p.size())),
                       Eigen::Map<Eigen::VectorXd>(m.data(), static_cast<Eigen::Index>(m.size())));
    };
    const auto held = [&](std::size_t i, const PrefillAttnSample&) { return is_held_out(i, holdout_every); };
    const auto trained = [&](std::size_t i, const PrefillAttnSample&) { return !is_held_out(i, holdout_every); };
    out.legacy_prefill_train = err(legacy.prefill, trained, 1.0, 1.0, true);
    out.legacy_prefill_held_out = err(legacy.prefill, held, 1.0, 1.0, true);
    out.sample_prefill = err(sample.prefill, [](std::size_t, const PrefillAttnSample&) { return true; }, sq, skv, false);
    const std::string L = "legacy FA (Llama-2-70B TP2), held-out", S = "FlashInfer (Llama-3-8B TP1)";
    auto add = [&](const std::string& prof, const std::string& region, ErrorStats e) {
      if (e.rows > 0) out.regions.push_back({prof, region, e});
    };
    add(L, "prefill, context 0", err(legacy.prefill, [&](std::size_t i, const PrefillAttnSample& s) {
          return held(i, s) && s.context == 0; }, 1.0, 1.0, true));
    add(L, "prefill, chunk <= 512", err(legacy.prefill, [&](std::size_t i, const PrefillAttnSample& s) {
          return held(i, s) && s.chunk <= 512; }, 1.0, 1.0, true));
    add(L, "prefill, chunk > 512", err(legacy.prefill, [&](std::size_t i, const PrefillAttnSample& s) {
          return held(i, s) && s.chunk > 512; }, 1.0, 1.0, true));
    add(L, "prefill, context >= 2048", err(legacy.prefill, [&](std::size_t i, const PrefillAttnSample& s) {
          return held(i, s) && s.context >= 2048; }, 1.0, 1.0, true));
    add(S, "prefill, chunk 64", err(sample.prefill, [](std::size_t, const PrefillAttnSample& s) {
          return s.chunk <= 64; }, sq, skv, false));
    add(S, "prefill, chunk 576-640, context 0", err(sample.prefill, [](std::size_t, const PrefillAttnSample& s) {
          return s.chunk >= 576 && s.context == 0; }, sq, skv, false));
    add(S, "prefill, chunk 576-640, context < 4096", err(sample.prefill, [](std::size_t, const PrefillAttnSample& s) {
          return s.chunk >= 576 && s.context < 4096; }, sq, skv, false));
    add(S, "prefill, context >= 4096", err(sample.prefill, [](std::size_t, const PrefillAttnSample& s) {
          return s.context >= 4096; }, sq, skv, false));
  }
  // Decode.
  {
    std::vector<std::size_t> lt, st;
    for (std::size_t i = 0; i < legacy.decode.size(); ++i)
      if (!is_held_out(i, holdout_every)) lt.push_back(i);
    for (std::size_t i = 0; i < sample.decode.size(); ++i)
      if (!is_held_out(i, holdout_every)) st.push_back(i);
    const auto n = static_cast<Eigen::Index>(lt.size() + st.size());
    Eigen::MatrixXd X(n, 2);
    Eigen::VectorXd y(n), w(n);
    Eigen::Index k = 0;
    const double ws = st.empty() ? 1.0 : static_cast<double>(lt.size()) / static_cast<double>(st.size());
    for (auto i : lt) {
      X.row(k) = detail::pooled_decode_features(legacy.decode[i].batch, legacy.decode[i].context, 1.0);
      y(k) = legacy.decode[i].time_s;
      w(k++) = 1.0;
    }
    for (auto i : st) {
      X.row(k) = detail::pooled_decode_features(sample.decode[i].batch, sample.decode[i].context, skv);
      y(k) = sample.decode[i].time_s;
      w(k++) = ws;
    }
    const Eigen::VectorXd b = relative_least_squares(X, y, w);
    out.coeffs.decode_base_s = b(0);
    out.coeffs.decode_per_ctx_token_s = b(1);
    auto err = [&](const std::vector<DecodeAttnSample>& rows, auto keep, double kv) {
      std::vector<double> p, m;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        if (!keep(i, rows[i])) continue;
        p.push_back((detail::pooled_decode_features(rows[i].batch, rows[i].context, kv) * b).value());
        m.push_back(rows[i].time_s);
      }
      return ape_stats(Eigen::Map<Eigen::VectorXd>(p.data(), static_cast<Eigen::Index>(p.size())),
                       Eigen::Map<Eigen::VectorXd>(m.data(), static_cast<Eigen::Index>(m.size())));
    };
    const auto held = [&](std::size_t i, const DecodeAttnSample&) { return is_held_out(i, holdout_every); };
    out.legacy_decode_train = err(legacy.decode, [&](std::size_t i, const DecodeAttnSample& s) { return !held(i, s); }, 1.0);
    out.legacy_decode_held_out = err(legacy.decode, held, 1.0);
    out.sample_decode = err(sample.decode, [](std::size_t, const DecodeAttnSample&) { return true; }, skv);
    const std::string L = "legacy FA (Llama-2-70B TP2), held-out", S = "FlashInfer (Llama-3-8B TP1)";
    auto add = [&](const std::string& prof, const std::string& region, ErrorStats e) {
      if (e.rows > 0) out.regions.push_back({prof, region, e});
    };
    add(L, "decode, batch <= 8", err(legacy.decode, [&](std::size_t i, const DecodeAttnSample& s) {
          return held(i, s) && s.batch <= 8; }, 1.0));
    add(L, "decode, batch 9-64", err(legacy.decode, [&](std::size_t i, const DecodeAttnSample& s) {
          return held(i, s) && s.batch > 8 && s.batch <= 64; }, 1.0));
    add(L, "decode, batch 65-128", err(legacy.decode, [&](std::size_t i, const DecodeAttnSample& s) {
          return held(i, s) && s.batch > 64; }, 1.0));
    add(L, "decode, context >= 2048", err(legacy.decode, [&](std::size_t i, const DecodeAttnSample& s) {
          return held(i, s) && s.context >= 2048; }, 1.0));
    add(S, "decode, batch <= 128", err(sample.decode, [](std::size_t, const DecodeAttnSample& s) {
          return s.batch <= 128; }, skv));
    add(S, "decode, batch > 128 (beyond the legacy profile)", err(sample.decode, [](std::size_t, const DecodeAttnSample& s) {
          return s.batch > 128; }, skv));
  }
  return out;
}

}  // namespace kvsched
