// kvsched/backend/kv_layout.hpp: the block-major KV cache layout (docs/design.md section 5), shared
// by the CPU backend, the Thrust functors and the CUDA kernels.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kvsched/core/host_device.hpp"
#include "kvsched/backend/kv_dtype.hpp"

namespace kvsched {

/// Model shape of the KV cache. Llama-2-7B: {32, 32, 128, 16, kF16}; Llama-3-8B: {32, 8, 128, 16, kF16}.
struct KvShape {
  std::int32_t num_layers = 0;    // transformer layers
  std::int32_t num_kv_heads = 0;  // K/V heads per layer (fewer than query heads under GQA)
  std::int32_t head_dim = 0;      // elements per head
  std::int32_t block_size = 16;   // tokens per KV cache block (EngineConfig::block_size)
  KvDtype dtype = KvDtype::kF16;  // element type

  /// KV bytes per token over all layers: 2 x layers x kv_heads x head_dim x dtype bytes
  /// (docs/design.md section 4; Llama-2-7B fp16: 512 KiB).
  [[nodiscard]] constexpr std::int64_t bytes_per_token() const {
    return std::int64_t{2} * num_layers * num_kv_heads * head_dim * dtype_bytes(dtype);
  }
  /// Throws std::invalid_argument naming the first field that is not positive.
  void validate() const {
    auto check = [](const char* field, std::int32_t v) {
      if (v <= 0) throw std::invalid_argument(std::string("KvShape.") + field + ": must be > 0, got " + std::to_string(v));
    };
    check("num_layers", num_layers);
    check("num_kv_heads", num_kv_heads);
    check("head_dim", head_dim);
    check("block_size", block_size);
  }
};

/// Block-major layout *(ours, docs/design.md section 5)*:
///   pool[num_blocks][num_layers][2 (K, V)][block_size][num_kv_heads][head_dim]
/// One block of all layers is one contiguous span of bytes_per_block() bytes, so a swap or a
/// copy-on-write is one copy per block (vLLM's layer-major cache needs one per layer and
/// block). Attention reads K and V through the strides, as FlashInfer's paged_kv_t allows.
/// All strides are in elements. A slot is `block * block_size + offset` (vLLM's slot_mapping).
struct KvLayout {
  std::int32_t num_layers = 0;    // transformer layers
  std::int32_t num_kv_heads = 0;  // K/V heads per layer
  std::int32_t head_dim = 0;      // elements per head
  std::int32_t block_size = 0;    // tokens per block
  std::int32_t elem_bytes = 0;    // bytes per element (4 for fp32, 2 for fp16/bf16)
  KvDtype dtype = KvDtype::kF16;
  std::int64_t token_stride = 0;  // num_kv_heads * head_dim: next token within a block
  std::int64_t kv_stride = 0;     // block_size * token_stride: K part -> V part of one layer
  std::int64_t layer_stride = 0;  // 2 * kv_stride: next layer within a block
  std::int64_t block_stride = 0;  // num_layers * layer_stride: elements per block

  /// Element offset of head `head` of token `offset` (0..block_size-1) of block `block`,
  /// layer `layer`, `kv` = 0 for K and 1 for V; the head's head_dim elements follow.
  [[nodiscard]] KVSCHED_HOST_DEVICE constexpr std::int64_t offset(std::int64_t block, std::int32_t layer, std::int32_t kv,
                                                                  std::int32_t token, std::int32_t head) const {
    return block * block_stride + layer * layer_stride + kv * kv_stride + token * token_stride +
           std::int64_t{head} * head_dim;
  }
  /// Element offset of head `head` at slot `slot` (= block * block_size + offset in block).
  [[nodiscard]] KVSCHED_HOST_DEVICE constexpr std::int64_t slot_offset(std::int64_t slot, std::int32_t layer, std::int32_t kv,
                                                                       std::int32_t head) const {
    return offset(slot / block_size, layer, kv, static_cast<std::int32_t>(slot % block_size), head);
  }
  /// Bytes of one block (all layers, K and V): block_size x bytes per token.
  [[nodiscard]] KVSCHED_HOST_DEVICE constexpr std::int64_t bytes_per_block() const { return block_stride * elem_bytes; }
  /// Elements of one block.
  [[nodiscard]] KVSCHED_HOST_DEVICE constexpr std::int64_t elems_per_block() const { return block_stride; }
  /// The shape this layout was made from.
  [[nodiscard]] constexpr KvShape shape() const { return {num_layers, num_kv_heads, head_dim, block_size, dtype}; }
};

/// Layout of `s`. Throws std::invalid_argument when s.validate() does.
[[nodiscard]] inline KvLayout make_kv_layout(const KvShape& s) {
  s.validate();
  KvLayout l;
  l.num_layers = s.num_layers;
  l.num_kv_heads = s.num_kv_heads;
  l.head_dim = s.head_dim;
  l.block_size = s.block_size;
  l.elem_bytes = dtype_bytes(s.dtype);
  l.dtype = s.dtype;
  l.token_stride = std::int64_t{s.num_kv_heads} * s.head_dim;
  l.kv_stride = s.block_size * l.token_stride;
  l.layer_stride = 2 * l.kv_stride;
  l.block_stride = s.num_layers * l.layer_stride;
  return l;
}

}  // namespace kvsched
