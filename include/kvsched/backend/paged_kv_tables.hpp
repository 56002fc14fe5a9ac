// kvsched/backend/paged_kv_tables.hpp: host-side builder of the CSR block tables and query
// offsets that paged attention takes (PagedKvIndex, AttentionBatch).
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvsched/backend/paged_kv.hpp"
#include "kvsched/core/block_table_csr.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched {

/// View of a BlockManager::export_csr() result as the block tables paged attention reads.
/// Requests without a block (length 0) must not be in an attention batch.
[[nodiscard]] inline PagedKvIndex paged_kv_index(const CsrBlockTables& t) {
  return {static_cast<std::int32_t>(t.batch_size()), t.block_size, t.indptr.data(), t.indices.data(), t.last_page_len.data()};
}

/// Owns indptr / indices / last_page_len / qo_indptr for one batch, built request by request
/// from block tables (e.g. BlockManager::block_table(id)). Views stay valid until the next add().
class PagedKvTables {
 public:
  /// `block_size`: tokens per block (> 0).
  explicit PagedKvTables(std::int32_t block_size) {
    if (block_size <= 0) throw std::invalid_argument("PagedKvTables: block_size must be > 0, got " + std::to_string(block_size));
    kv_.block_size = block_size;
  }

  /// Appends a request with `kv_len` tokens in the cache (>= 1), of which the last `qo_len`
  /// (1..kv_len) are queries of this call. `table` must hold at least ceil(kv_len / block_size)
  /// blocks (extra trailing entries, e.g. blocks allocated ahead, are ignored).
  /// Throws std::invalid_argument naming the request index and the bad value.
  void add(std::span<const BlockId> table, std::int32_t kv_len, std::int32_t qo_len = 1) {
    const auto b = std::to_string(batch_size());
    if (kv_len < 1) throw std::invalid_argument("PagedKvTables::add: request " + b + ": kv_len must be >= 1, got " + std::to_string(kv_len));
    if (qo_len < 1 || qo_len > kv_len)
      throw std::invalid_argument("PagedKvTables::add: request " + b + ": qo_len " + std::to_string(qo_len) + " outside 1.." + std::to_string(kv_len));
    if (!kv_.append(table, kv_len))
      throw std::invalid_argument("PagedKvTables::add: request " + b + ": block table has " + std::to_string(table.size()) +
                                  " blocks, " + std::to_string(blocks_for_tokens(kv_len, kv_.block_size)) + " needed for " +
                                  std::to_string(kv_len) + " tokens");
    qo_indptr_.push_back(qo_indptr_.back() + qo_len);
  }
  void clear() {
    kv_.clear();
    qo_indptr_.assign(1, 0);
  }

  [[nodiscard]] std::int32_t batch_size() const { return static_cast<std::int32_t>(kv_.batch_size()); }
  [[nodiscard]] std::int32_t block_size() const { return kv_.block_size; }
  /// Query tokens over all requests (rows of q and out).
  [[nodiscard]] std::int32_t num_q_tokens() const { return qo_indptr_.back(); }
  [[nodiscard]] const std::vector<std::int32_t>& indptr() const { return kv_.indptr; }              // [batch + 1]
  [[nodiscard]] const std::vector<BlockId>& indices() const { return kv_.indices; }                 // [indptr[batch]]
  [[nodiscard]] const std::vector<std::int32_t>& last_page_len() const { return kv_.last_page_len; }// [batch]
  [[nodiscard]] const std::vector<std::int32_t>& qo_indptr() const { return qo_indptr_; }           // [batch + 1]
  /// The block tables built so far.
  [[nodiscard]] const CsrBlockTables& tables() const { return kv_; }

  /// View of the block tables over this object's host vectors.
  [[nodiscard]] PagedKvIndex kv_index() const { return paged_kv_index(kv_); }
  /// Attention batch over this object's host vectors, with `num_qo_heads` query heads.
  /// sm_scale <= 0 means 1 / sqrt(head_dim), filled in by the backend.
  [[nodiscard]] AttentionBatch batch(std::int32_t num_qo_heads, float sm_scale = 0.0f) const {
    return {kv_index(), qo_indptr_.data(), num_qo_heads, sm_scale};
  }

 private:
  CsrBlockTables kv_;                       // indptr / indices / last_page_len
  std::vector<std::int32_t> qo_indptr_{0};  // [batch + 1] offsets of each request's queries
};

}  // namespace kvsched
