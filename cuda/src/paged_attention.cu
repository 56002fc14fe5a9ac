// Paged attention over the block-major KV cache: decode and chunked prefill (causal), GQA,
// fp32/fp16/bf16, head_dim 64 and 128. One thread block per (request, KV head, tile of query
// rows); K/V tiles staged in shared memory as fp32; online softmax across tiles.
#include <cstdint>

#include "kvsched/cuda/cuda_element.cuh"
#include "kvsched/cuda/kernels.hpp"

namespace kvsched::cuda {
namespace {

constexpr int kThreads = 128;           // threads per thread block (4 warps)
constexpr int kWarps = kThreads / 32;
constexpr int kKeyTile = 32;            // keys per shared-memory tile (= warp size: one lane per key in the softmax)
constexpr int kRowTile = 16;            // query rows per thread block at most; a row = (query token, head of the GQA group)

template <class T>
struct AttnParams {
  KvLayout layout;
  const T* pool;        // [num_blocks][block_stride]
  std::int32_t layer;
  AttentionBatch batch; // device arrays
  const T* q;           // [num_q_tokens][num_qo_heads][head_dim]
  T* out;               // [num_q_tokens][num_qo_heads][head_dim]
  std::int32_t group;   // query heads per KV head
  std::int32_t rows;    // query rows per thread block (<= kRowTile)
  float scale;          // softmax scale
};

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// Row r of this thread block is flattened query row row0 + r of its request:
//   query token j = (row0 + r) / group, query head = kv_head * group + (row0 + r) % group,
//   position kv_len - qo_len + j; it attends keys 0..position.
template <class T, int D>
__global__ void __launch_bounds__(kThreads) paged_attention_kernel(const AttnParams<T> p) {
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte load
  constexpr int kAcc = kRowTile * D / kThreads;           // output elements per thread
  static_assert(D % kVec == 0 && (kRowTile * D) % kThreads == 0, "tile shape");
  __shared__ float q_s[kRowTile][D];
  __shared__ float k_s[kKeyTile][D + 1];  // +1: lanes reading different keys hit different banks
  __shared__ float v_s[kKeyTile][D];
  __shared__ float s_s[kRowTile][kKeyTile];
  __shared__ float m_s[kRowTile], l_s[kRowTile], a_s[kRowTile];

  const AttentionBatch& B = p.batch;
  const KvLayout& L = p.layout;
  const int b = static_cast<int>(blockIdx.x), hk = static_cast<int>(blockIdx.y);
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const int qo_len = B.qo_len(b), kv_len = B.kv.kv_len(b), q0 = B.q_begin(b);
  const int row0 = static_cast<int>(blockIdx.z) * p.rows;
  const int rows_total = qo_len * p.group;
  if (row0 >= rows_total) return;  // whole thread block: this request has fewer rows
  const int nrows = min(p.rows, rows_total - row0);
  const int Hq = B.num_qo_heads;
  const int first_pos = kv_len - qo_len;  // position of the request's first query token

  for (int e = tid; e < nrows * D; e += kThreads) {
    const int r = e / D, d = e % D, row = row0 + r;
    const std::int64_t qi = (std::int64_t{q0 + row / p.group} * Hq + hk * p.group + row % p.group) * D + d;
    q_s[r][d] = to_float(p.q[qi]) * p.scale;
  }
  for (int r = tid; r < kRowTile; r += kThreads) {
    m_s[r] = -INFINITY;
    l_s[r] = 0.0f;
  }
  float acc[kAcc];
#pragma unroll
  for (int i = 0; i < kAcc; ++i) acc[i] = 0.0f;

  const int kend = first_pos + (row0 + nrows - 1) / p.group + 1;  // keys seen by the last row
  for (int k0 = 0; k0 < kend; k0 += kKeyTile) {
    // K/V tile: kKeyTile tokens x D elements, 16-byte loads, converted to fp32.
    for (int c = tid; c < kKeyTile * (D / kVec); c += kThreads) {
      const int kk = c / (D / kVec), part = c % (D / kVec), key = k0 + kk;
      float kf[kVec], vf[kVec];
      if (key < kend) {
        const T* kp = p.pool + L.slot_offset(B.kv.slot_of(b, key), p.layer, 0, hk) + part * kVec;
        const uint4 kw = *reinterpret_cast<const uint4*>(kp);
        const uint4 vw = *reinterpret_cast<const uint4*>(kp + L.kv_stride);
        const T* ke = reinterpret_cast<const T*>(&kw);
        const T* ve = reinterpret_cast<const T*>(&vw);
#pragma unroll
        for (int v = 0; v < kVec; ++v) {
          kf[v] = to_float(ke[v]);
          vf[v] = to_float(ve[v]);
        }
      } else {
#pragma unroll
        for (int v = 0; v < kVec; ++v) kf[v] = vf[v] = 0.0f;
      }
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        k_s[kk][part * kVec + v] = kf[v];
        v_s[kk][part * kVec + v] = vf[v];
      }
    }
    __syncthreads();
    // Scores: a warp covers one row and the kKeyTile keys (lane = key); causal mask.
    for (int e = tid; e < kRowTile * kKeyTile; e += kThreads) {
      const int r = e / kKeyTile, kk = e % kKeyTile, key = k0 + kk;
      float s = -INFINITY;
      if (r < nrows && key <= first_pos + (row0 + r) / p.group) {
        s = 0.0f;
#pragma unroll 16
        for (int d = 0; d < D; ++d) s += q_s[r][d] * k_s[kk][d];
      }
      s_s[r][kk] = s;
    }
    __syncthreads();
    // Online softmax, one warp per row: new running max, rescale factor, probabilities.
    for (int r = warp; r < nrows; r += kWarps) {
      const float s = s_s[r][lane];
      const float m_old = m_s[r];
      const float m_new = fmaxf(m_old, warp_max(s));  // finite: key 0 is visible to every row
      const float pr = s == -INFINITY ? 0.0f : expf(s - m_new);
      const float sum = warp_sum(pr);
      s_s[r][lane] = pr;
      __syncwarp();
      if (lane == 0) {
        const float alpha = m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
        a_s[r] = alpha;
        l_s[r] = l_s[r] * alpha + sum;
        m_s[r] = m_new;
      }
    }
    __syncthreads();
    // acc = acc * alpha + P V for this thread's (row, dim) outputs.
#pragma unroll
    for (int i = 0; i < kAcc; ++i) {
      const int e = tid + i * kThreads, r = e / D, d = e % D;
      if (r < nrows) {
        float a = acc[i] * a_s[r];
#pragma unroll 8
        for (int kk = 0; kk < kKeyTile; ++kk) a += s_s[r][kk] * v_s[kk][d];
        acc[i] = a;
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kAcc; ++i) {
    const int e = tid + i * kThreads, r = e / D, d = e % D;
    if (r < nrows) {
      const int row = row0 + r;
      const std::int64_t oi = (std::int64_t{q0 + row / p.group} * Hq + hk * p.group + row % p.group) * D + d;
      p.out[oi] = from_float<T>(acc[i] / l_s[r]);
    }
  }
}

template <class T, int D>
cudaError_t launch(const AttnParams<T>& p, dim3 grid, cudaStream_t stream) {
  paged_attention_kernel<T, D><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t paged_attention(const KvLayout& layout, const void* pool, std::int32_t layer, const AttentionBatch& batch,
                            std::int32_t max_qo_len, const void* q, void* out, cudaStream_t stream) {
  if (layer < 0 || layer >= layout.num_layers || max_qo_len < 1 || batch.kv.batch_size < 0 || batch.num_qo_heads <= 0 ||
      batch.num_qo_heads % layout.num_kv_heads != 0 || (layout.head_dim != 64 && layout.head_dim != 128) ||
      batch.kv.block_size != layout.block_size)
    return cudaErrorInvalidValue;
  if (batch.kv.batch_size == 0) return cudaSuccess;
  const std::int32_t group = batch.num_qo_heads / layout.num_kv_heads;
  const std::int64_t rows_max = std::int64_t{max_qo_len} * group;
  const auto rows = static_cast<std::int32_t>(rows_max < kRowTile ? rows_max : kRowTile);
  const std::int64_t tiles = (rows_max + rows - 1) / rows;
  if (tiles > 65535 || layout.num_kv_heads > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(batch.kv.batch_size), static_cast<unsigned>(layout.num_kv_heads),
                  static_cast<unsigned>(tiles));
  return visit_cuda_dtype(layout.dtype, [&]<class T>(std::type_identity<T>) -> cudaError_t {
    const AttnParams<T> p{layout, static_cast<const T*>(pool), layer, batch, static_cast<const T*>(q), static_cast<T*>(out),
                          group, rows, batch.scale(layout.head_dim)};
    return layout.head_dim == 64 ? launch<T, 64>(p, grid, stream) : launch<T, 128>(p, grid, stream);
  });
}

}  // namespace kvsched::cuda
