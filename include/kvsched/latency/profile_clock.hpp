// kvsched/latency/profile_clock.hpp: a ground-truth clock for the simulator that the policies
// do not share: iteration times read off the measured profile tables (interpolated), where the
// policies predict with the fitted LatencyModel (docs/latency_model.md, "Ground truth").
#pragma once
#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/latency/vidur_profiles.hpp"

namespace kvsched {

/// Measured times on a grid of rows: row key k (chunk or batch size) -> curve over x
/// (context tokens). Interpolated linearly in x within a row and in k between rows;
/// extrapolated linearly with the end segments beyond either range, never below the smaller
/// of the two times it extrapolates from (half of it below the first row or point).
class ProfileGrid {
 public:
  /// Adds one measurement (duplicates of (k, x) are averaged at build()).
  void add(double k, double x, double t) { raw_[k][x].push_back(t); }
  /// Sorts and averages; call once after the last add().
  void build() {
    rows_.clear();
    for (auto& [k, m] : raw_) {
      Row r{k, {}};
      for (auto& [x, ts] : m) {
        double s = 0;
        for (double t : ts) s += t;
        r.pts.emplace_back(x, s / static_cast<double>(ts.size()));
      }
      rows_.push_back(std::move(r));
    }
  }
  [[nodiscard]] bool empty() const { return rows_.empty(); }
  /// Time at (k, x) (the profile's unit).
  [[nodiscard]] double at(double k, double x) const {
    if (rows_.empty()) return 0.0;
    if (rows_.size() == 1) return along(rows_[0].pts, x);
    auto it = std::lower_bound(rows_.begin(), rows_.end(), k, [](const Row& r, double v) { return r.key < v; });
    if (it != rows_.end() && it->key == k) return along(it->pts, x);
    const Row& a = it == rows_.begin() ? rows_[0] : (it == rows_.end() ? rows_[rows_.size() - 2] : *(it - 1));
    const Row& b = it == rows_.begin() ? rows_[1] : (it == rows_.end() ? rows_.back() : *it);
    const double ta = along(a.pts, x), tb = along(b.pts, x);
    const double t = ta + (tb - ta) * (k - a.key) / (b.key - a.key);
    return std::max(t, std::min(ta, tb) * (k < a.key ? std::min(1.0, k / a.key) : 1.0));
  }

 private:
  struct Row {
    double key;
    std::vector<std::pair<double, double>> pts;  // (x, t), x ascending
  };
  [[nodiscard]] static double along(const std::vector<std::pair<double, double>>& p, double x) {
    if (p.size() == 1) return p[0].second;
    auto it = std::lower_bound(p.begin(), p.end(), x, [](const auto& q, double v) { return q.first < v; });
    if (it != p.end() && it->first == x) return it->second;
    const auto& a = it == p.begin() ? p[0] : (it == p.end() ? p[p.size() - 2] : *(it - 1));
    const auto& b = it == p.begin() ? p[1] : (it == p.end() ? p.back() : *it);
    const double t = a.second + (b.second - a.second) * (x - a.first) / (b.first - a.first);
    return std::max(t, std::min(a.second, b.second) * (x < a.first ? 0.5 : 1.0));
  }
  std::map<double, std::map<double, std::vector<double>>> raw_;
  std::vector<Row> rows_;
};

/// Iteration time from the profile tables: linear ops from the model's linear_table (the
/// measured rows), attention from the legacy Vidur attention profile (per layer, 32 q / 4 KV
/// heads of 128 per GPU) interpolated, CPU overhead as the model's (cpu_s, combined per its
/// cpu_mode). Scaling to the target as the fit does (profile_fit.hpp): each prefill chunk's
/// time x q-head scale x compute scale x layers; decodes looked up at (batch x KV-head scale,
/// mean context) -- a decode kernel's grid is sequences x KV heads, so a sequence with 8x the
/// KV heads of the profile counts as 8 -- x bandwidth scale x layers.
class ProfileClock {
 public:
  /// `legacy_attention`: data/vidur_profiling/a100_legacy/attention_llama2-70b_tp2.csv read by
  /// read_vidur_attention; `model`: the fitted model (its linear_table and CPU terms are used);
  /// scales and layers as in FitReport / ModelSpec.
  ProfileClock(const AttentionProfile& legacy_attention, LatencyModel model, double prefill_head_scale,
               double decode_head_scale, double compute_scale, double bandwidth_scale, int num_layers)
      : model_(std::move(model)),
        prefill_scale_(prefill_head_scale * compute_scale * num_layers),
        decode_scale_(bandwidth_scale * num_layers),
        decode_heads_(decode_head_scale) {
    for (const auto& s : legacy_attention.prefill) prefill_.add(s.chunk, s.context, s.time_s);
    for (const auto& s : legacy_attention.decode) decode_.add(s.batch, s.context, s.time_s);
    prefill_.build();
    decode_.build();
  }

  /// Compute time of the plan's forward pass (s), CPU overhead included per the model's mode;
  /// swaps are not included (the simulator adds them). Empty plan: 0.
  [[nodiscard]] double iteration_s(const SchedulePlan& plan) const {
    BatchShape shape;
    double attn = 0;
    std::int64_t dec = 0;
    double dec_ctx = 0;
    for (const auto& s : plan.scheduled) {
      if (s.is_prefill) {
        shape.add_prefill(s.num_tokens, s.num_computed_before);
        attn += prefill_.at(s.num_tokens, s.num_computed_before) * prefill_scale_;
      } else {
        shape.add_decode(s.num_computed_before);
        ++dec;
        dec_ctx += s.num_computed_before;
      }
    }
    if (shape.total_tokens() == 0) return 0.0;
    if (dec > 0) attn += decode_.at(static_cast<double>(dec) * decode_heads_, dec_ctx / static_cast<double>(dec)) * decode_scale_;
    const double gpu = model_.linear_s(static_cast<double>(shape.total_tokens())) + attn;
    return model_.combine_cpu(model_.cpu_s(shape), gpu);
  }

 private:
  LatencyModel model_;
  double prefill_scale_, decode_scale_, decode_heads_;
  ProfileGrid prefill_, decode_;
};

}  // namespace kvsched
