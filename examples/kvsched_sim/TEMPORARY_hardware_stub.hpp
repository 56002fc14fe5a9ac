// TEMPORARY (delete when branch `latency` lands on main): stand-ins with the same names and
// signatures as kvsched/sim/hardware.hpp and kvsched/latency/profile_fit.hpp, so that
// kvsched-sim builds before they land. The coefficients below are HAND-SET, not fitted.
#pragma once
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/latency/latency_model.hpp"

namespace kvsched {

struct ModelSpec {
  std::string name;
  std::int32_t num_layers = 32, num_kv_heads = 32, head_dim = 128, dtype_bytes = 2;
  std::int64_t weight_bytes = 0;
  std::int32_t max_model_len = 4096;
  [[nodiscard]] std::int64_t kv_bytes_per_token() const {
    return std::int64_t{2} * num_layers * num_kv_heads * head_dim * dtype_bytes;
  }
};
struct GpuSpec {
  std::string name;
  std::int64_t memory_bytes = 0;
  double host_link_bytes_per_s = 25e9;
  double host_copy_latency_s = 45e-6;
};
struct FitReport {};
inline std::vector<std::string> model_preset_names() { return {"llama2-7b", "llama3-8b"}; }
inline std::vector<std::string> gpu_preset_names() { return {"a100-40g", "a100-80g", "h100-80g"}; }
inline ModelSpec model_preset(std::string_view name) {
  if (name == "llama2-7b") return {"llama2-7b", 32, 32, 128, 2, 13'476'831'232, 4096};
  if (name == "llama3-8b") return {"llama3-8b", 32, 8, 128, 2, 16'060'522'496, 8192};
  throw std::invalid_argument("unknown model preset '" + std::string(name) + "' (known: llama2-7b, llama3-8b)");
}
inline GpuSpec gpu_preset(std::string_view name) {
  if (name == "a100-40g") return {"a100-40g", 40960LL << 20, 25.13e9, 45.4e-6};
  if (name == "a100-80g") return {"a100-80g", 81920LL << 20, 25.13e9, 45.4e-6};
  if (name == "h100-80g") return {"h100-80g", 81559LL << 20, 35.2e9, 45.4e-6};
  throw std::invalid_argument("unknown GPU preset '" + std::string(name) + "' (known: a100-40g, a100-80g, h100-80g)");
}
inline std::int32_t kv_pool_blocks(const ModelSpec& m, const GpuSpec& g, double util = 0.9, std::int32_t block_size = 16,
                                   std::int64_t activation_bytes = std::int64_t{2} << 30) {
  const double free_bytes = static_cast<double>(g.memory_bytes) * util - static_cast<double>(m.weight_bytes) -
                            static_cast<double>(activation_bytes);
  return static_cast<std::int32_t>(free_bytes / (static_cast<double>(block_size) * static_cast<double>(m.kv_bytes_per_token())));
}
inline LatencyCoeffs fit_latency_coeffs(const std::filesystem::path&, const ModelSpec& m, const GpuSpec& g,
                                        FitReport* = nullptr) {
  LatencyCoeffs c;  // hand-set, roughly Llama-2-7B on A100 (NOT a fit)
  c.cpu_overhead_s = 0.002;
  c.linear_s_per_token = 6.5e-5;
  c.pivot_tokens = 128;
  c.prefill_attn_s_per_pair = 5e-9;
  c.decode_attn_s_per_ctx_token = 3.4e-7 * static_cast<double>(m.kv_bytes_per_token()) / 524288.0;
  c.swap_latency_s = g.host_copy_latency_s;
  c.swap_bytes_per_s = g.host_link_bytes_per_s;
  c.kv_bytes_per_token = m.kv_bytes_per_token();
  return c;
}

}  // namespace kvsched
