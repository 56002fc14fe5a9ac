// Helpers of the server tests: engines over the emulated GPU and the random tiny Llama.
#pragma once
#include <chrono>
#include <memory>
#include <thread>

#include <kvsched/kvsched.hpp>
#include <kvsched/serve/emulated_executor.hpp>
#include <kvsched/serve/model_executor.hpp>
#include <kvsched/serve/serving_engine.hpp>

namespace kvsched::test {

/// An engine over the emulated GPU that waits `step_s` per iteration (time_scale 0 plus a
/// fixed 1 ms-per-GPU-second overhead model).
inline std::unique_ptr<serve::ServingEngine> emulated_engine(double step_s, std::int32_t blocks = 256, std::int32_t max_queue = 0,
                                                             std::int32_t max_model_len = 2048) {
  EngineConfig e;
  e.num_device_blocks = blocks;
  e.num_host_blocks = 64;
  e.max_model_len = max_model_len;
  LatencyCoeffs c;
  c.cpu_overhead_s = step_s;
  auto exec = std::make_unique<serve::EmulatedExecutor>(LatencyModel(c), step_s > 0 ? 1.0 : 0.0, 4096, e.max_model_len, "emu");
  serve::EngineOptions o;
  o.max_queue = max_queue;
  return std::make_unique<serve::ServingEngine>(make_scheduler("vllm_v1", e, LatencyModel(c)), std::move(exec), o);
}

/// An engine over the seeded random tiny Llama with `blocks` device and host blocks.
inline std::unique_ptr<serve::ServingEngine> model_engine(const std::string& policy, std::int32_t blocks, std::int32_t max_model_len = 256,
                                                          std::int32_t max_num_seqs = 256) {
  EngineConfig e;
  e.num_device_blocks = blocks;
  e.num_host_blocks = blocks;
  e.max_model_len = max_model_len;
  e.max_num_seqs = max_num_seqs;
  auto exec = std::make_unique<serve::ModelExecutor>(serve::ModelExecutor::random_tiny(1), "tiny", e.block_size, blocks, blocks,
                                                     max_model_len);
  LatencyCoeffs c;
  c.cpu_overhead_s = 0.001;
  return std::make_unique<serve::ServingEngine>(make_scheduler(policy, e, LatencyModel(c)), std::move(exec));
}

/// Polls `pred` every 5 ms for up to `limit`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

/// Waits for the stream to close and returns its last snapshot.
inline serve::TokenStream::Snapshot wait_closed(const serve::TokenStream& s) {
  serve::TokenStream::Snapshot snap;
  for (int i = 0; i < 3000 && !snap.closed; ++i) snap = s.wait_for(snap.version, std::chrono::milliseconds(10));
  return snap;
}

}  // namespace kvsched::test
