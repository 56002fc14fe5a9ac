// kvsched/core/block_hash.hpp: content hashes of full KV cache blocks for prefix caching.
#pragma once
#include <cstdint>

#include "kvsched/core/request.hpp"

namespace kvsched {

/// 64-bit mixer (splitmix64 finaliser).
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Chained content hash of full block `block_index` of a request, given its parent block's
/// hash (0 for the first block). As in vLLM v1, a block's hash covers every token before it,
/// so equal hashes mean an equal prefix. Content comes from RequestSpec::content_ids where
/// the block lies inside the prompt and the ids cover it; otherwise the block is unique to the
/// request (it can still be re-hit by the same request after a recompute preemption).
/// content_block_tokens <= 0 is treated as no content ids (never divided by). Never returns 0
/// (0 means "no hash").
[[nodiscard]] inline std::uint64_t block_content_hash(const RequestSpec& spec, std::int64_t block_index,
                                                      std::int32_t block_size, std::uint64_t parent) {
  const std::int64_t end = (block_index + 1) * block_size;  // one past the block's last token
  std::uint64_t content;
  // content_block_tokens is checked before it divides (<= 0: no shared content, as no ids);
  // without ids there is no division at all (it costs more than the rest of the hash).
  const bool has_content = !spec.content_ids.empty() && end <= spec.prompt_tokens && spec.content_block_tokens > 0;
  const auto k = has_content ? static_cast<std::size_t>((end - 1) / spec.content_block_tokens) : std::size_t{0};
  if (has_content && k < spec.content_ids.size()) {
    content = mix64(spec.content_ids[k] ^ 0x5bd1e995ull);
  } else {
    content = mix64(spec.id ^ 0xC2B2AE3D27D4EB4Full);
  }
  std::uint64_t h = mix64(parent ^ mix64(content + static_cast<std::uint64_t>(block_index)));
  return h == 0 ? 1 : h;
}

}  // namespace kvsched
