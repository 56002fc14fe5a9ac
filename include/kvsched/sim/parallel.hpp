// kvsched/sim/parallel.hpp: runs independent simulations (policies x rates x seeds, capacity
// probes) on every core with std::jthread. Each task writes only its own result slot, so the
// results do not depend on the number of threads or on the order tasks finish in.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace kvsched::sim {

/// Threads to use by default: std::thread::hardware_concurrency(), or 1 when unknown.
[[nodiscard]] inline std::size_t default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<std::size_t>(n);
}

/// Calls task(i) for every i in [0, n) on min(threads, n) threads (threads 0 = default_threads();
/// 1 = inline on the caller's thread). Tasks are handed out in index order from a shared
/// counter (dynamic load balance, no work stealing). Tasks must not share mutable state
/// except through their own output slots. If tasks throw, every started task still finishes,
/// no new ones start, and the exception of the lowest failing index is rethrown.
inline void parallel_for(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& task) {
  if (threads == 0) threads = default_threads();
  threads = std::min(threads, n);
  if (threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) task(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::exception_ptr> errors(n);
  {
    std::vector<std::jthread> pool;
    pool.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        while (!failed.load(std::memory_order_relaxed)) {
          const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
          if (i >= n) return;
          try {
            task(i);
          } catch (...) {
            errors[i] = std::current_exception();
            failed.store(true, std::memory_order_relaxed);
          }
        }
      });
    }
  }  // jthreads join here
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace kvsched::sim
