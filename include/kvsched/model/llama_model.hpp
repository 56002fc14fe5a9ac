// kvsched/model/llama_model.hpp: the Llama forward pass (transformers' LlamaForCausalLM,
// models/llama/modeling_llama.py) in C++ with Eigen, batched over a kvsched plan: new K/V
// go into the CPU backend's paged KV pool by slot mapping, attention reads them back
// through each request's block table (CpuBackend::paged_attention).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "kvsched/backend/cpu_backend.hpp"
#include "kvsched/backend/cpu_element.hpp"
#include "kvsched/backend/paged_kv_tables.hpp"
#include "kvsched/core/types.hpp"
#include "kvsched/model/llama_config.hpp"
#include "kvsched/model/llama_ops.hpp"
#include "kvsched/model/llama_weights.hpp"
#include "kvsched/model/rope.hpp"

namespace kvsched::model {

/// One sequence of a batched forward (one ScheduledRequest of a SchedulePlan):
///   | start_pos tokens already in the KV cache | tokens of this step | 
/// The step's tokens sit at positions start_pos .. start_pos + tokens.size() - 1 (a prefill
/// chunk continuing a partial prompt, a whole prompt with start_pos 0, a re-prefill after
/// recompute, or one decode token). The block table must cover start_pos + tokens.size().
struct SequenceStep {
  RequestId id = 0;                       // names the sequence in errors
  std::span<const std::int32_t> tokens;   // token ids computed this step (>= 1)
  std::int32_t start_pos = 0;             // = ScheduledRequest::num_computed_before (tokens)
  std::span<const BlockId> block_table;   // device block ids in token order
};

/// Result of LlamaModel::forward.
struct ForwardOutput {
  Mat last_logits;  // [batch][vocab]: logits after the last token of each sequence (next-token scores)
  Mat all_logits;   // [sum of tokens][vocab], request-major; filled only when asked (tests)
};

/// A Llama model with its fp32 weights. Arithmetic is fp32; the KV cache holds the backend's
/// dtype (fp32, fp16 or bf16): K/V are rounded to it when written, queries and attention
/// outputs go through it too (the backend's contract), so only fp32 caches are bit-faithful
/// to an fp32 reference. Thread-compatible: forward() is const, the backend is the caller's.
class LlamaModel {
 public:
  /// Throws std::invalid_argument when a weight's shape does not match `config`.
  LlamaModel(LlamaConfig config, LlamaWeights weights) : c_(std::move(config)), w_(std::move(weights)), rope_(c_) {
    c_.validate();
    check_shapes();
  }

  [[nodiscard]] const LlamaConfig& config() const { return c_; }
  [[nodiscard]] const LlamaWeights& weights() const { return w_; }
  /// KV cache shape of this model (CpuBackend's constructor takes it).
  [[nodiscard]] KvShape kv_shape(std::int32_t block_size, KvDtype dtype = KvDtype::kF32) const { return c_.kv_shape(block_size, dtype); }

  /// One batched forward over `batch`: embeds every sequence's tokens, and per layer writes
  /// their K/V into the backend's device pool (slot = block_table[pos / bs] * bs + pos % bs),
  /// then runs paged attention over the block tables (causal within each sequence). The
  /// plan's swap_out / swap_in / copy must have been applied before (CpuBackend::apply).
  /// Returns the logits after each sequence's last token, and of every token when `all_logits`.
  /// Throws std::invalid_argument for an empty sequence, a token id outside 0..vocab-1, a
  /// negative start_pos, a block table too short (naming the request id) or a backend whose
  /// shape is not this model's.
  [[nodiscard]] ForwardOutput forward(std::span<const SequenceStep> batch, CpuBackend& backend, bool all_logits = false) const {
    check_backend(backend);
    const KvLayout& L = backend.layout();
    std::vector<std::int32_t> tokens, positions;
    std::vector<std::int64_t> slots;
    std::vector<Eigen::Index> last_rows;
    PagedKvTables tables(L.block_size);
    for (const SequenceStep& s : batch) {
      const std::string who = "LlamaModel::forward: request " + std::to_string(s.id) + ": ";
      if (s.tokens.empty()) throw std::invalid_argument(who + "no token");
      if (s.start_pos < 0) throw std::invalid_argument(who + "start_pos " + std::to_string(s.start_pos) + " < 0");
      const std::int64_t end = std::int64_t{s.start_pos} + static_cast<std::int64_t>(s.tokens.size());
      if (end > std::numeric_limits<std::int32_t>::max()) throw std::invalid_argument(who + "sequence too long");
      const auto need = blocks_for_tokens(end, L.block_size);
      if (static_cast<std::int64_t>(s.block_table.size()) < need)
        throw std::invalid_argument(who + "block table has " + std::to_string(s.block_table.size()) + " blocks, " +
                                    std::to_string(need) + " needed for " + std::to_string(end) + " tokens");
      for (std::size_t j = 0; j < s.tokens.size(); ++j) {
        const std::int32_t pos = s.start_pos + static_cast<std::int32_t>(j);
        tokens.push_back(s.tokens[j]);
        positions.push_back(pos);
        slots.push_back(std::int64_t{s.block_table[static_cast<std::size_t>(pos / L.block_size)]} * L.block_size + pos % L.block_size);
      }
      last_rows.push_back(static_cast<Eigen::Index>(tokens.size()) - 1);
      tables.add(s.block_table, static_cast<std::int32_t>(end), static_cast<std::int32_t>(s.tokens.size()));
    }
    ForwardOutput out;
    if (batch.empty()) return out;
    const AttentionBatch ab = tables.batch(c_.num_attention_heads);
    Mat x = embed(tokens);
    visit_cpu_dtype(L.dtype, [&]<class T>(std::type_identity<T>) {
      for (std::int32_t l = 0; l < c_.num_hidden_layers; ++l) {
        layer(x, l, positions, [&](Mat& q, Mat& k, Mat& v) {
          if constexpr (std::is_same_v<T, float>) {
            backend.write_kv<float>(l, span_of(k), span_of(v), slots);
            Mat o(q.rows(), q.cols());
            backend.paged_attention<float>(l, ab, span_of(q), std::span<float>(o.data(), static_cast<std::size_t>(o.size())));
            return o;
          } else {
            const RowMat<T> kc = k.template cast<T>(), vc = v.template cast<T>(), qc = q.template cast<T>();
            backend.write_kv<T>(l, span_of(kc), span_of(vc), slots);
            RowMat<T> o(q.rows(), q.cols());
            backend.paged_attention<T>(l, ab, span_of(qc), std::span<T>(o.data(), static_cast<std::size_t>(o.size())));
            return Mat(o.template cast<float>());
          }
        });
      }
    });
    if (all_logits) {
      out.all_logits = logits(x);
      out.last_logits.resize(static_cast<Eigen::Index>(last_rows.size()), c_.vocab_size);
      for (std::size_t b = 0; b < last_rows.size(); ++b) out.last_logits.row(static_cast<Eigen::Index>(b)) = out.all_logits.row(last_rows[b]);
    } else {
      Mat last(static_cast<Eigen::Index>(last_rows.size()), x.cols());
      for (std::size_t b = 0; b < last_rows.size(); ++b) last.row(static_cast<Eigen::Index>(b)) = x.row(last_rows[b]);
      out.last_logits = logits(last);
    }
    return out;
  }

  /// Reference forward of one whole sequence with contiguous K/V and no cache (dense causal
  /// attention per head): logits of every position, [tokens][vocab]. Tests compare the paged
  /// path with it.
  [[nodiscard]] Mat forward_dense(std::span<const std::int32_t> tokens) const {
    std::vector<std::int32_t> ids(tokens.begin(), tokens.end()), positions(tokens.size());
    for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<std::int32_t>(i);
    Mat x = embed(ids);
    const std::int32_t D = c_.resolved_head_dim(), G = c_.group_size();
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    for (std::int32_t l = 0; l < c_.num_hidden_layers; ++l) {
      layer(x, l, positions, [&](Mat& q, Mat& k, Mat& v) {
        const Eigen::Index n = q.rows();
        Mat o(n, q.cols());
        for (std::int32_t h = 0; h < c_.num_attention_heads; ++h) {
          const Eigen::Index kh = Eigen::Index{h / G} * D;
          Mat s = (q.middleCols(Eigen::Index{h} * D, D) * k.middleCols(kh, D).transpose()) * scale;
          for (Eigen::Index i = 0; i < n; ++i) {
            auto row = s.row(i);
            const float mx = row.head(i + 1).maxCoeff();
            row.head(i + 1) = (row.head(i + 1).array() - mx).exp().matrix();
            row.head(i + 1) /= row.head(i + 1).sum();
            row.tail(n - i - 1).setZero();
          }
          o.middleCols(Eigen::Index{h} * D, D) = s * v.middleCols(kh, D);
        }
        return o;
      });
    }
    return logits(x);
  }

 private:
  template <class T>
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  template <class T>
  static std::span<const T> span_of(const RowMat<T>& m) {
    return {m.data(), static_cast<std::size_t>(m.size())};
  }

  /// Rows of embed_tokens for `ids`; throws for an id outside the vocabulary.
  Mat embed(const std::vector<std::int32_t>& ids) const {
    Mat x(static_cast<Eigen::Index>(ids.size()), c_.hidden_size);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= c_.vocab_size)
        throw std::invalid_argument("LlamaModel: token id " + std::to_string(ids[i]) + " (token " + std::to_string(i) +
                                    " of the batch) outside 0.." + std::to_string(c_.vocab_size - 1));
      x.row(static_cast<Eigen::Index>(i)) = w_.embed_tokens.row(ids[i]);
    }
    return x;
  }

  /// One decoder layer on x [tokens][hidden] in place: x += o_proj(attend(rope(q), rope(k), v));
  /// x += mlp(norm(x)). attend(q, k, v) returns [tokens][Hq * D].
  template <class Attend>
  void layer(Mat& x, std::int32_t l, const std::vector<std::int32_t>& positions, Attend&& attend) const {
    const auto& W = w_.layers[static_cast<std::size_t>(l)];
    const Mat h = rms_norm(x, W.input_layernorm, c_.rms_norm_eps);
    Mat q = h * W.q_proj.transpose();
    Mat k = h * W.k_proj.transpose();
    Mat v = h * W.v_proj.transpose();
    rope_.apply(q, positions, c_.num_attention_heads);
    rope_.apply(k, positions, c_.num_key_value_heads);
    const Mat a = attend(q, k, v);
    x.noalias() += a * W.o_proj.transpose();
    x.noalias() += swiglu_mlp(rms_norm(x, W.post_attention_layernorm, c_.rms_norm_eps), W);
  }

  /// Final norm and lm_head: [rows][hidden] -> [rows][vocab].
  Mat logits(const Mat& x) const { return rms_norm(x, w_.norm, c_.rms_norm_eps) * w_.output().transpose(); }

  void check_backend(const CpuBackend& b) const {
    const KvLayout& L = b.layout();
    if (L.num_layers != c_.num_hidden_layers || L.num_kv_heads != c_.num_key_value_heads || L.head_dim != c_.resolved_head_dim())
      throw std::invalid_argument("LlamaModel::forward: backend KV shape (layers " + std::to_string(L.num_layers) + ", kv heads " +
                                  std::to_string(L.num_kv_heads) + ", head_dim " + std::to_string(L.head_dim) +
                                  ") is not the model's (" + std::to_string(c_.num_hidden_layers) + ", " +
                                  std::to_string(c_.num_key_value_heads) + ", " + std::to_string(c_.resolved_head_dim()) + ")");
  }

  void check_shapes() const {
    const std::int64_t H = c_.hidden_size, I = c_.intermediate_size, D = c_.resolved_head_dim();
    const std::int64_t qo = std::int64_t{c_.num_attention_heads} * D, kvo = std::int64_t{c_.num_key_value_heads} * D;
    auto chk = [](const std::string& name, const Mat& m, std::int64_t r, std::int64_t k) {
      if (m.rows() != r || m.cols() != k)
        throw std::invalid_argument("LlamaModel: " + name + " is [" + std::to_string(m.rows()) + ", " + std::to_string(m.cols()) +
                                    "], expected [" + std::to_string(r) + ", " + std::to_string(k) + "]");
    };
    auto chv = [](const std::string& name, const Vec& v, std::int64_t n) {
      if (v.size() != n)
        throw std::invalid_argument("LlamaModel: " + name + " has " + std::to_string(v.size()) + " elements, expected " + std::to_string(n));
    };
    chk("model.embed_tokens.weight", w_.embed_tokens, c_.vocab_size, H);
    if (static_cast<std::int64_t>(w_.layers.size()) != c_.num_hidden_layers)
      throw std::invalid_argument("LlamaModel: " + std::to_string(w_.layers.size()) + " layers of weights for num_hidden_layers " +
                                  std::to_string(c_.num_hidden_layers));
    for (std::int32_t l = 0; l < c_.num_hidden_layers; ++l) {
      const auto& W = w_.layers[static_cast<std::size_t>(l)];
      chk(layer_tensor(l, "self_attn.q_proj"), W.q_proj, qo, H);
      chk(layer_tensor(l, "self_attn.k_proj"), W.k_proj, kvo, H);
      chk(layer_tensor(l, "self_attn.v_proj"), W.v_proj, kvo, H);
      chk(layer_tensor(l, "self_attn.o_proj"), W.o_proj, H, qo);
      chk(layer_tensor(l, "mlp.gate_proj"), W.gate_proj, I, H);
      chk(layer_tensor(l, "mlp.up_proj"), W.up_proj, I, H);
      chk(layer_tensor(l, "mlp.down_proj"), W.down_proj, H, I);
      chv(layer_tensor(l, "input_layernorm"), W.input_layernorm, H);
      chv(layer_tensor(l, "post_attention_layernorm"), W.post_attention_layernorm, H);
    }
    chv("model.norm.weight", w_.norm, H);
    chk(c_.tie_word_embeddings || w_.lm_head.size() == 0 ? "model.embed_tokens.weight (tied lm_head)" : "lm_head.weight", w_.output(),
        c_.vocab_size, H);
  }

  LlamaConfig c_;
  LlamaWeights w_;
  Rope rope_;
};

}  // namespace kvsched::model
