// kvsched/core/block_manager.hpp: device and host KV block pools, per-request block tables,
// and logical reservations (docs/design.md section 2).
//
// A request's device blocks split into three regions (counts, in blocks):
//   | held: materialised, in the block table | promised: reserved, not yet materialised |
//   |<------------------------ reservation (promised total) ------------------------->|
// Reservations are counts, not physical blocks: the pool only guarantees that the sum of
// unmaterialised promises never exceeds the free blocks, so a promise can always be kept.
// available() = free - promised is what new work may take without breaking a promise.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "kvsched/core/block_hash.hpp"
#include "kvsched/core/block_pool.hpp"
#include "kvsched/core/block_table_csr.hpp"
#include "kvsched/core/request.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched {

/// Prefix-cache probe result for an admission.
struct PrefixHit {
  std::int32_t blocks = 0;       // leading full blocks found in the cache
  std::int32_t free_blocks = 0;  // of those, how many are free (acquiring them lowers free())
  [[nodiscard]] std::int32_t tokens(std::int32_t block_size) const { return blocks * block_size; }
};

/// Owns both pools and every request's blocks. Not thread-safe (one scheduler thread).
/// Errors: an unknown request id throws std::out_of_range; operations that cannot be done
/// in full return false (or nullopt) and change nothing.
class BlockManager {
 public:
  BlockManager(std::int32_t block_size, std::int32_t num_device_blocks, std::int32_t num_host_blocks,
               bool enable_prefix_caching)
      : block_size_(block_size), prefix_caching_(enable_prefix_caching),
        device_(num_device_blocks), host_(num_host_blocks) {
    if (block_size <= 0) throw std::invalid_argument("BlockManager: block_size must be > 0");
  }

  // ---- pool-level queries --------------------------------------------------------------
  [[nodiscard]] std::int32_t block_size() const { return block_size_; }
  [[nodiscard]] bool prefix_caching() const { return prefix_caching_; }
  [[nodiscard]] std::int32_t num_device_blocks() const { return device_.num_blocks(); }
  [[nodiscard]] std::int32_t num_host_blocks() const { return host_.num_blocks(); }
  /// Free device blocks (clean + evictable cached).
  [[nodiscard]] std::int32_t num_free_device() const { return device_.num_free(); }
  [[nodiscard]] std::int32_t num_free_host() const { return host_.num_free(); }
  /// Sum over requests of promised-but-unmaterialised blocks.
  [[nodiscard]] std::int32_t num_promised() const { return promised_; }
  /// Free device blocks that no reservation has promised: what new work may take.
  [[nodiscard]] std::int32_t available() const { return device_.num_free() - promised_; }
  [[nodiscard]] const BlockPool& device_pool() const { return device_; }
  /// The device block held out as vLLM v1's null block, kNoBlock when none.
  [[nodiscard]] BlockId null_block() const { return null_block_; }

  /// Holds one device block out of use for good, as vLLM v1's null block
  /// (`vllm/v1/core/block_pool.py` `BlockPool.__init__`: `self.null_block =
  /// self.free_block_queue.popleft()`): free() and available() count one block less, the pool
  /// size stays. Call once, before any allocation; throws std::logic_error otherwise.
  void reserve_null_block() {
    if (null_block_ != kNoBlock || !seqs_.empty() || device_.num_free() != device_.num_blocks())
      throw std::logic_error("BlockManager::reserve_null_block: only once, on an unused pool");
    const auto b = device_.allocate();
    if (!b) throw std::logic_error("BlockManager::reserve_null_block: empty device pool");
    null_block_ = *b;
  }
  [[nodiscard]] const BlockPool& host_pool() const { return host_; }

  // ---- per-request queries -------------------------------------------------------------
  [[nodiscard]] bool has(RequestId id) const { return seqs_.count(id) != 0; }
  /// Device block table of a request ([held blocks], block ids in token order).
  [[nodiscard]] std::span<const BlockId> block_table(RequestId id) const { return seq(id).device; }
  /// Host (swapped-out) blocks of a request, in token order.
  [[nodiscard]] std::span<const BlockId> host_blocks(RequestId id) const { return seq(id).host; }
  [[nodiscard]] std::int32_t num_held(RequestId id) const { return static_cast<std::int32_t>(seq(id).device.size()); }
  /// Promised total (blocks); 0 for a request that never reserved.
  [[nodiscard]] std::int32_t reservation(RequestId id) const { return seq(id).reserved; }
  /// Promised but unmaterialised blocks of a request.
  [[nodiscard]] std::int32_t unused_reservation(RequestId id) const { return unmaterialised(seq(id)); }
  /// Blocks that must come from available() to hold `total_tokens` tokens (after using the
  /// request's own promise). 0 for an unknown request means "nothing held yet".
  /// Throws std::invalid_argument for total_tokens outside [0, 2^31 - 1] (kMaxTokens).
  [[nodiscard]] std::int32_t blocks_from_pool(RequestId id, std::int64_t total_tokens) const {
    check_tokens("blocks_from_pool", total_tokens);
    auto it = seqs_.find(id);
    const std::int32_t need = static_cast<std::int32_t>(blocks_for_tokens(total_tokens, block_size_));
    if (it == seqs_.end()) return need;
    const auto& s = it->second;
    const std::int32_t grow = std::max(0, need - static_cast<std::int32_t>(s.device.size()));
    return std::max(0, grow - unmaterialised(s));
  }

  // ---- prefix caching (vLLM v1) ---------------------------------------------------------
  /// Leading full blocks of the request's first `num_tokens` tokens that are cached, leaving
  /// at least one token to compute (vLLM v1 recomputes the last token to get logits).
  [[nodiscard]] PrefixHit probe_prefix(const RequestSpec& spec, std::int32_t num_tokens) const {
    PrefixHit hit;
    if (!prefix_caching_ || num_tokens <= 1) return hit;
    const std::int64_t max_blocks = (num_tokens - 1) / block_size_;
    std::uint64_t h = 0;
    for (std::int64_t b = 0; b < max_blocks; ++b) {
      h = block_content_hash(spec, b, block_size_, h);
      auto blk = device_.lookup(h);
      if (!blk) break;
      ++hit.blocks;
      hit.free_blocks += device_.ref_count(*blk) == 0;
    }
    return hit;
  }
  /// Takes the blocks probe_prefix() finds as the start of a new request's block table and
  /// returns the number of cached tokens. The request must hold no device blocks.
  /// Each hit on a free block lowers free() by one: check fits first (see PrefixHit).
  std::int32_t acquire_prefix(const RequestSpec& spec, std::int32_t num_tokens) {
    auto& s = seqs_[spec.id];
    if (!s.device.empty()) throw std::logic_error("acquire_prefix: request " + std::to_string(spec.id) + " already holds blocks");
    if (!prefix_caching_ || num_tokens <= 1) return 0;
    const std::int64_t max_blocks = (num_tokens - 1) / block_size_;
    std::uint64_t h = 0;
    std::int32_t before = unmaterialised(s);
    for (std::int64_t b = 0; b < max_blocks; ++b) {
      const std::uint64_t hb = block_content_hash(spec, b, block_size_, h);
      auto blk = device_.lookup(hb);
      if (!blk) break;
      device_.acquire_cached(*blk);
      s.device.push_back(*blk);
      h = hb;
    }
    s.num_hashed = static_cast<std::int32_t>(s.device.size());
    s.last_hash = h;
    promised_ += unmaterialised(s) - before;
    return static_cast<std::int32_t>(s.device.size()) * block_size_;
  }
  /// Registers the request's newly full blocks (up to `num_computed_tokens`) in the prefix
  /// cache, so that later requests, and this one after a recompute, can hit them.
  void commit_computed(const RequestSpec& spec, std::int32_t num_computed_tokens) {
    if (!prefix_caching_) return;
    auto& s = seq(spec.id);
    const std::int32_t full = std::min<std::int32_t>(num_computed_tokens / block_size_, static_cast<std::int32_t>(s.device.size()));
    for (std::int32_t b = s.num_hashed; b < full; ++b) {
      s.last_hash = block_content_hash(spec, b, block_size_, s.last_hash);
      device_.set_hash(s.device[static_cast<std::size_t>(b)], s.last_hash);
    }
    s.num_hashed = std::max(s.num_hashed, full);
  }

  // ---- growth and reservations ----------------------------------------------------------
  /// Grows the request's block table to hold `total_tokens` tokens, using its own promise
  /// first and then available() blocks, leaving at least `floor` available blocks untouched
  /// (vLLM v0's watermark, CacheOPT's global reserve). `num_computed_tokens` locates the
  /// next write: if it falls in a shared partial block, that block is copied first
  /// (copy-on-write; the pair is appended to *cow). Returns false and changes nothing when the
  /// blocks do not fit. Throws std::invalid_argument (and changes nothing) for total_tokens
  /// outside [0, kMaxTokens] or num_computed_tokens < 0: sizes are checked in 64 bits before
  /// they are narrowed to block counts.
  [[nodiscard]] bool allocate_slots(RequestId id, std::int64_t total_tokens, std::int32_t num_computed_tokens = 0,
                                    std::vector<BlockCopy>* cow = nullptr, std::int32_t floor = 0) {
    check_tokens("allocate_slots", total_tokens);
    if (num_computed_tokens < 0)
      throw std::invalid_argument("BlockManager::allocate_slots: num_computed_tokens must be >= 0, got " + std::to_string(num_computed_tokens));
    if (blocks_for_tokens(total_tokens, block_size_) > device_.num_blocks()) return false;  // can never fit
    auto& s = seqs_[id];
    const std::int32_t need = static_cast<std::int32_t>(blocks_for_tokens(total_tokens, block_size_));
    const std::int32_t held = static_cast<std::int32_t>(s.device.size());
    const std::int32_t grow = std::max(0, need - held);
    const auto cow_idx = static_cast<std::size_t>(num_computed_tokens / block_size_);
    // Only fork() shares a partial block (prefix-cache hits are full blocks), so the table and
    // reference-count reads, two cache misses per decode, are skipped for requests never forked.
    const bool do_cow = s.forked && num_computed_tokens % block_size_ != 0 && cow_idx < s.device.size() &&
                        device_.ref_count(s.device[cow_idx]) > 1 && total_tokens > num_computed_tokens;
    const std::int32_t promised_before = unmaterialised(s);
    const std::int32_t from_pool = std::max(0, grow + (do_cow ? 1 : 0) - promised_before);
    if (from_pool > available() - floor) return false;
    if (do_cow) {
      const BlockId src = s.device[cow_idx];
      const BlockId dst = *device_.allocate();
      device_.release(src);
      s.device[cow_idx] = dst;
      if (cow) cow->push_back({src, dst});
    }
    for (std::int32_t i = 0; i < grow; ++i) s.device.push_back(*device_.allocate());
    promised_ += unmaterialised(s) - promised_before;
    return true;
  }
  /// Sets the request's promised total to `total_blocks`. Raising it takes available()
  /// blocks beyond `floor`; lowering always succeeds. Returns false and changes nothing when
  /// the raise does not fit.
  [[nodiscard]] bool set_reservation(RequestId id, std::int32_t total_blocks, std::int32_t floor = 0) {
    auto& s = seqs_[id];
    const std::int32_t before = unmaterialised(s);
    const std::int32_t after = std::max(0, total_blocks - static_cast<std::int32_t>(s.device.size()));
    if (after - before > available() - floor) return false;
    s.reserved = std::max(0, total_blocks);
    promised_ += after - before;
    return true;
  }
  /// Moves `blocks` of `from`'s unmaterialised promise to `to` (CacheOPT embedding: a guest
  /// runs inside its host's unused reservation). Throws std::logic_error if `from` has less.
  void transfer_reservation(RequestId from, RequestId to, std::int32_t blocks) {
    if (blocks < 0 || unmaterialised(seq(from)) < blocks) throw std::logic_error("transfer_reservation: not enough unused reservation");
    auto& t = seqs_[to];  // may rehash: look `from` up after it
    auto& f = seq(from);
    const std::int32_t before = unmaterialised(f) + unmaterialised(t);
    f.reserved -= blocks;
    t.reserved = std::max(t.reserved, static_cast<std::int32_t>(t.device.size())) + blocks;
    promised_ += unmaterialised(f) + unmaterialised(t) - before;
  }

  // ---- release, swap, fork --------------------------------------------------------------
  /// Frees every device and host block of the request and forgets it (finish, abort,
  /// recompute preemption). Device blocks are released tail first, so the prefix is evicted
  /// last (vLLM v1 does the same). Unknown ids are ignored.
  void free(RequestId id) {
    auto it = seqs_.find(id);
    if (it == seqs_.end()) return;
    auto& s = it->second;
    promised_ -= unmaterialised(s);
    for (auto b = s.device.rbegin(); b != s.device.rend(); ++b) device_.release(*b);
    for (BlockId b : s.host) host_.release(b);
    seqs_.erase(it);
  }
  /// Moves every device block of the request to the host pool: appends (device, host) pairs
  /// to `out` and frees the device blocks (its reservation is dropped). Returns false and
  /// changes nothing when the host pool lacks room.
  [[nodiscard]] bool swap_out(RequestId id, std::vector<BlockCopy>& out) {
    auto& s = seq(id);
    if (host_.num_free() < static_cast<std::int32_t>(s.device.size())) return false;
    promised_ -= unmaterialised(s);
    s.reserved = 0;
    for (BlockId d : s.device) {
      const BlockId h = *host_.allocate();
      out.push_back({d, h});
      s.host.push_back(h);
    }
    for (auto b = s.device.rbegin(); b != s.device.rend(); ++b) device_.release(*b);
    s.device.clear();
    return true;
  }
  /// Moves a swapped request's blocks back to the device, leaving `floor` available blocks:
  /// appends (host, device) pairs to `out`. Returns false and changes nothing when they do
  /// not fit.
  [[nodiscard]] bool swap_in(RequestId id, std::vector<BlockCopy>& out, std::int32_t floor = 0) {
    auto& s = seq(id);
    if (static_cast<std::int32_t>(s.host.size()) > available() - floor) return false;
    for (BlockId h : s.host) {
      const BlockId d = *device_.allocate();
      out.push_back({h, d});
      s.device.push_back(d);
      host_.release(h);
    }
    s.host.clear();
    return true;
  }
  /// Forgets the prefix-cache content of device block `b` (its KV was lost: a failed swap-in
  /// or copy into it), so no later request hits it. The holders must be recomputed by the
  /// caller (Scheduler::on_step_done does, for StepResult::lost_blocks). Throws
  /// std::out_of_range for a block outside the pool.
  void forget_device_content(BlockId b) {
    if (b < 0 || b >= device_.num_blocks()) throw std::out_of_range("forget_device_content: block " + std::to_string(b) + " outside the pool");
    device_.drop_hash(b);
  }
  /// Makes `child` share every device block of `parent` (parallel sampling, beam search);
  /// the first write into a shared partial block copies it (see allocate_slots).
  void fork(RequestId parent, RequestId child) {
    (void)seq(parent);  // throws for an unknown parent before anything changes
    if (has(child)) throw std::logic_error("fork: child " + std::to_string(child) + " already exists");
    auto& c = seqs_[child];  // may rehash: look the parent up after it
    auto& p = seq(parent);
    p.forked = c.forked = true;
    c.device = p.device;
    c.num_hashed = p.num_hashed;
    c.last_hash = p.last_hash;
    for (BlockId b : c.device) device_.add_ref(b);
  }

  /// Block tables of `ids` in CSR form; seq_lens[i] = tokens of request i (<= its capacity).
  /// Throws std::out_of_range when a seq_len exceeds the blocks its request holds.
  [[nodiscard]] CsrBlockTables export_csr(std::span<const RequestId> ids, std::span<const std::int64_t> seq_lens) const {
    CsrBlockTables t;
    t.block_size = block_size_;
    t.indptr.reserve(ids.size() + 1);
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (!t.append(seq(ids[i]).device, seq_lens[i])) throw std::out_of_range("export_csr: seq_len exceeds held blocks");
    return t;
  }

  /// Full consistency check, O(blocks + requests): reference counts equal the number of
  /// tables holding each block, no host block is held twice, promises match, capacity holds.
  /// Throws std::logic_error naming the first fault.
  void check_invariants() const {
    device_.check();
    host_.check();
    std::vector<std::int32_t> dev(static_cast<std::size_t>(device_.num_blocks()), 0);
    std::vector<std::int32_t> hst(static_cast<std::size_t>(host_.num_blocks()), 0);
    std::int32_t promised = 0;
    if (null_block_ != kNoBlock) ++dev.at(static_cast<std::size_t>(null_block_));
    for (const auto& [id, s] : seqs_) {
      for (BlockId b : s.device) ++dev.at(static_cast<std::size_t>(b));
      for (BlockId b : s.host) ++hst.at(static_cast<std::size_t>(b));
      promised += unmaterialised(s);
    }
    for (std::size_t b = 0; b < dev.size(); ++b)
      if (dev[b] != device_.ref_count(static_cast<BlockId>(b)))
        throw std::logic_error("device block " + std::to_string(b) + ": ref count " + std::to_string(device_.ref_count(static_cast<BlockId>(b))) + " but held by " + std::to_string(dev[b]));
    for (std::size_t b = 0; b < hst.size(); ++b)
      if (hst[b] != host_.ref_count(static_cast<BlockId>(b)))
        throw std::logic_error("host block " + std::to_string(b) + " ref count mismatch");
    if (promised != promised_) throw std::logic_error("promised count mismatch");
    if (promised_ > device_.num_free()) throw std::logic_error("promises exceed free blocks");
  }

 public:
  /// Largest token count of one request the manager accepts (int32 block tables).
  static constexpr std::int64_t kMaxTokens = 0x7fffffff;

 private:
  static void check_tokens(const char* fn, std::int64_t total_tokens) {
    if (total_tokens < 0 || total_tokens > kMaxTokens)
      throw std::invalid_argument(std::string("BlockManager::") + fn + ": total_tokens must be in [0, " +
                                  std::to_string(kMaxTokens) + "], got " + std::to_string(total_tokens));
  }
  struct Seq {
    std::vector<BlockId> device;  // block table (device pool)
    std::vector<BlockId> host;    // swapped-out blocks (host pool)
    std::int32_t reserved = 0;    // promised total (blocks)
    std::int32_t num_hashed = 0;  // leading blocks registered in the prefix cache
    std::uint64_t last_hash = 0;  // hash of block num_hashed - 1
    bool forked = false;          // shares blocks through fork(): its partial block may need a copy
  };
  static std::int32_t unmaterialised(const Seq& s) {
    return std::max(0, s.reserved - static_cast<std::int32_t>(s.device.size()));
  }
  const Seq& seq(RequestId id) const {
    auto it = seqs_.find(id);
    if (it == seqs_.end()) throw std::out_of_range("BlockManager: unknown request " + std::to_string(id));
    return it->second;
  }
  Seq& seq(RequestId id) { return const_cast<Seq&>(std::as_const(*this).seq(id)); }

  std::int32_t block_size_;
  bool prefix_caching_;
  BlockPool device_, host_;
  // Abseil's open-addressing map: the simulator looks a request up several times per step
  // (allocate_slots, commit_computed), and with std::unordered_map's node chasing those lookups
  // were half of a 64-replica cluster run (bench/README.md). Not pointer-stable: a Seq& dies
  // at the next insertion.
  absl::flat_hash_map<RequestId, Seq> seqs_;
  std::int32_t promised_ = 0;
  BlockId null_block_ = kNoBlock;  // vLLM v1's null block (reserve_null_block), or none
};

}  // namespace kvsched
