// kvsched/backend/portable/block_copy_functor.hpp: Thrust functor copying whole KV blocks
// (swap out, swap in, copy-on-write), one word per call.
#pragma once
#include <cstdint>

#include "kvsched/core/host_device.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched::portable {

/// Call i copies word i % words_per_block of pair i / words_per_block:
///   dst[pair.dst][w] = src[pair.src][w]
/// over i in [0, num_pairs * words_per_block). Word is std::uint64_t, std::uint32_t or
/// unsigned char, whichever divides the block. Pairs of one call run in any order: a block must
/// not be both a dst and a src in the same list (true of a plan's swap and copy lists).
template <class Word>
struct BlockCopyFunctor {
  const Word* src;                // source pool, [src_blocks][words_per_block]
  Word* dst;                      // destination pool, [dst_blocks][words_per_block]
  const BlockCopy* pairs;         // [num_pairs] (src block, dst block)
  std::int64_t words_per_block;   // bytes_per_block / sizeof(Word)

  KVSCHED_HOST_DEVICE void operator()(std::int64_t i) const {
    const BlockCopy p = pairs[i / words_per_block];
    const std::int64_t w = i % words_per_block;
    dst[std::int64_t{p.dst} * words_per_block + w] = src[std::int64_t{p.src} * words_per_block + w];
  }
};

}  // namespace kvsched::portable
