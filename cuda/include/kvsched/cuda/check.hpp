// kvsched/cuda/check.hpp: turns a failed CUDA runtime call into an exception naming the call site.
#pragma once
#include <stdexcept>
#include <string>

#include <cuda_runtime_api.h>

namespace kvsched::cuda {

/// Throws std::runtime_error "file:line: expr: cudaErrorName (message)" when e != cudaSuccess.
inline void check(cudaError_t e, const char* expr, const char* file, int line) {
  if (e == cudaSuccess) return;
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + expr + ": " + cudaGetErrorName(e) + " (" +
                           cudaGetErrorString(e) + ")");
}

}  // namespace kvsched::cuda

/// KVSCHED_CUDA_CHECK(cudaMalloc(...)): throws std::runtime_error with the call site on failure.
#define KVSCHED_CUDA_CHECK(expr) ::kvsched::cuda::check((expr), #expr, __FILE__, __LINE__)
