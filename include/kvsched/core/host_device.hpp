// kvsched/core/host_device.hpp: KVSCHED_HOST_DEVICE marks helpers that the CPU backend,
// the Thrust functors and the CUDA kernels share (one header, compiled by g++ and by nvcc).
#pragma once

#if defined(__CUDACC__)
/// `__host__ __device__` under nvcc, nothing under a host compiler.
#define KVSCHED_HOST_DEVICE __host__ __device__
#else
/// `__host__ __device__` under nvcc, nothing under a host compiler.
#define KVSCHED_HOST_DEVICE
#endif
