// kvsched/core/block_table_csr.hpp: block tables of a batch in CSR form, as FlashInfer's
// paged_kv_t takes them (include/flashinfer/page.cuh: indptr, indices, last_page_len).
#pragma once
#include <cstdint>
#include <vector>

#include "kvsched/core/types.hpp"

namespace kvsched {

/// Block tables of `batch_size` requests.
struct CsrBlockTables {
  std::vector<std::int32_t> indptr;         // [batch_size + 1] offsets into indices
  std::vector<BlockId> indices;             // [indptr.back()] device block ids, request-major
  std::vector<std::int32_t> last_page_len;  // [batch_size] tokens in each request's last block (1..block_size)
  std::int32_t block_size = 0;              // tokens per block

  [[nodiscard]] std::size_t batch_size() const { return last_page_len.size(); }
  /// Tokens of request i: (blocks - 1) * block_size + last_page_len (0 when it has no block).
  [[nodiscard]] std::int64_t length(std::size_t i) const {
    const std::int32_t pages = indptr[i + 1] - indptr[i];
    return pages == 0 ? 0 : static_cast<std::int64_t>(pages - 1) * block_size + last_page_len[i];
  }
};

}  // namespace kvsched
