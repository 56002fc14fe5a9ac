// cuda/tests/device_buffer.hpp: a cudaMalloc'd array for the GPU tests.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include <cuda_runtime_api.h>

#include "kvsched/cuda/check.hpp"

namespace kvsched::test {

/// Device buffer of n elements of T (bytes are copied as is: Eigen::half == __half bit for bit).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n) { KVSCHED_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<std::size_t>(n, 1) * sizeof(T))); }
  explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size()) { upload(v.data()); }
  ~DeviceBuffer() { (void)cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void upload(const T* src) { KVSCHED_CUDA_CHECK(cudaMemcpy(p_, src, n_ * sizeof(T), cudaMemcpyHostToDevice)); }
  [[nodiscard]] std::vector<T> download() const {
    std::vector<T> v(n_);
    KVSCHED_CUDA_CHECK(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  [[nodiscard]] T* get() const { return p_; }

 private:
  T* p_ = nullptr;
  std::size_t n_;
};

}  // namespace kvsched::test
