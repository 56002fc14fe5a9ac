// kvsched/core/block_pool.hpp: one pool of fixed-size KV cache blocks with O(1) allocate and
// free, reference counts, and (optionally) vLLM v1-style prefix caching: a freed block that
// holds a full block of known content keeps its content hash and stays cached in an LRU free
// queue until a new allocation evicts it (vllm/v1/core/block_pool.py behaves this way).
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "kvsched/core/types.hpp"

namespace kvsched {

/// A pool of `num_blocks` blocks. Every operation is O(1) (amortised for the hash map).
/// Free blocks are of two kinds: clean (no content hash) and cached (hash kept, evictable,
/// least-recently-freed evicted first). Errors: freeing a free block, or any other misuse
/// that would corrupt the pool, throws std::logic_error.
class BlockPool {
 public:
  explicit BlockPool(std::int32_t num_blocks = 0) { reset(num_blocks); }

  void reset(std::int32_t num_blocks) {
    if (num_blocks < 0) throw std::invalid_argument("BlockPool: num_blocks must be >= 0");
    ref_.assign(static_cast<std::size_t>(num_blocks), 0);
    hash_.assign(static_cast<std::size_t>(num_blocks), 0);
    prev_.assign(static_cast<std::size_t>(num_blocks), kNoBlock);
    next_.assign(static_cast<std::size_t>(num_blocks), kNoBlock);
    clean_.clear();
    clean_.reserve(static_cast<std::size_t>(num_blocks));
    // Hand out low ids first (pop from the back).
    for (BlockId b = num_blocks - 1; b >= 0; --b) clean_.push_back(b);
    lru_head_ = lru_tail_ = kNoBlock;
    num_cached_free_ = 0;
    cached_.clear();
    num_hashed_ = 0;
  }

  [[nodiscard]] std::int32_t num_blocks() const { return static_cast<std::int32_t>(ref_.size()); }
  /// Blocks with reference count 0 (clean + cached-evictable).
  [[nodiscard]] std::int32_t num_free() const {
    return static_cast<std::int32_t>(clean_.size()) + num_cached_free_;
  }
  /// Free blocks that still hold cached content (evictable).
  [[nodiscard]] std::int32_t num_cached_free() const { return num_cached_free_; }
  [[nodiscard]] std::int32_t ref_count(BlockId b) const { return ref_.at(static_cast<std::size_t>(b)); }
  /// Content hash of a block, 0 if none.
  [[nodiscard]] std::uint64_t block_hash(BlockId b) const { return hash_.at(static_cast<std::size_t>(b)); }

  /// Takes a free block (clean first, else evicts the least recently freed cached block).
  /// Returns std::nullopt when the pool is exhausted.
  [[nodiscard]] std::optional<BlockId> allocate() {
    BlockId b;
    if (!clean_.empty()) {
      b = clean_.back();
      clean_.pop_back();
    } else if (lru_head_ != kNoBlock) {
      b = lru_head_;
      lru_remove(b);
      forget(b);
    } else {
      return std::nullopt;
    }
    ref_[idx(b)] = 1;
    return b;
  }

  /// Adds a reference to an allocated block (sharing, copy-on-write).
  void add_ref(BlockId b) {
    if (ref_.at(idx(b)) <= 0) throw std::logic_error("BlockPool::add_ref on free block " + std::to_string(b));
    ++ref_[idx(b)];
  }

  /// Drops a reference. At zero the block becomes free: cached (LRU tail) when it has a
  /// content hash, clean otherwise. Throws std::logic_error on a double free.
  void release(BlockId b) {
    if (b < 0 || b >= num_blocks()) throw std::logic_error("BlockPool::release: block " + std::to_string(b) + " out of range");
    if (ref_[idx(b)] <= 0) throw std::logic_error("BlockPool::release: double free of block " + std::to_string(b));
    if (--ref_[idx(b)] > 0) return;
    if (hash_[idx(b)] != 0) {
      lru_push_back(b);
    } else {
      clean_.push_back(b);
    }
  }

  /// Looks up a cached block by content hash without touching it.
  [[nodiscard]] std::optional<BlockId> lookup(std::uint64_t hash) const {
    auto it = cached_.find(hash);
    if (it == cached_.end() || hash_[idx(it->second)] != hash) return std::nullopt;  // absent, or stale
    return it->second;
  }

  /// Takes a reference on a cached block (a prefix-cache hit); a free one leaves the LRU queue.
  void acquire_cached(BlockId b) {
    if (hash_.at(idx(b)) == 0) throw std::logic_error("BlockPool::acquire_cached: block has no hash");
    if (ref_[idx(b)] == 0) lru_remove(b);
    ++ref_[idx(b)];
  }

  /// Records that allocated block `b` now holds a full block with content `hash` (non-zero).
  /// Returns false (and records nothing) when another block already caches that content.
  bool set_hash(BlockId b, std::uint64_t hash) {
    if (hash == 0 || ref_.at(idx(b)) <= 0 || hash_[idx(b)] != 0) return false;
    auto [it, inserted] = cached_.try_emplace(hash, b);
    if (!inserted) {
      if (hash_[idx(it->second)] == hash) return false;  // a live block caches it
      it->second = b;                                   // a stale entry: reuse it
    }
    hash_[idx(b)] = hash;
    ++num_hashed_;
    return true;
  }

  /// Forgets block `b`'s content hash (its KV is known to be wrong: a failed copy into it), so
  /// no prefix-cache lookup finds it again; a free cached block becomes clean. O(1).
  void drop_hash(BlockId b) {
    const std::uint64_t h = hash_.at(idx(b));
    if (h == 0) return;
    if (auto it = cached_.find(h); it != cached_.end() && it->second == b) cached_.erase(it);
    forget(b);
    if (ref_[idx(b)] == 0) {
      lru_remove(b);
      clean_.push_back(b);
    }
  }

  /// Drops every cached-but-free block's hash (they become clean). O(cached).
  void clear_cache() {
    while (lru_head_ != kNoBlock) {
      BlockId b = lru_head_;
      lru_remove(b);
      forget(b);
      clean_.push_back(b);
    }
  }

  /// Full consistency check, O(num_blocks); throws std::logic_error naming the first fault.
  void check() const {
    std::int32_t lru_count = 0;
    for (BlockId b = lru_head_; b != kNoBlock; b = next_[idx(b)]) {
      if (ref_[idx(b)] != 0 || hash_[idx(b)] == 0) throw std::logic_error("BlockPool: bad LRU entry " + std::to_string(b));
      ++lru_count;
    }
    if (lru_count != num_cached_free_) throw std::logic_error("BlockPool: LRU count mismatch");
    std::vector<char> seen(ref_.size(), 0);
    for (BlockId b : clean_) {
      if (ref_[idx(b)] != 0 || hash_[idx(b)] != 0 || seen[idx(b)]) throw std::logic_error("BlockPool: bad clean entry " + std::to_string(b));
      seen[idx(b)] = 1;
    }
    std::int32_t zero = 0;
    for (std::size_t i = 0; i < ref_.size(); ++i) {
      if (ref_[i] < 0) throw std::logic_error("BlockPool: negative ref count");
      zero += ref_[i] == 0;
    }
    if (zero != num_free()) throw std::logic_error("BlockPool: free count mismatch");
    // A live entry (h, b) has hash_[b] == h, so live entries name distinct blocks: as many live
    // entries as hashed blocks means every hashed block is found by its hash.
    std::int32_t hashed = 0, live = 0;
    for (const std::uint64_t h : hash_) hashed += h != 0;
    for (const auto& [h, b] : cached_) live += hash_[idx(b)] == h;
    if (hashed != num_hashed_ || live != hashed) throw std::logic_error("BlockPool: hash map mismatch");
  }

 private:
  static std::size_t idx(BlockId b) { return static_cast<std::size_t>(b); }
  /// Drops block b's content hash. Its map entry is left stale rather than erased (an erase
  /// is a cache miss in a map of thousands of blocks, once per evicted block): lookup() and
  /// set_hash() check entries against hash_, and the map is rebuilt from hash_ once stale
  /// entries outnumber live ones, O(num_blocks) per that many evictions.
  void forget(BlockId b) {
    hash_[idx(b)] = 0;
    --num_hashed_;
    if (cached_.size() > 2 * static_cast<std::size_t>(num_hashed_) + 1024) rebuild_map();
  }
  void rebuild_map() {
    cached_.clear();
    cached_.reserve(static_cast<std::size_t>(num_hashed_));
    for (std::size_t i = 0; i < hash_.size(); ++i)
      if (hash_[i] != 0) cached_.emplace(hash_[i], static_cast<BlockId>(i));
  }
  void lru_push_back(BlockId b) {
    prev_[idx(b)] = lru_tail_;
    next_[idx(b)] = kNoBlock;
    if (lru_tail_ != kNoBlock) next_[idx(lru_tail_)] = b; else lru_head_ = b;
    lru_tail_ = b;
    ++num_cached_free_;
  }
  void lru_remove(BlockId b) {
    BlockId p = prev_[idx(b)], n = next_[idx(b)];
    if (p != kNoBlock) next_[idx(p)] = n; else lru_head_ = n;
    if (n != kNoBlock) prev_[idx(n)] = p; else lru_tail_ = p;
    prev_[idx(b)] = next_[idx(b)] = kNoBlock;
    --num_cached_free_;
  }

  std::vector<std::int32_t> ref_;     // [num_blocks] reference counts
  std::vector<std::uint64_t> hash_;   // [num_blocks] content hash, 0 = none
  std::vector<BlockId> prev_, next_;  // [num_blocks] intrusive LRU links (cached free blocks)
  std::vector<BlockId> clean_;        // stack of clean free blocks
  BlockId lru_head_ = kNoBlock, lru_tail_ = kNoBlock;
  std::int32_t num_cached_free_ = 0;
  std::int32_t num_hashed_ = 0;       // blocks with a content hash (live entries of cached_)
  // Content hash -> block (see BlockManager::seqs_), with stale entries (forget()).
  absl::flat_hash_map<std::uint64_t, BlockId> cached_;
};

}  // namespace kvsched
