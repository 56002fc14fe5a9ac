// kvsched/serve/emulated_executor.hpp: the emulated GPU. Each iteration lasts what the
// latency model predicts for the plan (forward + swap transfers, as kvsched-sim times it)
// times `time_scale`; every sampled token is a placeholder. For trying policies at GPU speed
// without weights (`kvsched-server --emulate GPU_PRESET`).
#pragma once
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "kvsched/latency/latency_model.hpp"
#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/serve/executor.hpp"

namespace kvsched::serve {

/// Latency-model executor. Tokenizer: one token per byte (id = byte value); the output text
/// is "kvsched " repeated (token i of a sequence is byte i mod 8 of it); no EOS, so requests
/// run to max_tokens (or a stop string).
class EmulatedExecutor final : public Executor {
 public:
  /// time_scale: wall seconds per predicted GPU second (> 0 emulates the GPU slowed or sped
  /// up; 0 = no waiting, as fast as the scheduler runs). block_bytes: KV bytes of one block
  /// (all layers), for the swap time. Throws std::invalid_argument for time_scale < 0.
  EmulatedExecutor(LatencyModel latency, double time_scale, std::int64_t block_bytes, std::int32_t max_model_len,
                   std::string name)
      : latency_(std::move(latency)), time_scale_(time_scale), block_bytes_(block_bytes), max_model_len_(max_model_len),
        name_(std::move(name)) {
    if (!(time_scale >= 0.0)) throw std::invalid_argument("time_scale: must be >= 0, got " + std::to_string(time_scale));
  }

  [[nodiscard]] std::string model_name() const override { return name_; }
  [[nodiscard]] std::string describe() const override {
    return "emulated GPU " + name_ + " (latency model x " + std::to_string(time_scale_) + ")";
  }
  [[nodiscard]] std::int32_t max_model_len() const override { return max_model_len_; }
  [[nodiscard]] std::int32_t vocab_size() const override { return 256; }
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const override {
    std::vector<std::int32_t> ids;
    ids.reserve(text.size());
    for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  }
  [[nodiscard]] std::string decode(std::int32_t token) const override { return std::string(1, static_cast<char>(token & 0xff)); }
  [[nodiscard]] std::optional<std::int32_t> eos_token() const override { return std::nullopt; }

  std::vector<std::int32_t> execute(const StepBatch& batch) override {
    const double dt = plan_time_s(*batch.plan, latency_, block_bytes_) * time_scale_;
    if (dt > 0) std::this_thread::sleep_for(std::chrono::duration<double>(dt));
    static constexpr char kText[] = "kvsched ";
    std::vector<std::int32_t> out;
    for (const auto& s : batch.seqs)
      if (s.samples_token) out.push_back(kText[static_cast<std::size_t>(s.token_ids.size()) % 8]);
    return out;
  }

 private:
  LatencyModel latency_;
  double time_scale_;
  std::int64_t block_bytes_;
  std::int32_t max_model_len_;
  std::string name_;
};

}  // namespace kvsched::serve
