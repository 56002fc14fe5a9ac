// kvsched/backend/element.hpp: conversions between a KV element type and fp32, shared by the
// CPU backend, the Thrust functors and the CUDA kernels. Arithmetic is always done in fp32.
#pragma once
#include "kvsched/core/host_device.hpp"
#include "kvsched/backend/kv_dtype.hpp"

namespace kvsched {

/// fp32 value of an element. Works for float, Eigen::half / Eigen::bfloat16 (host) and
/// __half / __nv_bfloat16 (host and device), which all convert explicitly to float.
template <class T>
[[nodiscard]] KVSCHED_HOST_DEVICE inline float to_float(T x) {
  return static_cast<float>(x);
}

/// Element nearest to `x` (round to nearest even for fp16/bf16).
template <class T>
[[nodiscard]] KVSCHED_HOST_DEVICE inline T from_float(float x) {
  return static_cast<T>(x);
}

/// KvDtype of an element type: KvDtypeOf<float>::value == KvDtype::kF32. Specialised for the
/// CPU half types in cpu_element.hpp and for the CUDA ones in kvsched/cuda/cuda_element.cuh.
template <class T>
struct KvDtypeOf;
template <>
struct KvDtypeOf<float> {
  static constexpr KvDtype value = KvDtype::kF32;
};

}  // namespace kvsched
