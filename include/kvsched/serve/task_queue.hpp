// kvsched/serve/task_queue.hpp: cpp-httplib's connection task queue, growing on demand.
// httplib's ThreadPool has a fixed count (CPPHTTPLIB_THREAD_POOL_COUNT, 8 on a 2-core
// machine, fixed when Debian compiled the library): 8 slow or idle connections stall every
// other client. This queue starts a thread whenever no thread is idle, up to max_threads;
// beyond that connections wait in order. Install with
//   server.new_task_queue = [n] { return new GrowingTaskQueue(n); };
#pragma once
#include "kvsched/serve/httplib.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kvsched::serve {

/// A thread pool that grows to max_threads (>= 1): a job that no idle thread will take starts one. Thread-safe; shutdown() runs what is
/// queued, then joins every thread.
class GrowingTaskQueue final : public httplib::TaskQueue {
 public:
  explicit GrowingTaskQueue(std::size_t max_threads) : max_threads_(max_threads < 1 ? 1 : max_threads) {}
  ~GrowingTaskQueue() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(fn));
    // More queued jobs than threads about to take one (idle, or started and not yet waiting):
    // start another. (Testing idle_ == 0 alone is wrong: a burst enqueued before the idle
    // threads wake would all wait for them.)
    if (jobs_.size() > idle_ + starting_ && threads_.size() < max_threads_) {
      ++starting_;
      threads_.emplace_back([this] { work(); });
    }
    cv_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();  // no enqueue after shutdown: threads_ is stable
  }
  /// Threads started so far.
  [[nodiscard]] std::size_t num_threads() const { std::lock_guard lock(mu_); return threads_.size(); }

 private:
  void work() {
    bool first = true;
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        if (first) --starting_;
        first = false;
        ++idle_;
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        --idle_;
        if (jobs_.empty()) return;  // stopping and drained
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      fn();
    }
  }

  const std::size_t max_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;      // threads waiting for a job
  std::size_t starting_ = 0;  // threads started that have not waited yet
  bool stop_ = false;
};

}  // namespace kvsched::serve
