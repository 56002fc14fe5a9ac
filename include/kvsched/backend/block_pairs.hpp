// kvsched/backend/block_pairs.hpp: validation of a plan's (src block, dst block) lists, shared
// by the CPU and CUDA backends.
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include "kvsched/core/types.hpp"

namespace kvsched {

/// Checks every pair of `pairs` against a source pool of `src_blocks` and a destination pool of
/// `dst_blocks` blocks. Throws std::out_of_range naming the list, index and field on the first
/// bad id: "swap_in[2].dst = 40 outside a pool of 32 blocks".
inline void check_block_pairs(std::span<const BlockCopy> pairs, std::int32_t src_blocks, std::int32_t dst_blocks,
                              const char* what) {
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    auto check = [&](BlockId b, std::int32_t n, const char* field) {
      if (b < 0 || b >= n)
        throw std::out_of_range(std::string(what) + "[" + std::to_string(i) + "]." + field + " = " + std::to_string(b) +
                                " outside a pool of " + std::to_string(n) + " blocks");
    };
    check(pairs[i].src, src_blocks, "src");
    check(pairs[i].dst, dst_blocks, "dst");
  }
}

}  // namespace kvsched
