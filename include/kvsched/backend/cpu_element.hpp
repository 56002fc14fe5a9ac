// kvsched/backend/cpu_element.hpp: the CPU element types of the three KV dtypes (Eigen's half
// and bfloat16 for storage, fp32 for arithmetic) and a runtime dtype dispatch.
#pragma once
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "kvsched/backend/element.hpp"

namespace kvsched {

template <>
struct KvDtypeOf<Eigen::half> {
  static constexpr KvDtype value = KvDtype::kF16;
};
template <>
struct KvDtypeOf<Eigen::bfloat16> {
  static constexpr KvDtype value = KvDtype::kBF16;
};

/// CPU element type of a dtype: float, Eigen::half or Eigen::bfloat16.
template <KvDtype D>
using CpuElement = std::conditional_t<D == KvDtype::kF32, float,
                                      std::conditional_t<D == KvDtype::kF16, Eigen::half, Eigen::bfloat16>>;

/// Calls f(std::type_identity<T>{}) with T the CPU element type of `d`, returns its result.
/// Example: visit_cpu_dtype(d, [&]<class T>(std::type_identity<T>) { backend.write_kv<T>(...); });
template <class F>
decltype(auto) visit_cpu_dtype(KvDtype d, F&& f) {
  switch (d) {
    case KvDtype::kF16: return std::forward<F>(f)(std::type_identity<Eigen::half>{});
    case KvDtype::kBF16: return std::forward<F>(f)(std::type_identity<Eigen::bfloat16>{});
    case KvDtype::kF32: break;
  }
  return std::forward<F>(f)(std::type_identity<float>{});
}

}  // namespace kvsched
