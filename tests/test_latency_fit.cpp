// Latency model fitted to the bundled Vidur profiles (kvsched/latency/profile_fit.hpp), its
// least-squares pieces, and the JSON form of the coefficients.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/latency/latency_json.hpp"
#include "kvsched/latency/prefill_feature_check.hpp"
#include "kvsched/latency/profile_fit.hpp"
#include "source_dir.hpp"

using kvsched::BatchShape;
using kvsched::FitReport;
using kvsched::LatencyCoeffs;
using kvsched::LatencyModel;
using kvsched::LinearPoint;
using kvsched::linear_table_s;
using kvsched::CpuOverheadMode;

namespace {

struct Fitted {
  LatencyCoeffs coeffs;
  FitReport report;
};

// One fit per (model, GPU) for the whole test binary: the fit parses ~5 MB of CSV.
const Fitted& fitted(const std::string& model, const std::string& gpu) {
  static std::map<std::pair<std::string, std::string>, Fitted> cache;
  auto it = cache.find({model, gpu});
  if (it == cache.end()) {
    Fitted f;
    f.coeffs = kvsched::fit_latency_coeffs(kvsched::test::data_dir(), kvsched::model_preset(model),
                                           kvsched::gpu_preset(gpu), &f.report);
    it = cache.emplace(std::make_pair(model, gpu), std::move(f)).first;
  }
  return it->second;
}

BatchShape decodes(int n, std::int64_t context) {
  BatchShape b;
  for (int i = 0; i < n; ++i) b.add_decode(context);
  return b;
}

}  // namespace

TEST_CASE("relative least squares recovers exact coefficients") {
  Eigen::MatrixXd X(5, 2);
  Eigen::VectorXd y(5);
  for (int i = 0; i < 5; ++i) {
    X(i, 0) = 1.0;
    X(i, 1) = 10.0 * (i + 1);
    y(i) = 2.0 + 0.5 * X(i, 1);
  }
  const Eigen::VectorXd beta = kvsched::relative_least_squares(X, y);
  CHECK(beta(0) == Approx(2.0).epsilon(1e-12));
  CHECK(beta(1) == Approx(0.5).epsilon(1e-12));
  y(0) = 0.0;
  CHECK_THROWS_AS(kvsched::relative_least_squares(X, y), std::invalid_argument);
}

TEST_CASE("pivot scan recovers the pivot of flat-then-linear data") {
  std::vector<double> tok, t;
  for (double f : {1.0, 8.0, 16.0, 32.0, 64.0, 96.0, 128.0, 160.0, 192.0, 256.0, 384.0, 512.0, 1024.0, 2048.0}) {
    tok.push_back(f);
    t.push_back(0.004 + 1e-5 * std::max(f, 128.0));
  }
  const auto fit = kvsched::fit_pivot_linear(tok, t);
  CHECK(fit.pivot_tokens == 128.0);
  CHECK(fit.base_s == Approx(0.004).epsilon(1e-9));
  CHECK(fit.s_per_token == Approx(1e-5).epsilon(1e-9));
  CHECK(fit.residual == Approx(0.0).margin(1e-20));
  CHECK_THROWS_AS(kvsched::fit_pivot_linear({1, 2, 3}, {1, 1, 1}), std::invalid_argument);
}

TEST_CASE("every model x GPU preset fits with non-negative coefficients") {
  for (const auto& m : kvsched::model_preset_names()) {
    for (const auto& g : kvsched::gpu_preset_names()) {
      INFO(m << " on " << g);
      const auto& f = fitted(m, g);
      const auto& c = f.coeffs;
      CHECK(c.linear_s_per_token > 0);
      CHECK(c.linear_base_s > 0);
      CHECK(c.pivot_tokens > 0);
      CHECK(c.pivot_tokens <= 512);
      CHECK(c.prefill_attn_s_per_chunk >= 0);
      CHECK(c.prefill_attn_s_per_token >= 0);
      CHECK(c.prefill_attn_s_per_pair > 0);
      CHECK(c.prefill_attn_s_per_sq_token >= 0);
      CHECK(c.decode_attn_base_s >= 0);
      CHECK(c.decode_attn_s_per_ctx_token > 0);
      CHECK(c.cpu_overhead_s > 0);
      CHECK(c.cpu_overhead_s_per_seq > 0);
      CHECK(c.kv_bytes_per_token == kvsched::model_preset(m).kv_bytes_per_token());
      CHECK(c.swap_bytes_per_s == kvsched::gpu_preset(g).host_link_bytes_per_s);
      CHECK(c.swap_latency_s == kvsched::gpu_preset(g).host_copy_latency_s);
      CHECK(f.report.notes.size() <= 2);
    }
  }
}

TEST_CASE("held-out error of the fit stays below bounds measured with margin") {
  // Measured (docs/latency_model.md): linear ops 2.9-4.8%, prefill attention 5.8%, decode
  // attention 11.0%, CPU overhead 1.2%; legacy attention scaled to Llama-3-8B vs its own
  // sampled profile: prefill 19.7%, decode 7.5%.
  for (const auto& m : kvsched::model_preset_names()) {
    for (const auto& g : kvsched::gpu_preset_names()) {
      INFO(m << " on " << g);
      const auto& r = fitted(m, g).report;
      CHECK(r.linear.held_out.rows >= 50);
      CHECK(r.linear.held_out.mape_pct < 10.0);
      CHECK(r.prefill_attention.held_out.rows >= 800);
      CHECK(r.prefill_attention.held_out.mape_pct < 12.0);
      CHECK(r.decode_attention.held_out.rows >= 2000);
      CHECK(r.decode_attention.held_out.mape_pct < 20.0);
      CHECK(r.cpu_overhead.held_out.mape_pct < 5.0);
      CHECK(r.attention_transfer_prefill.rows == 142);
      CHECK(r.attention_transfer_prefill.mape_pct < 30.0);
      CHECK(r.attention_transfer_decode.rows == 299);
      CHECK(r.attention_transfer_decode.mape_pct < 15.0);
    }
  }
}

TEST_CASE("the prefill c^2 term halves the held-out prefill attention error of pairs alone") {
  const auto p = kvsched::read_vidur_attention(kvsched::test::data_dir() / "vidur_profiling" / "a100_legacy" /
                                               "attention_llama2-70b_tp2.csv");
  const auto check = kvsched::prefill_feature_check(p);
  CHECK(check.full.mape_pct * 2 < check.pairs_only.mape_pct);
}

TEST_CASE("iteration time: flat below the pivot, growing beyond it and with decode context") {
  // The flat-then-linear form (linear_table empty: what AccelGen's pivot reads and old JSON
  // files get); the measured table keeps the profile's GEMM steps and noise, so it is not
  // monotone (tested below).
  LatencyCoeffs flat = fitted("llama2-7b", "a100-80g").coeffs;
  flat.linear_table.clear();
  const LatencyModel m(flat);
  const auto& c = m.coeffs();
  const int pivot = static_cast<int>(c.pivot_tokens);
  REQUIRE(pivot > 2);
  // Linear ops are flat up to the pivot and strictly increasing after it.
  CHECK(m.linear_s(1) == m.linear_s(pivot));
  CHECK(m.linear_s(pivot + 1) > m.linear_s(pivot));
  CHECK(m.linear_s(0) == 0.0);
  // Decode-only batches with no context below the pivot differ only by per-request CPU time.
  const double base = m.iteration_s(decodes(1, 0)) - c.cpu_overhead_s_per_seq;
  for (int n = 2; n <= pivot; ++n) {
    CHECK(m.iteration_s(decodes(n, 0)) - c.cpu_overhead_s_per_seq * n == Approx(base).epsilon(1e-12));
  }
  // Beyond the pivot every extra token costs time.
  double prev = m.prefill_s(pivot);
  for (int n = pivot + 16; n <= 8192; n += 16) {
    const double t = m.prefill_s(n);
    CHECK(t > prev);
    prev = t;
  }
  // More decode context costs more, at any batch size.
  for (int batch : {1, 8, 64, 256}) {
    double last = m.iteration_s(decodes(batch, 0));
    for (std::int64_t ctx = 128; ctx <= 8192; ctx *= 2) {
      const double t = m.iteration_s(decodes(batch, ctx));
      CHECK(t > last);
      last = t;
    }
  }
  // A chunk after cached context costs more than the same chunk alone; empty batch costs 0.
  CHECK(m.prefill_s(512, 2048) > m.prefill_s(512, 0));
  CHECK(m.iteration_s(BatchShape{}) == 0.0);
}

TEST_CASE("H100 fits are faster than A100 for the same model and shape") {
  for (const auto& model : kvsched::model_preset_names()) {
    const LatencyModel a(fitted(model, "a100-80g").coeffs), h(fitted(model, "h100-80g").coeffs);
    INFO(model);
    for (int n : {512, 2048, 4096}) CHECK(h.prefill_s(n) < a.prefill_s(n));
    CHECK(h.iteration_s(decodes(64, 2048)) < a.iteration_s(decodes(64, 2048)));
  }
  // The measured compute speed-up (linear-op slope) is close to the datasheet FLOPS ratio.
  const auto& r = fitted("llama2-7b", "h100-80g").report;
  CHECK(r.compute_scale == Approx(r.datasheet_compute_scale).epsilon(0.1));
  CHECK(r.bandwidth_scale == Approx(2039.0 / 3350.0));
  // A100-40G shares the A100 compute profile; its memory-bound terms scale by HBM bandwidth.
  const LatencyModel a40(fitted("llama2-7b", "a100-40g").coeffs), a80(fitted("llama2-7b", "a100-80g").coeffs);
  CHECK(a40.linear_s(4096) == a80.linear_s(4096));
  CHECK(a40.linear_s(1) > 1.2 * a80.linear_s(1));
  CHECK(a40.coeffs().decode_attn_s_per_ctx_token ==
        Approx(a80.coeffs().decode_attn_s_per_ctx_token * 2039.0 / 1555.0));
  CHECK(a40.coeffs().prefill_attn_s_per_pair == Approx(a80.coeffs().prefill_attn_s_per_pair));
}

TEST_CASE("linear ops from the table: rows exact, tile steps kept, linear past the last row") {
  const std::vector<LinearPoint> t = {{8, 1.0}, {16, 1.02}, {504, 2.0}, {520, 2.6}, {1024, 4.0}};
  CHECK(linear_table_s(t, 4) == 1.0);
  CHECK(linear_table_s(t, 16) == 1.02);
  CHECK(linear_table_s(t, 12) == Approx(1.01));           // small jump: linear
  CHECK(linear_table_s(t, 512) == 2.0);                   // > 5% jump: step after 512 (tile of 64)
  CHECK(linear_table_s(t, 513) == 2.6);
  CHECK(linear_table_s(t, 2048) > linear_table_s(t, 1024));  // linear beyond the last row
  // The fitted table reproduces a measured row and its held-out error beats the smooth fit.
  const auto& f = fitted("llama2-7b", "h100-80g");
  REQUIRE_FALSE(f.coeffs.linear_table.empty());
  CHECK(f.report.linear.held_out.max_ape_pct < f.report.linear_pivot.held_out.max_ape_pct);
  CHECK(f.report.linear.held_out.mape_pct < 5.0);
}

TEST_CASE("CPU overhead modes: serial adds, async overlaps, off drops") {
  LatencyCoeffs c = fitted("llama2-7b", "a100-80g").coeffs;
  BatchShape b = decodes(8, 512);
  const double cpu = LatencyModel(c).cpu_s(b), gpu = LatencyModel(c).gpu_s(b);
  REQUIRE(cpu > 0);
  c.cpu_mode = CpuOverheadMode::kSerial;
  CHECK(LatencyModel(c).iteration_s(b) == Approx(cpu + gpu));
  c.cpu_mode = CpuOverheadMode::kAsync;
  CHECK(LatencyModel(c).iteration_s(b) == Approx(std::max(cpu, gpu)));
  c.cpu_mode = CpuOverheadMode::kOff;
  CHECK(LatencyModel(c).iteration_s(b) == Approx(gpu));
}

TEST_CASE("the pooled attention fit matches fresh FlashInfer prompts at context 0") {
  const auto& r = fitted("llama3-8b", "a100-80g").report;
  bool seen = false;
  for (const auto& a : r.attention_regions) {
    if (a.region == "prefill, chunk 576-640, context 0") {
      seen = true;
      CHECK(a.error.max_ape_pct < 15.0);
    }
  }
  CHECK(seen);
  CHECK(fitted("llama3-8b", "a100-80g").coeffs.prefill_attn_s_per_sq_token == 0.0);
}

TEST_CASE("attention is scaled by heads: Llama-2-7B reads 4x the KV of Llama-3-8B per token") {
  const auto& l2 = fitted("llama2-7b", "a100-80g").coeffs;
  const auto& l3 = fitted("llama3-8b", "a100-80g").coeffs;
  CHECK(l2.decode_attn_s_per_ctx_token == Approx(4.0 * l3.decode_attn_s_per_ctx_token));
  CHECK(l2.prefill_attn_s_per_pair == Approx(l3.prefill_attn_s_per_pair));  // same q heads x head_dim
  CHECK(fitted("llama2-7b", "a100-80g").report.decode_head_scale == 8.0);   // 32 KV heads vs 4 per GPU
}

TEST_CASE("Llama-3-8B on H100 is scaled from A100, or refused when scaling is off") {
  CHECK_FALSE(fitted("llama3-8b", "h100-80g").report.linear.measured);
  CHECK(fitted("llama3-8b", "a100-80g").report.linear.measured);
  kvsched::FitOptions no_scaling;
  no_scaling.allow_scaled_linear = false;
  try {
    (void)kvsched::fit_latency_coeffs(kvsched::test::data_dir(), kvsched::model_preset("llama3-8b"),
                                      kvsched::gpu_preset("h100-80g"), nullptr, no_scaling);
    FAIL("no throw");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("h100/Meta-Llama-3-8B/mlp.csv") != std::string::npos);
    CHECK(msg.find("scaling from A100 is disabled") != std::string::npos);
  }
}

TEST_CASE("fit errors name the missing folder and the mismatching profile cell") {
  try {
    (void)kvsched::fit_latency_coeffs(kvsched::test::data_dir() / "nope", kvsched::model_preset("llama2-7b"),
                                      kvsched::gpu_preset("a100-80g"));
    FAIL("no throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("nope") != std::string::npos);
  }
  const auto l3_mlp = kvsched::test::data_dir() / "vidur_profiling" / "a100" / "Meta-Llama-3-8B" / "mlp.csv";
  try {
    (void)kvsched::read_vidur_linear_ops(l3_mlp, kvsched::model_preset("llama2-7b"));
    FAIL("no throw");
  } catch (const kvsched::io::InputError& e) {
    CHECK(e.file() == l3_mlp.string());
    CHECK(e.line() == 2);
    CHECK(e.field() == "n_kv_head");
    CHECK(std::string(e.what()).find("field 'n_kv_head'") != std::string::npos);
    CHECK(std::string(e.what()).find("not llama2-7b") != std::string::npos);
  }
}

TEST_CASE("whole-iteration comparisons read the measured ratios from the data") {
  const auto& checks = fitted("llama2-7b", "a100-80g").report.iteration_checks;
  REQUIRE(checks.size() == 9);
  for (const auto& k : checks) {
    INFO(k.name);
    CHECK(std::isfinite(k.predicted));
    CHECK(k.predicted > 0);
    CHECK(k.measured > 0);
  }
  // Sarathi figure 2: 1.863265 s / 0.214301 s for 8192 vs 1024 prefill tokens.
  CHECK(checks[1].measured == Approx(1.863264944404364 / 0.2143006371334195));
  // Chunking a prefill costs more than one chunk, in the data and in the model.
  CHECK(checks[4].measured > 1.0);
  CHECK(checks[4].predicted > 1.0);
}

TEST_CASE("swap time uses the GPU's host link") {
  const LatencyModel m(fitted("llama2-7b", "a100-80g").coeffs);
  CHECK(m.swap_round_trip_s(1000) == Approx(2.0 * (45.4e-6 + 1000.0 * 524288.0 / 25.13e9)));
  CHECK(m.swap_s(0) == 0.0);
}

TEST_CASE("coefficients round-trip through JSON and can be overridden key by key") {
  const LatencyCoeffs c = fitted("llama3-8b", "a100-80g").coeffs;
  const nlohmann::json j = kvsched::to_json(c);
  CHECK(j.size() == 18);
  const LatencyCoeffs back = j.get<LatencyCoeffs>();
  CHECK(kvsched::to_json(back) == j);
  const LatencyCoeffs over = kvsched::latency_coeffs_from_json(nlohmann::json{{"cpu_overhead_s", 0.0}}, c);
  CHECK(over.cpu_overhead_s == 0.0);
  CHECK(over.linear_s_per_token == c.linear_s_per_token);
  try {
    (void)kvsched::latency_coeffs_from_json(nlohmann::json{{"pivot_token", 64}}, c);
    FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("'pivot_token'") != std::string::npos);
  }
  CHECK_THROWS_AS(kvsched::latency_coeffs_from_json(nlohmann::json{{"linear_base_s", "fast"}}, c),
                  std::invalid_argument);
  CHECK_THROWS_AS(kvsched::latency_coeffs_from_json(nlohmann::json{{"kv_bytes_per_token", 1.5}}, c),
                  std::invalid_argument);
  CHECK_THROWS_AS(kvsched::latency_coeffs_from_json(nlohmann::json{{"swap_bytes_per_s", 0}}, c), std::invalid_argument);
  CHECK_THROWS_AS(kvsched::latency_coeffs_from_json(nlohmann::json::array(), c), std::invalid_argument);
  try {
    (void)kvsched::read_latency_coeffs_json(kvsched::test::data_dir() / "README.md");
    FAIL("no throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("README.md") != std::string::npos);
    CHECK(std::string(e.what()).find("syntax error") != std::string::npos);
  }
}
