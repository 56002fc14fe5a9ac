// kvsched/model/llama_ops.hpp: the element-wise pieces of a Llama layer (transformers'
// LlamaRMSNorm and LlamaMLP with SiLU), over row-major fp32 matrices [tokens][features].
#pragma once
#include <cmath>

#include <Eigen/Core>

#include "kvsched/model/llama_weights.hpp"

namespace kvsched::model {

/// RMSNorm per row: y = x / sqrt(mean(x^2) + eps) * weight (LlamaRMSNorm, fp32).
/// x: [rows][hidden], weight: [hidden].
[[nodiscard]] inline Mat rms_norm(const Mat& x, const Vec& weight, double eps) {
  Mat y(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const float var = x.row(r).squaredNorm() / static_cast<float>(x.cols());
    const float inv = 1.0f / std::sqrt(var + static_cast<float>(eps));
    y.row(r) = (x.row(r).array() * inv * weight.transpose().array()).matrix();
  }
  return y;
}

/// SwiGLU MLP: down_proj(silu(gate_proj(x)) * up_proj(x)), silu(a) = a / (1 + exp(-a)).
/// x: [rows][hidden] -> [rows][hidden].
[[nodiscard]] inline Mat swiglu_mlp(const Mat& x, const LlamaLayerWeights& w) {
  Mat g = x * w.gate_proj.transpose();
  const Mat u = x * w.up_proj.transpose();
  g.array() = g.array() / (1.0f + (-g.array()).exp()) * u.array();
  return g * w.down_proj.transpose();
}

}  // namespace kvsched::model
