// kvsched/backend/portable/paged_attention_functor.hpp: Thrust functor of paged attention, one
// (query token, query head) per call, single pass with an online softmax.
#pragma once
#include <cmath>
#include <cstdint>

#include "kvsched/backend/element.hpp"
#include "kvsched/core/host_device.hpp"
#include "kvsched/backend/kv_layout.hpp"
#include "kvsched/backend/paged_kv.hpp"

namespace kvsched::portable {

/// Largest head_dim the portable path takes (its accumulators live in per-call arrays).
inline constexpr std::int32_t kPortableMaxHeadDim = 256;

/// Call i computes query head hq = i % num_qo_heads of query token t = i / num_qo_heads:
///   out[t][hq] = sum_k softmax_k(scale * q[t][hq] . K[k]) V[k], keys k = 0..q_pos (causal),
/// reading KV head hq / (num_qo_heads / num_kv_heads) of `layer` through the block table.
/// The softmax is computed online (running max and sum, as FlashAttention) in fp32, so the
/// call reads each key once and needs no score buffer. head_dim <= kPortableMaxHeadDim.
template <class T>
struct PagedAttentionFunctor {
  KvLayout layout;
  const T* pool;           // [num_blocks][block_stride]
  std::int32_t layer;      // layer attended
  AttentionBatch batch;    // block tables, query offsets, heads, scale
  const T* q;              // [num_q_tokens][num_qo_heads][head_dim]
  T* out;                  // [num_q_tokens][num_qo_heads][head_dim]

  KVSCHED_HOST_DEVICE void operator()(std::int64_t i) const {
    const std::int32_t D = layout.head_dim, Hq = batch.num_qo_heads;
    const auto t = static_cast<std::int32_t>(i / Hq);
    const auto hq = static_cast<std::int32_t>(i % Hq);
    const std::int32_t hk = hq / (Hq / layout.num_kv_heads);
    const std::int32_t b = batch.request_of(t);
    const std::int32_t pos = batch.q_pos(b, t - batch.q_begin(b));
    const float scale = batch.scale(D);
    float qf[kPortableMaxHeadDim];
    float acc[kPortableMaxHeadDim];
    const T* qrow = q + i * D;
    for (std::int32_t d = 0; d < D; ++d) {
      qf[d] = to_float(qrow[d]) * scale;
      acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;  // running max of the scores, running sum of exp(score - m)
    for (std::int32_t k = 0; k <= pos; ++k) {
      const std::int64_t slot = batch.kv.slot_of(b, k);
      const T* krow = pool + layout.slot_offset(slot, layer, 0, hk);
      const T* vrow = krow + layout.kv_stride;
      float s = 0.0f;
      for (std::int32_t d = 0; d < D; ++d) s += qf[d] * to_float(krow[d]);
      const float m_new = s > m ? s : m;
      const float alpha = expf(m - m_new);  // 0 on the first key (m = -inf)
      const float p = expf(s - m_new);
      l = l * alpha + p;
      for (std::int32_t d = 0; d < D; ++d) acc[d] = acc[d] * alpha + p * to_float(vrow[d]);
      m = m_new;
    }
    T* orow = out + i * D;
    for (std::int32_t d = 0; d < D; ++d) orow[d] = from_float<T>(acc[d] / l);
  }
};

}  // namespace kvsched::portable
