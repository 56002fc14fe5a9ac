// kvsched/core/block_table_csr.hpp: block tables of a batch in CSR form, as FlashInfer's
// paged_kv_t takes them (include/flashinfer/page.cuh: indptr, indices, last_page_len), and
// the one place that builds them (BlockManager::export_csr, backend PagedKvTables).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "kvsched/core/host_device.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched {

/// Tokens of a request whose block table has `pages` blocks, the last holding
/// `last_page_len` of them: (pages - 1) x block_size + last_page_len; 0 when pages = 0
/// (FlashInfer's paged_kv_t::get_length). The one length formula of CSR tables (host and device).
[[nodiscard]] KVSCHED_HOST_DEVICE constexpr std::int32_t csr_kv_len(std::int32_t pages, std::int32_t block_size,
                                                                    std::int32_t last_page_len) {
  return pages == 0 ? 0 : (pages - 1) * block_size + last_page_len;
}

/// Block tables of `batch_size` requests.
struct CsrBlockTables {
  std::vector<std::int32_t> indptr{0};      // [batch_size + 1] offsets into indices
  std::vector<BlockId> indices;             // [indptr.back()] device block ids, request-major
  std::vector<std::int32_t> last_page_len;  // [batch_size] tokens in each request's last block (1..block_size; 0 = no block)
  std::int32_t block_size = 0;              // tokens per block

  [[nodiscard]] std::size_t batch_size() const { return last_page_len.size(); }
  /// Tokens of request i (csr_kv_len).
  [[nodiscard]] std::int64_t kv_len(std::size_t i) const {
    return csr_kv_len(indptr[i + 1] - indptr[i], block_size, last_page_len[i]);
  }
  /// Appends a request with `kv_len` (>= 0) tokens whose blocks are the first
  /// ceil(kv_len / block_size) of `table` (later entries, e.g. blocks allocated ahead, are
  /// ignored). Returns false, appending nothing, when `table` holds fewer blocks.
  [[nodiscard]] bool append(std::span<const BlockId> table, std::int64_t kv_len) {
    const std::int64_t pages = blocks_for_tokens(kv_len, block_size);
    if (pages > static_cast<std::int64_t>(table.size())) return false;
    indices.insert(indices.end(), table.begin(), table.begin() + static_cast<std::ptrdiff_t>(pages));
    indptr.push_back(static_cast<std::int32_t>(indices.size()));
    last_page_len.push_back(pages == 0 ? 0 : static_cast<std::int32_t>(kv_len - (pages - 1) * block_size));
    return true;
  }
  /// Empties the tables (block_size stays).
  void clear() {
    indptr.assign(1, 0);
    indices.clear();
    last_page_len.clear();
  }
};

}  // namespace kvsched
