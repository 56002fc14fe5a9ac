// kvsched/backend/cpu_paged_attention.hpp: CPU reference of paged attention (decode and chunked
// prefill with a causal mask, GQA) over the block-major cache, with Eigen.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>

#include <Eigen/Core>

#include "kvsched/backend/attention_checks.hpp"
#include "kvsched/backend/kv_pool.hpp"
#include "kvsched/backend/paged_kv.hpp"

namespace kvsched {

/// Query tokens per Eigen product in paged_attention_cpu (bounds the score matrix to
/// kCpuAttentionQueryChunk x num_qo_heads/num_kv_heads x kv_len floats) *(ours)*.
inline constexpr std::int32_t kCpuAttentionQueryChunk = 64;

/// out = softmax(scale * Q K^T + causal mask) V for every request of `batch`, layer `layer`
/// (AttentionBatch describes the query positions). For each request and KV head the K and V
/// rows are gathered from the request's blocks into fp32 matrices, then each chunk of queries
/// (all query heads of the GQA group stacked) is one GEMM for the scores and one for the output.
///   q, out: [num_q_tokens][num_qo_heads][head_dim] of the pool's element type T.
/// Arithmetic is fp32; out is rounded to T once. Throws as check_attention_call() does.
template <class T>
void paged_attention_cpu(const KvPool& pool, std::int32_t layer, const AttentionBatch& batch, std::span<const T> q,
                         std::span<T> out) {
  const KvLayout& L = pool.layout();
  check_attention_call(L, pool.num_blocks(), layer, batch, q.size(), out.size());
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMapT = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
  using MapT = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  const std::int32_t D = L.head_dim, Hq = batch.num_qo_heads, G = Hq / L.num_kv_heads, bs = L.block_size;
  const float scale = batch.scale(D);
  const T* cache = pool.elements<T>().data();
  Mat Qc, S, O, Kp, Vp;
  const Eigen::OuterStride<> stride(L.token_stride);
  // K (kv = 0) or V (kv = 1) rows [r0, r0 + cnt) of KV head h of request b, as fp32. fp32
  // caches are read in place; fp16/bf16 blocks are converted into `buf` (one block, in cache).
  auto page = [&](std::int32_t b, std::int32_t p, std::int32_t kv, std::int32_t h, std::int32_t cnt, Mat& buf) {
    const BlockId blk = batch.kv.indices[batch.kv.indptr[b] + p];
    const ConstMapT m(cache + L.offset(blk, layer, kv, 0, h), cnt, D, stride);
    if constexpr (std::is_same_v<T, float>) {
      return m;
    } else {
      buf = m.template cast<float>();
      return Eigen::Map<const Mat, 0, Eigen::OuterStride<>>(buf.data(), cnt, D, Eigen::OuterStride<>(D));
    }
  };
  for (std::int32_t b = 0; b < batch.kv.batch_size; ++b) {
    const std::int32_t n = batch.kv.kv_len(b), m = batch.qo_len(b), q0 = batch.q_begin(b);
    for (std::int32_t h = 0; h < L.num_kv_heads; ++h) {
      for (std::int32_t j0 = 0; j0 < m; j0 += kCpuAttentionQueryChunk) {
        const std::int32_t j1 = std::min(m, j0 + kCpuAttentionQueryChunk);
        const std::int32_t kmax = n - m + j1;  // keys visible to the chunk's last query
        const auto pages = static_cast<std::int32_t>(blocks_for_tokens(kmax, bs));
        Qc.resize((j1 - j0) * G, D);
        for (std::int32_t j = j0; j < j1; ++j) {
          const T* qrow = q.data() + (static_cast<std::int64_t>(q0 + j) * Hq + std::int64_t{h} * G) * D;
          Qc.middleRows((j - j0) * G, G) = ConstMapT(qrow, G, D, Eigen::OuterStride<>(D)).template cast<float>();
        }
        // Scores block by block (no gather): S[:, page] = Qc K_page^T.
        S.resize(Qc.rows(), kmax);
        for (std::int32_t p = 0; p < pages; ++p) {
          const std::int32_t cnt = std::min(bs, kmax - p * bs);
          S.middleCols(p * bs, cnt).noalias() = Qc * page(b, p, 0, h, cnt, Kp).transpose();
        }
        for (Eigen::Index r = 0; r < S.rows(); ++r) {
          const std::int32_t visible = n - m + j0 + static_cast<std::int32_t>(r / G) + 1;  // causal: keys 0..pos
          auto row = S.row(r);
          const float mx = row.head(visible).maxCoeff();
          row.head(visible) = ((row.head(visible).array() - mx) * scale).exp().matrix();
          row.head(visible) /= row.head(visible).sum();
          row.tail(kmax - visible).setZero();
        }
        O.setZero(Qc.rows(), D);
        for (std::int32_t p = 0; p < pages; ++p) {
          const std::int32_t cnt = std::min(bs, kmax - p * bs);
          O.noalias() += S.middleCols(p * bs, cnt) * page(b, p, 1, h, cnt, Vp);
        }
        for (std::int32_t j = j0; j < j1; ++j) {
          T* orow = out.data() + (static_cast<std::int64_t>(q0 + j) * Hq + std::int64_t{h} * G) * D;
          MapT(orow, G, D) = O.middleRows((j - j0) * G, G).template cast<T>();
        }
      }
    }
  }
}

}  // namespace kvsched
