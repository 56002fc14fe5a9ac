// kvsched/hardware/kv_capacity.hpp: size of the device KV cache pool (in blocks) for a model on a
// GPU, the way vLLM sizes it (vLLM v0.6 vllm/worker/worker.py, Worker.determine_num_available_blocks).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "kvsched/hardware/gpu_spec.hpp"
#include "kvsched/hardware/model_spec.hpp"

namespace kvsched {

/// Default memory besides weights and KV cache: 2 GiB (ours). It stands for everything vLLM's
/// profiling run subtracts apart from the weights (activations of the profile forward, CUDA
/// context, cuBLAS workspace) and for the gap between the nvidia-smi total in GpuSpec and the
/// smaller total CUDA reports. Calibrated on vLLM's own log: Llama-2-7B, TP 1, 1x A100-80GB,
/// utilisation 0.9, block 16 -> "# GPU blocks: 7351" (vllm-project/vllm PR #2031); with 2 GiB
/// kv_pool_blocks() gives 7353.
inline constexpr std::int64_t kDefaultActivationBytes = std::int64_t{2} << 30;

/// Device KV pool size in blocks (vLLM's num_gpu_blocks):
///   floor((memory_bytes x gpu_memory_utilization - weight_bytes - activation_bytes)
///         / (block_size x kv_bytes_per_token)).
/// Units: block_size in tokens, bytes elsewhere.
/// Errors: std::invalid_argument when gpu_memory_utilization is not in (0, 1], block_size <= 0,
/// activation_bytes < 0, or the result is <= 0 (the weights and activations do not leave room
/// for one block); the message names the model, the GPU and the numbers.
[[nodiscard]] inline std::int32_t kv_pool_blocks(const ModelSpec& model, const GpuSpec& gpu,
                                                 double gpu_memory_utilization = 0.9, std::int32_t block_size = 16,
                                                 std::int64_t activation_bytes = kDefaultActivationBytes) {
  const std::string where = "kv_pool_blocks(" + model.name + " on " + gpu.name + "): ";
  if (!(gpu_memory_utilization > 0.0 && gpu_memory_utilization <= 1.0)) {
    throw std::invalid_argument(where + "gpu_memory_utilization must be in (0, 1], got " +
                                std::to_string(gpu_memory_utilization));
  }
  if (block_size <= 0) throw std::invalid_argument(where + "block_size must be > 0, got " + std::to_string(block_size));
  if (activation_bytes < 0) {
    throw std::invalid_argument(where + "activation_bytes must be >= 0, got " + std::to_string(activation_bytes));
  }
  const double block_bytes = static_cast<double>(block_size) * static_cast<double>(model.kv_bytes_per_token());
  if (block_bytes <= 0) throw std::invalid_argument(where + "model has 0 KV bytes per token");
  const double budget = static_cast<double>(gpu.memory_bytes) * gpu_memory_utilization;
  const double free_bytes = budget - static_cast<double>(model.weight_bytes) - static_cast<double>(activation_bytes);
  const double blocks = std::floor(free_bytes / block_bytes);
  if (blocks <= 0) {
    throw std::invalid_argument(where + "no room for the KV cache: " + std::to_string(gpu.memory_bytes) + " B x " +
                                std::to_string(gpu_memory_utilization) + " - weights " +
                                std::to_string(model.weight_bytes) + " B - activations " +
                                std::to_string(activation_bytes) +
                                " B = " + std::to_string(static_cast<std::int64_t>(free_bytes)) + " B < one block of " +
                                std::to_string(static_cast<std::int64_t>(block_bytes)) + " B");
  }
  if (blocks > static_cast<double>(std::numeric_limits<std::int32_t>::max())) {
    throw std::invalid_argument(where + "pool of " + std::to_string(blocks) + " blocks overflows int32");
  }
  return static_cast<std::int32_t>(blocks);
}

/// Host (swap) pool size in blocks for `swap_bytes` of host memory (vLLM --swap-space in
/// bytes): floor(swap_bytes / (block_size x kv_bytes_per_token)), computed in 64-bit floating
/// point before it is narrowed. Errors: std::invalid_argument naming the bytes and the block
/// count when swap_bytes is negative or not finite, or the pool exceeds max_blocks.
[[nodiscard]] inline std::int32_t host_pool_blocks(const ModelSpec& model, double swap_bytes, std::int32_t block_size,
                                                   std::int32_t max_blocks) {
  if (!std::isfinite(swap_bytes) || swap_bytes < 0)
    throw std::invalid_argument("swap space must be finite and >= 0 bytes, got " + std::to_string(swap_bytes));
  if (block_size <= 0) throw std::invalid_argument("host_pool_blocks: block_size must be > 0, got " + std::to_string(block_size));
  const double block_bytes = static_cast<double>(block_size) * static_cast<double>(model.kv_bytes_per_token());
  if (!(block_bytes > 0)) return 0;
  const double blocks = std::floor(swap_bytes / block_bytes);
  if (blocks > static_cast<double>(max_blocks)) {
    throw std::invalid_argument("swap space of " + std::to_string(swap_bytes / 1073741824.0) + " GiB is " +
                                std::to_string(static_cast<std::uint64_t>(std::min(blocks, 1.8e19))) + " host blocks of " +
                                std::to_string(static_cast<std::int64_t>(block_bytes)) + " B, more than the limit of " +
                                std::to_string(max_blocks) + " blocks");
  }
  return static_cast<std::int32_t>(blocks);
}

/// Checks that a device pool of `num_blocks` blocks fits the GPU: num_blocks x block_size x
/// kv_bytes_per_token <= gpu.memory_bytes (checked in 64 bits). Errors: std::invalid_argument
/// naming both sizes.
inline void check_device_pool_fits(const ModelSpec& model, const GpuSpec& gpu, std::int64_t num_blocks, std::int32_t block_size) {
  const double bytes = static_cast<double>(num_blocks) * block_size * static_cast<double>(model.kv_bytes_per_token());
  if (bytes > static_cast<double>(gpu.memory_bytes)) {
    throw std::invalid_argument("KV pool of " + std::to_string(num_blocks) + " blocks x " + std::to_string(block_size) +
                                " tokens x " + std::to_string(model.kv_bytes_per_token()) + " B = " +
                                std::to_string(bytes / 1073741824.0) + " GiB exceeds the " +
                                std::to_string(static_cast<double>(gpu.memory_bytes) / 1073741824.0) + " GiB of " + gpu.name);
  }
}

}  // namespace kvsched
