// kvsched/serve/model_executor.hpp: a real Llama-architecture model on the CPU backend
// (kvsched/model/): each iteration applies the plan's swap_out / swap_in / copy to the
// backend's KV pools (CpuBackend::apply), runs one batched forward pass over the scheduled
// sequences (new K/V written by slot mapping, paged attention over the scheduler's block
// tables) and samples one token per sequence that completes (serve/sampler.hpp).
#pragma once
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kvsched/backend/cpu_backend.hpp"
#include "kvsched/model/llama_model.hpp"
#include "kvsched/model/llama_weights.hpp"
#include "kvsched/model/tokenizer.hpp"
#include "kvsched/serve/executor.hpp"

namespace kvsched::serve {

/// The model executor. Tokenizer: kvsched::model::ByteTokenizer (one token per byte, <bos>
/// prepended to every prompt, <eos> = 257). The KV pools are sized by the scheduler's
/// EngineConfig (num_device_blocks, num_host_blocks, block_size): the same numbers must
/// build both.
class ModelExecutor final : public Executor {
 public:
  /// max_model_len: context cap (tokens); 0 = the model's max_position_embeddings. It is
  /// also cut to the device pool (device_blocks x block_size). Throws std::invalid_argument
  /// for a model whose vocabulary cannot hold the byte tokenizer, or a bad pool size.
  ModelExecutor(model::LlamaModel m, std::string name, std::int32_t block_size, std::int32_t device_blocks, std::int32_t host_blocks,
                std::int32_t max_model_len = 0, KvDtype dtype = KvDtype::kF32)
      : model_(std::move(m)), name_(std::move(name)), tok_(model_.config().vocab_size),
        backend_(model_.kv_shape(block_size, dtype), device_blocks, host_blocks) {
    max_len_ = model_.config().max_position_embeddings;
    if (max_model_len > 0) max_len_ = std::min(max_len_, max_model_len);
    max_len_ = static_cast<std::int32_t>(std::min<std::int64_t>(max_len_, std::int64_t{device_blocks} * block_size));
  }

  /// The seeded random tiny Llama (LlamaConfig::random_tiny), so that a fresh checkout
  /// serves with no download.
  [[nodiscard]] static model::LlamaModel random_tiny(std::uint64_t seed) {
    const model::LlamaConfig c = model::LlamaConfig::random_tiny();
    return model::LlamaModel(c, model::random_weights(c, seed));
  }
  /// The model in a Hugging Face folder (config.json + model.safetensors). Throws
  /// std::invalid_argument naming the file.
  [[nodiscard]] static model::LlamaModel from_dir(const std::string& dir) {
    model::LoadedLlama l = model::load_llama_dir(dir);
    return model::LlamaModel(std::move(l.config), std::move(l.weights));
  }

  [[nodiscard]] const model::LlamaModel& model() const { return model_; }
  [[nodiscard]] CpuBackend& backend() { return backend_; }
  [[nodiscard]] std::string model_name() const override { return name_; }
  [[nodiscard]] std::string describe() const override {
    const auto& c = model_.config();
    return "Llama " + name_ + " on the CPU backend (" + std::to_string(c.num_hidden_layers) + " layers, hidden " +
           std::to_string(c.hidden_size) + ", " + std::to_string(c.num_attention_heads) + " heads, " +
           std::to_string(c.num_key_value_heads) + " KV heads, vocab " + std::to_string(c.vocab_size) + ")";
  }
  [[nodiscard]] std::int32_t max_model_len() const override { return max_len_; }
  [[nodiscard]] std::int32_t vocab_size() const override { return model_.config().vocab_size; }
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const override { return tok_.encode(text, true); }
  [[nodiscard]] std::string decode(std::int32_t token) const override { return tok_.decode({token}); }
  [[nodiscard]] std::optional<std::int32_t> eos_token() const override { return tok_.eos_id(); }

  std::vector<std::int32_t> execute(const StepBatch& batch) override {
    backend_.apply(*batch.plan);
    std::vector<model::SequenceStep> steps;
    steps.reserve(batch.seqs.size());
    for (const auto& s : batch.seqs)
      steps.push_back({s.id, s.token_ids.subspan(static_cast<std::size_t>(s.num_computed_before), static_cast<std::size_t>(s.num_tokens)),
                       s.num_computed_before, s.block_table});
    std::vector<std::int32_t> out;
    if (steps.empty()) return out;
    const model::ForwardOutput f = model_.forward(steps, backend_);
    for (std::size_t b = 0; b < batch.seqs.size(); ++b) {
      if (!batch.seqs[b].samples_token) continue;
      const auto row = f.last_logits.row(static_cast<Eigen::Index>(b));
      out.push_back(batch.seqs[b].sampler->sample(std::span<const float>(row.data(), static_cast<std::size_t>(row.size()))));
    }
    return out;
  }

 private:
  model::LlamaModel model_;
  std::string name_;
  model::ByteTokenizer tok_;
  CpuBackend backend_;
  std::int32_t max_len_ = 0;
};

}  // namespace kvsched::serve
