// kvsched/cuda/cuda_element.cuh: the CUDA element types of the KV dtypes (__half,
// __nv_bfloat16, float) and a runtime dtype dispatch, for .cu files of the CUDA backend.
#pragma once
#include <type_traits>
#include <utility>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kvsched/backend/element.hpp"

namespace kvsched {

template <>
struct KvDtypeOf<__half> {
  static constexpr KvDtype value = KvDtype::kF16;
};
template <>
struct KvDtypeOf<__nv_bfloat16> {
  static constexpr KvDtype value = KvDtype::kBF16;
};

namespace cuda {

/// Calls f(std::type_identity<T>{}) with T = float, __half or __nv_bfloat16 for `d`.
template <class F>
decltype(auto) visit_cuda_dtype(KvDtype d, F&& f) {
  switch (d) {
    case KvDtype::kF16: return std::forward<F>(f)(std::type_identity<__half>{});
    case KvDtype::kBF16: return std::forward<F>(f)(std::type_identity<__nv_bfloat16>{});
    case KvDtype::kF32: break;
  }
  return std::forward<F>(f)(std::type_identity<float>{});
}

}  // namespace cuda
}  // namespace kvsched
