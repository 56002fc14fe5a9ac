// kvsched/sim/parallel.hpp: runs independent simulations (policies x rates x seeds, capacity
// probes) on every core with std::jthread, and a lockstep team for the many short phases of one
// cluster run (its replicas between two arrivals). Each task writes only its own result slot,
// so the results do not depend on the number of threads or on the order tasks finish in.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
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

/// A team of `threads` threads that runs one function on every member, then waits for all of
/// them, many times over: run(fn) calls fn(k) for every k in [0, size()), fn(0) on the caller's
/// thread, and returns when every call has returned. Made for phases of a few microseconds (a
/// cluster's replicas advanced to the next arrival, sim/cluster.hpp), where waking a sleeping
/// thread would cost as much as the work: between phases the helpers spin, then yield, and never
/// sleep, so give a team no more threads than there are idle cores. threads 0 = default_threads();
/// 1 = no helper (fn(0) inline). If calls throw, the exception of the lowest k is rethrown
/// after every call of that phase has returned. run() must not be called concurrently.
class LockstepTeam {
 public:
  explicit LockstepTeam(std::size_t threads) : size_(threads == 0 ? default_threads() : threads), errors_(size_) {
    helpers_.reserve(size_ - 1);
    for (std::size_t k = 1; k < size_; ++k) helpers_.emplace_back([this, k] { serve(k); });
  }
  LockstepTeam(const LockstepTeam&) = delete;
  LockstepTeam& operator=(const LockstepTeam&) = delete;
  ~LockstepTeam() {
    stop_.store(true, std::memory_order_release);
    helpers_.clear();  // joins
  }

  [[nodiscard]] std::size_t size() const { return size_; }

  /// Calls fn(k) for every member k (fn(0) here) and waits for all.
  void run(const std::function<void(std::size_t)>& fn) {
    fn_ = &fn;
    pending_.store(size_ - 1, std::memory_order_relaxed);
    phase_.fetch_add(1, std::memory_order_release);
    call(0);
    spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; });
    std::exception_ptr first;
    for (auto& e : errors_) {
      if (e && !first) first = e;
      e = nullptr;
    }
    if (first) std::rethrow_exception(first);
  }

 private:
  template <class Done>
  static void spin_until(const Done& done) {
    for (std::size_t spins = 0; !done(); ++spins) {
      if (spins >= 4096) std::this_thread::yield();
    }
  }
  void call(std::size_t k) {
    try {
      (*fn_)(k);
    } catch (...) {
      errors_[k] = std::current_exception();
    }
  }
  void serve(std::size_t k) {
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t now = seen;
      spin_until([&] {
        now = phase_.load(std::memory_order_acquire);
        return now != seen || stop_.load(std::memory_order_acquire);
      });
      if (now == seen) return;  // stopped between phases
      seen = now;
      call(k);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::size_t size_;
  std::vector<std::exception_ptr> errors_;  // per member, of the current phase
  const std::function<void(std::size_t)>* fn_ = nullptr;
  std::atomic<std::uint64_t> phase_{0};
  std::atomic<std::size_t> pending_{0};  // helpers still in the current phase
  std::atomic<bool> stop_{false};
  std::vector<std::jthread> helpers_;  // last: joined before the members above go
};

}  // namespace kvsched::sim
