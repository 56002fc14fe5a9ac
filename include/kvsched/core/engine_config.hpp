// kvsched/core/engine_config.hpp: limits every scheduler shares (pool sizes, batch caps).
#pragma once
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace kvsched {

/// A preset's own values for the engine knobs its engine has, used where EngineConfig leaves
/// a knob unset (0). The defaults are vLLM's online-serving ones (max_num_seqs 256,
/// max_num_batched_tokens 2048); a preset changes what its engine ships with (Sarathi-Serve's
/// 512-token chunks; vLLM v0 without chunked prefill: max(max_model_len, 2048),
/// `vllm/config.py` `SchedulerConfig.__post_init__` of 0.6).
struct EngineDefaults {
  std::int32_t max_num_seqs = 256;             // requests in one batch
  std::int32_t max_num_batched_tokens = 2048;  // tokens in one forward
  bool batched_tokens_at_least_max_model_len = false;  // default budget = max(that, max_model_len)
  /// The engine overlaps its CPU work (scheduling, input preparation, sampling) with the
  /// forward pass, as vLLM v1's async scheduling (default in 0.32/0.33: `VllmConfig`
  /// `async_scheduling=None` becomes True, `AsyncScheduler`) and SGLang's overlap scheduler
  /// do; false for engines whose CPU work sits between forward passes (vLLM v0,
  /// Sarathi-Serve). kvsched-sim's `--cpu-overhead engine` charges CPU overhead in series
  /// only where this is false (sim::latency_for: serial mode where false, async where true);
  /// its other modes apply one CPU-overhead mode to every preset.
  bool async_scheduling = true;
};

/// Engine-level limits, in the units engines use (vLLM's names where they exist).
/// max_num_seqs and max_num_batched_tokens left at 0 take the preset's EngineDefaults
/// (Scheduler's constructor resolves them; a running scheduler's engine() has both set), so
/// that a caller's value, where given, wins over every preset's own default.
/// Errors: validate() throws std::invalid_argument naming the field.
struct EngineConfig {
  std::int32_t block_size = 16;                // tokens per KV cache block
  std::int32_t num_device_blocks = 0;          // device (GPU) KV pool size (blocks)
  std::int32_t num_host_blocks = 0;            // host (CPU swap) pool size (blocks); 0 = no swap
  std::int32_t max_num_seqs = 0;               // requests in one batch (vLLM max_num_seqs); 0 = preset default
  std::int32_t max_num_batched_tokens = 0;     // tokens in one forward (vLLM max_num_batched_tokens); 0 = preset default
  std::int32_t max_model_len = 4096;           // prompt + output cap (tokens); longer prompts are rejected
  bool enable_prefix_caching = true;           // vLLM v1 automatic prefix caching (hash + LRU eviction)

  /// This config with unset (0) knobs taken from `d`.
  [[nodiscard]] EngineConfig resolved(const EngineDefaults& d = {}) const {
    EngineConfig e = *this;
    if (e.max_num_seqs == 0) e.max_num_seqs = d.max_num_seqs;
    if (e.max_num_batched_tokens == 0)
      e.max_num_batched_tokens = d.batched_tokens_at_least_max_model_len ? std::max(d.max_num_batched_tokens, max_model_len)
                                                                         : d.max_num_batched_tokens;
    return e;
  }

  /// Largest pool (device or host) in blocks: 2^24. The block manager keeps about 30 bytes of
  /// bookkeeping per block, so this bounds it at 0.5 GiB; 2^24 blocks of 16 tokens hold 268M
  /// tokens, 200x the KV cache of a Llama-3-8B on a 141 GB H200 (ours: a sanity bound).
  static constexpr std::int32_t kMaxPoolBlocks = std::int32_t{1} << 24;

  /// Throws std::invalid_argument naming the field for a non-positive size or cap, or a pool
  /// larger than kMaxPoolBlocks (checked before anything is allocated).
  void validate() const {
    auto bad = [](const char* field, const std::string& why) {
      throw std::invalid_argument(std::string("EngineConfig.") + field + ": " + why);
    };
    if (block_size <= 0) bad("block_size", "must be > 0, got " + std::to_string(block_size));
    if (num_device_blocks <= 0) bad("num_device_blocks", "must be > 0, got " + std::to_string(num_device_blocks));
    if (num_host_blocks < 0) bad("num_host_blocks", "must be >= 0, got " + std::to_string(num_host_blocks));
    if (num_device_blocks > kMaxPoolBlocks)
      bad("num_device_blocks", "must be <= " + std::to_string(kMaxPoolBlocks) + " (sanity bound), got " + std::to_string(num_device_blocks));
    if (num_host_blocks > kMaxPoolBlocks)
      bad("num_host_blocks", "must be <= " + std::to_string(kMaxPoolBlocks) + " (sanity bound), got " + std::to_string(num_host_blocks));
    if (max_num_seqs < 0) bad("max_num_seqs", "must be > 0 (or 0: the preset's default), got " + std::to_string(max_num_seqs));
    if (max_num_batched_tokens < 0)
      bad("max_num_batched_tokens", "must be > 0 (or 0: the preset's default), got " + std::to_string(max_num_batched_tokens));
    if (max_model_len <= 0) bad("max_model_len", "must be > 0, got " + std::to_string(max_model_len));
  }
};

}  // namespace kvsched
