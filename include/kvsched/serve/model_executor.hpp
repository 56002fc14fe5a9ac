// kvsched/serve/model_executor.hpp: a real Llama-architecture model on the CPU backend
// (kvsched/model/): each iteration applies the plan's swap_out / swap_in / copy to the
// backend's KV pools (CpuBackend::apply), runs one batched forward pass over the scheduled
// sequences (new K/V written by slot mapping, paged attention over the scheduler's block
// tables) and samples one token per sequence that completes (serve/sampler.hpp).
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kvsched/backend/cpu_backend.hpp"
#include "kvsched/model/llama_model.hpp"
#include "kvsched/model/llama_weights.hpp"
#include "kvsched/model/bpe_tokenizer.hpp"
#include "kvsched/model/tokenizer.hpp"
#include "kvsched/serve/executor.hpp"

namespace kvsched::serve {

/// The text side of a served model: a Hugging Face byte-level BPE tokenizer.json
/// (model::BpeTokenizer) with the model's bos/eos ids from config.json, or else
/// model::ByteTokenizer (one token per byte, <bos> 256, <eos> 257).
class ModelTokenizer {
 public:
  /// The byte tokenizer for a model of `vocab_size` tokens (>= 258, else std::invalid_argument).
  explicit ModelTokenizer(std::int32_t vocab_size) : bytes_(vocab_size), bos_(model::ByteTokenizer::kBos), eos_(model::ByteTokenizer::kEos) {}
  /// dir/tokenizer.json when present (bos_token_id / eos_token_id from dir/config.json, an
  /// integer, the first of a list, or null), else the byte tokenizer. Throws
  /// std::invalid_argument naming the file.
  [[nodiscard]] static ModelTokenizer for_dir(const std::string& dir, std::int32_t vocab_size) {
    namespace fs = std::filesystem;
    const fs::path tj = fs::path(dir) / "tokenizer.json";
    if (!fs::exists(tj)) return ModelTokenizer(vocab_size);
    ModelTokenizer t(std::max(vocab_size, model::ByteTokenizer::kVocab));
    t.bpe_.emplace(tj.string());
    if (t.bpe_->vocab_size() > vocab_size)
      throw std::invalid_argument(tj.string() + ": " + std::to_string(t.bpe_->vocab_size()) + " tokens, the model has " +
                                  std::to_string(vocab_size));
    t.bos_ = t.eos_ = std::nullopt;
    std::ifstream in(fs::path(dir) / "config.json");
    const nlohmann::json c = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    auto id = [&](const char* key) -> std::optional<std::int32_t> {
      if (!c.is_object() || !c.contains(key)) return std::nullopt;
      const auto& v = c[key].is_array() && !c[key].empty() ? c[key][0] : c[key];
      if (v.is_number_integer()) return v.get<std::int32_t>();
      return std::nullopt;
    };
    t.bos_ = id("bos_token_id");
    t.eos_ = id("eos_token_id");
    return t;
  }
  [[nodiscard]] bool is_bpe() const { return bpe_.has_value(); }
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const {
    if (!bpe_) return bytes_.encode(text, true);
    std::vector<std::int32_t> ids;
    if (bos_) ids.push_back(*bos_);
    const auto body = bpe_->encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
  }
  /// Bytes of one token; specials decode to nothing.
  [[nodiscard]] std::string decode(std::int32_t token) const {
    return bpe_ ? bpe_->decode({token}, /*skip_special=*/true) : bytes_.decode({token});
  }
  [[nodiscard]] std::optional<std::int32_t> eos() const { return eos_; }

 private:
  model::ByteTokenizer bytes_;
  std::optional<model::BpeTokenizer> bpe_;
  std::optional<std::int32_t> bos_, eos_;
};

/// The model executor. Tokenizer: a ModelTokenizer (bytes unless the model folder has a
/// tokenizer.json; <bos> prepended to every prompt). The KV pools are sized by the scheduler's
/// EngineConfig (num_device_blocks, num_host_blocks, block_size): the same numbers must
/// build both.
class ModelExecutor final : public Executor {
 public:
  /// max_model_len: context cap (tokens); 0 = the model's max_position_embeddings. It is
  /// also cut to the device pool (device_blocks x block_size). Throws std::invalid_argument
  /// for a model whose vocabulary cannot hold the byte tokenizer, or a bad pool size.
  ModelExecutor(model::LlamaModel m, std::string name, std::int32_t block_size, std::int32_t device_blocks, std::int32_t host_blocks,
                std::int32_t max_model_len = 0, std::optional<ModelTokenizer> tokenizer = std::nullopt, KvDtype dtype = KvDtype::kF32)
      : model_(std::move(m)), name_(std::move(name)),
        tok_(tokenizer ? std::move(*tokenizer) : ModelTokenizer(model_.config().vocab_size)),
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
           std::to_string(c.num_key_value_heads) + " KV heads, vocab " + std::to_string(c.vocab_size) + ", " +
           (tok_.is_bpe() ? "tokenizer.json" : "byte tokenizer") + ")";
  }
  [[nodiscard]] std::int32_t max_model_len() const override { return max_len_; }
  [[nodiscard]] std::int32_t vocab_size() const override { return model_.config().vocab_size; }
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const override { return tok_.encode(text); }
  [[nodiscard]] std::string decode(std::int32_t token) const override { return tok_.decode(token); }
  [[nodiscard]] std::optional<std::int32_t> eos_token() const override { return tok_.eos(); }
  [[nodiscard]] const ModelTokenizer& tokenizer() const { return tok_; }

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
  ModelTokenizer tok_;
  CpuBackend backend_;
  std::int32_t max_len_ = 0;
};

}  // namespace kvsched::serve
