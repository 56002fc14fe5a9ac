// kvsched/backend/cpu_block_ops.hpp: CPU reference of the block swap and copy-on-write copy.
#pragma once
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>

#include "kvsched/backend/block_pairs.hpp"
#include "kvsched/backend/kv_pool.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched {

/// Copies whole blocks: for each pair, block `src` of `src_pool` -> block `dst` of `dst_pool`
/// (one memcpy of bytes_per_block per pair, all layers at once). `src_pool` and `dst_pool` may
/// be the same pool (copy-on-write); pairs are applied in order. Used for a plan's swap_out
/// (device -> host), swap_in (host -> device) and copy (device -> device) lists.
/// Every id is checked before anything is copied: on a bad id it throws std::out_of_range
/// naming `what`[index].src or .dst and the pool size, and copies nothing.
inline void copy_blocks_cpu(const KvPool& src_pool, KvPool& dst_pool, std::span<const BlockCopy> pairs,
                            const char* what = "pairs") {
  if (src_pool.layout().bytes_per_block() != dst_pool.layout().bytes_per_block())
    throw std::invalid_argument(std::string("copy_blocks_cpu(") + what + "): pools of different block sizes");
  check_block_pairs(pairs, src_pool.num_blocks(), dst_pool.num_blocks(), what);
  const auto n = static_cast<std::size_t>(src_pool.layout().bytes_per_block());
  for (const BlockCopy& c : pairs) {
    const std::byte* s = src_pool.data() + static_cast<std::size_t>(c.src) * n;
    std::byte* d = dst_pool.data() + static_cast<std::size_t>(c.dst) * n;
    if (s != d) std::memcpy(d, s, n);
  }
}

}  // namespace kvsched
