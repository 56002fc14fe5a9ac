// kvsched/core/types.hpp: identifiers and small value types shared by every layer.
#pragma once
#include <cstdint>

namespace kvsched {

/// Request identifier, chosen by the caller (engine or trace reader); unique per scheduler.
using RequestId = std::uint64_t;
/// Index of a KV cache block inside one pool (device or host); kNoBlock = none.
using BlockId = std::int32_t;
inline constexpr BlockId kNoBlock = -1;

/// Latency SLO of one request (seconds). Source: docs/design.md section 2; TTFT and TBT as in
/// DistServe / CacheOPT. A value <= 0 means "no SLO".
struct Slo {
  double ttft_s = 0.0;  // time to first token target (s)
  double tbt_s = 0.0;   // target for every gap between consecutive output tokens (s)
};

/// How a running request gives up its KV cache blocks (CacheOPT section 3.5; vLLM v0).
enum class PreemptionMode : std::uint8_t {
  kRecompute,  // free every block; the prompt and generated tokens are prefilled again
  kSwap,       // copy every device block to the host pool, then free it on the device
};

/// Block pool a BlockId refers to.
enum class Pool : std::uint8_t { kDevice, kHost };

/// A (src, dst) pair of blocks in a plan's swap_out (device->host), swap_in (host->device)
/// or copy (device->device, copy-on-write) list. The engine applies them before the forward.
struct BlockCopy {
  BlockId src = kNoBlock;
  BlockId dst = kNoBlock;
  friend bool operator==(const BlockCopy&, const BlockCopy&) = default;
};

/// Number of blocks holding `tokens` tokens: ceil(tokens / block_size).
[[nodiscard]] constexpr std::int64_t blocks_for_tokens(std::int64_t tokens, std::int32_t block_size) {
  return tokens <= 0 ? 0 : (tokens + block_size - 1) / block_size;
}

}  // namespace kvsched
