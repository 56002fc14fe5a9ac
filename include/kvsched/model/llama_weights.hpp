// kvsched/model/llama_weights.hpp: the weights of a Llama model in Hugging Face's layout
// (transformers' LlamaForCausalLM state_dict names), as fp32 Eigen matrices; loading from
// model.safetensors (or a sharded model.safetensors.index.json) and seeded random weights.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "kvsched/model/llama_config.hpp"
#include "kvsched/model/safetensors.hpp"

namespace kvsched::model {

/// Row-major fp32 matrix, as a torch Linear weight [out_features, in_features].
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// fp32 vector (RMSNorm weights).
using Vec = Eigen::VectorXf;

/// One decoder layer (HF names under model.layers.N.). Linear weights are [out, in]:
/// q_proj [Hq*D, hidden], k_proj / v_proj [Hkv*D, hidden], o_proj [hidden, Hq*D],
/// gate_proj / up_proj [intermediate, hidden], down_proj [hidden, intermediate].
struct LlamaLayerWeights {
  Mat q_proj, k_proj, v_proj, o_proj;  // self_attn.{q,k,v,o}_proj.weight
  Mat gate_proj, up_proj, down_proj;   // mlp.{gate,up,down}_proj.weight
  Vec input_layernorm;                 // input_layernorm.weight [hidden]
  Vec post_attention_layernorm;        // post_attention_layernorm.weight [hidden]
};

/// All weights of LlamaForCausalLM, converted to fp32.
struct LlamaWeights {
  Mat embed_tokens;                      // model.embed_tokens.weight [vocab, hidden]
  std::vector<LlamaLayerWeights> layers; // [num_hidden_layers]
  Vec norm;                              // model.norm.weight [hidden]
  Mat lm_head;                           // lm_head.weight [vocab, hidden]; empty when tied to embed_tokens

  /// The output projection: lm_head, or embed_tokens when the embeddings are tied.
  [[nodiscard]] const Mat& output() const { return lm_head.size() ? lm_head : embed_tokens; }
};

/// HF name of a per-layer tensor, e.g. layer_tensor(3, "self_attn.q_proj") =
/// "model.layers.3.self_attn.q_proj.weight".
[[nodiscard]] inline std::string layer_tensor(std::int32_t layer, const std::string& what) {
  return "model.layers." + std::to_string(layer) + "." + what + ".weight";
}

/// Tensor lookup across one or more safetensors files (a sharded checkpoint's weight_map).
class TensorSource {
 public:
  /// A single model.safetensors.
  explicit TensorSource(const std::string& file) { add(file); }
  /// Files named by a model.safetensors.index.json ("weight_map": tensor -> shard file,
  /// relative to the index's folder). Throws std::invalid_argument naming the index file.
  static TensorSource from_index(const std::string& index_path) {
    std::ifstream in(index_path);
    if (!in) throw std::invalid_argument(index_path + ": cannot open");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range 406 (1e999)
      throw std::invalid_argument(index_path + ": malformed JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) throw std::invalid_argument(index_path + ": weight_map: missing");
    const auto dir = std::filesystem::path(index_path).parent_path();
    TensorSource s;
    std::map<std::string, bool> seen;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it->is_string()) throw std::invalid_argument(index_path + ": weight_map." + it.key() + ": expected a file name");
      const auto file = (dir / it->get<std::string>()).string();
      if (!seen[file]) {
        seen[file] = true;
        s.add(file);
      }
    }
    return s;
  }

  [[nodiscard]] bool contains(const std::string& name) const { return find(name) != nullptr; }
  /// Tensor as a [rows, cols] fp32 matrix; throws naming the file and tensor (see SafetensorsFile::matrix).
  [[nodiscard]] Mat matrix(const std::string& name, std::int64_t rows, std::int64_t cols) const {
    const SafetensorsFile* f = find(name);
    if (!f) throw std::invalid_argument(files_.empty() ? name : files_.front()->path() + ": " + name + ": tensor not in the checkpoint");
    return f->matrix(name, rows, cols);
  }
  [[nodiscard]] Vec vector(const std::string& name, std::int64_t n) const {
    const Mat m = matrix(name, 1, n);
    return Eigen::Map<const Vec>(m.data(), n);
  }
  /// dtype of the first tensor found (what the checkpoint stores), for reports.
  [[nodiscard]] std::string stored_dtype(const std::string& name) const {
    const SafetensorsFile* f = find(name);
    return f ? to_string(f->info(name).dtype) : "?";
  }

 private:
  TensorSource() = default;
  void add(const std::string& file) { files_.push_back(std::make_shared<SafetensorsFile>(file)); }
  [[nodiscard]] const SafetensorsFile* find(const std::string& name) const {
    for (const auto& f : files_)
      if (f->contains(name)) return f.get();
    return nullptr;
  }
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
};

/// Reads every weight of `c` from `src`, checking each tensor's shape. lm_head.weight is
/// read unless c.tie_word_embeddings (then it may be absent; when present it is ignored,
/// as transformers ties it). Throws std::invalid_argument naming the file and tensor.
[[nodiscard]] inline LlamaWeights load_llama_weights(const TensorSource& src, const LlamaConfig& c) {
  c.validate();
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, D = c.resolved_head_dim();
  const std::int64_t q_out = std::int64_t{c.num_attention_heads} * D, kv_out = std::int64_t{c.num_key_value_heads} * D;
  LlamaWeights w;
  w.embed_tokens = src.matrix("model.embed_tokens.weight", c.vocab_size, H);
  w.layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (std::int32_t l = 0; l < c.num_hidden_layers; ++l) {
    auto& L = w.layers[static_cast<std::size_t>(l)];
    L.q_proj = src.matrix(layer_tensor(l, "self_attn.q_proj"), q_out, H);
    L.k_proj = src.matrix(layer_tensor(l, "self_attn.k_proj"), kv_out, H);
    L.v_proj = src.matrix(layer_tensor(l, "self_attn.v_proj"), kv_out, H);
    L.o_proj = src.matrix(layer_tensor(l, "self_attn.o_proj"), H, q_out);
    L.gate_proj = src.matrix(layer_tensor(l, "mlp.gate_proj"), I, H);
    L.up_proj = src.matrix(layer_tensor(l, "mlp.up_proj"), I, H);
    L.down_proj = src.matrix(layer_tensor(l, "mlp.down_proj"), H, I);
    L.input_layernorm = src.vector(layer_tensor(l, "input_layernorm"), H);
    L.post_attention_layernorm = src.vector(layer_tensor(l, "post_attention_layernorm"), H);
  }
  w.norm = src.vector("model.norm.weight", H);
  if (!c.tie_word_embeddings) w.lm_head = src.matrix("lm_head.weight", c.vocab_size, H);
  return w;
}

/// A Hugging Face model folder: config.json plus model.safetensors (or a sharded
/// model.safetensors.index.json). Throws std::invalid_argument naming the missing file.
struct LoadedLlama {
  LlamaConfig config;
  LlamaWeights weights;
  std::string stored_dtype;  // "F32", "F16" or "BF16" (of model.embed_tokens.weight)
};
[[nodiscard]] inline LoadedLlama load_llama_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path d(dir);
  if (!fs::is_directory(d)) throw std::invalid_argument(dir + ": not a directory");
  LoadedLlama m;
  m.config = load_llama_config((d / "config.json").string());
  const fs::path single = d / "model.safetensors", index = d / "model.safetensors.index.json";
  if (fs::exists(single)) {
    const TensorSource src(single.string());
    m.weights = load_llama_weights(src, m.config);
    m.stored_dtype = src.stored_dtype("model.embed_tokens.weight");
  } else if (fs::exists(index)) {
    const TensorSource src = TensorSource::from_index(index.string());
    m.weights = load_llama_weights(src, m.config);
    m.stored_dtype = src.stored_dtype("model.embed_tokens.weight");
  } else {
    throw std::invalid_argument(dir + ": neither model.safetensors nor model.safetensors.index.json");
  }
  return m;
}

/// Seeded random weights of `c` (std::mt19937_64, std::normal_distribution of libstdc++):
/// linear and embedding weights N(0, 0.02^2) as transformers' initializer_range, except
/// q_proj and k_proj N(0, 0.1^2) so that attention scores have a spread of O(1) (a
/// near-uniform softmax would hide position and mask errors in tests), RMSNorm weights
/// 1 + N(0, 0.1^2) (not all ones, so that a missing norm weight shows in tests).
/// Same seed, same weights on one standard library.
[[nodiscard]] inline LlamaWeights random_weights(const LlamaConfig& c, std::uint64_t seed) {
  c.validate();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> lin(0.0f, 0.02f), qk(0.0f, 0.1f), nrm(1.0f, 0.1f);
  auto mat = [&](std::int64_t r, std::int64_t k, std::normal_distribution<float>* d = nullptr) {
    Mat m(r, k);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d ? (*d)(rng) : lin(rng);
    return m;
  };
  auto vec = [&](std::int64_t n) {
    Vec v(n);
    for (Eigen::Index i = 0; i < n; ++i) v[i] = nrm(rng);
    return v;
  };
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, D = c.resolved_head_dim();
  const std::int64_t q_out = std::int64_t{c.num_attention_heads} * D, kv_out = std::int64_t{c.num_key_value_heads} * D;
  LlamaWeights w;
  w.embed_tokens = mat(c.vocab_size, H);
  w.layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (auto& L : w.layers) {
    L.q_proj = mat(q_out, H, &qk);
    L.k_proj = mat(kv_out, H, &qk);
    L.v_proj = mat(kv_out, H);
    L.o_proj = mat(H, q_out);
    L.gate_proj = mat(I, H);
    L.up_proj = mat(I, H);
    L.down_proj = mat(H, I);
    L.input_layernorm = vec(H);
    L.post_attention_layernorm = vec(H);
  }
  w.norm = vec(H);
  if (!c.tie_word_embeddings) w.lm_head = mat(c.vocab_size, H);
  return w;
}

}  // namespace kvsched::model
