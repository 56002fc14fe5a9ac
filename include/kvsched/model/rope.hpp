// kvsched/model/rope.hpp: rotary position embedding as transformers applies it to Llama
// (models/llama/modeling_llama.py: LlamaRotaryEmbedding, rotate_half, apply_rotary_pos_emb;
// modeling_rope_utils.py: _compute_default_rope_parameters, _compute_llama3_parameters).
#pragma once
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "kvsched/model/llama_config.hpp"

namespace kvsched::model {

/// Inverse frequencies of RoPE for one head of head_dim D: inv_freq[i] = theta^(-2i/D),
/// i = 0..D/2-1, in fp32 as transformers computes them, then rescaled by the "llama3"
/// rope_scaling when the config has it (low frequencies divided by `factor`, a smooth blend
/// between low_freq_factor and high_freq_factor wavelengths), then rounded to
/// config.rope_inv_freq_dtype when that is fp16 or bf16.
class Rope {
 public:
  explicit Rope(const LlamaConfig& c) : half_(c.resolved_head_dim() / 2) {
    const std::int32_t D = c.resolved_head_dim();
    inv_freq_.resize(static_cast<std::size_t>(half_));
    for (std::int32_t i = 0; i < half_; ++i) {
      const float e = static_cast<float>(2 * i) / static_cast<float>(D);
      inv_freq_[static_cast<std::size_t>(i)] = 1.0f / std::pow(static_cast<float>(c.rope_theta), e);
    }
    if (c.rope_scaling) {
      const auto& s = *c.rope_scaling;
      const double old_len = s.original_max_position_embeddings;
      const double low_wavelen = old_len / s.low_freq_factor, high_wavelen = old_len / s.high_freq_factor;
      for (auto& f : inv_freq_) {
        const double wavelen = 2.0 * std::numbers::pi / f;
        double g = wavelen > low_wavelen ? f / s.factor : f;
        if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
          const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          g = (1.0 - smooth) * g / s.factor + smooth * g;
        }
        f = static_cast<float>(g);
      }
    }
    for (auto& f : inv_freq_) {
      if (c.rope_inv_freq_dtype == KvDtype::kF16) f = static_cast<float>(Eigen::half(f));
      if (c.rope_inv_freq_dtype == KvDtype::kBF16) f = static_cast<float>(Eigen::bfloat16(f));
    }
  }

  [[nodiscard]] const std::vector<float>& inv_freq() const { return inv_freq_; }

  /// Rotates every head of every row of x in place: x is [rows][num_heads * D], row r at
  /// position positions[r]. HF's rotate_half convention: with x1 = x[:D/2], x2 = x[D/2:],
  /// angle_i = pos * inv_freq[i]: x1' = x1 cos - x2 sin, x2' = x2 cos + x1 sin.
  template <class Derived>
  void apply(Eigen::MatrixBase<Derived>& x, std::span<const std::int32_t> positions, std::int32_t num_heads) const {
    const std::int32_t D = 2 * half_;
    std::vector<float> cs(static_cast<std::size_t>(half_)), sn(static_cast<std::size_t>(half_));
    for (Eigen::Index r = 0; r < x.rows(); ++r) {
      const auto pos = static_cast<float>(positions[static_cast<std::size_t>(r)]);
      for (std::int32_t i = 0; i < half_; ++i) {
        const float a = pos * inv_freq_[static_cast<std::size_t>(i)];  // fp32 product, as torch's
        cs[static_cast<std::size_t>(i)] = std::cos(a);
        sn[static_cast<std::size_t>(i)] = std::sin(a);
      }
      for (std::int32_t h = 0; h < num_heads; ++h) {
        for (std::int32_t i = 0; i < half_; ++i) {
          const Eigen::Index c1 = Eigen::Index{h} * D + i, c2 = c1 + half_;
          const float x1 = x(r, c1), x2 = x(r, c2);
          x(r, c1) = x1 * cs[static_cast<std::size_t>(i)] - x2 * sn[static_cast<std::size_t>(i)];
          x(r, c2) = x2 * cs[static_cast<std::size_t>(i)] + x1 * sn[static_cast<std::size_t>(i)];
        }
      }
    }
  }

 private:
  std::int32_t half_;
  std::vector<float> inv_freq_;
};

}  // namespace kvsched::model
