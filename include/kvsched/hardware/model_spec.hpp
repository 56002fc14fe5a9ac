// kvsched/hardware/model_spec.hpp: model geometry the simulator and the latency fit need (KV bytes
// per token, weight bytes, layer shapes), with presets for the models the bundled Vidur
// profiles cover.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kvsched {

/// Decoder-only transformer geometry, one GPU, tensor parallel 1.
/// Numbers of the presets come from the model's Hugging Face config.json and are checked
/// against the n_head / n_kv_head / n_embd / n_expanded_embd columns of the bundled Vidur
/// mlp.csv (tests/test_hardware.cpp).
struct ModelSpec {
  std::string name;                // preset name, e.g. "llama2-7b"
  std::int32_t num_layers = 0;     // decoder layers (HF num_hidden_layers)
  std::int32_t num_q_heads = 0;    // query heads (HF num_attention_heads)
  std::int32_t num_kv_heads = 0;   // key/value heads (HF num_key_value_heads; < q heads = GQA)
  std::int32_t head_dim = 0;       // hidden / num_q_heads (elements)
  std::int32_t hidden = 0;         // residual width (HF hidden_size)
  std::int32_t ffn_hidden = 0;     // gated-MLP width (HF intermediate_size)
  std::int32_t vocab_size = 0;     // HF vocab_size (embedding and LM head rows)
  std::int32_t dtype_bytes = 2;    // bytes per weight and per KV element (fp16/bf16 = 2)
  std::int64_t weight_bytes = 0;   // parameter count x dtype_bytes (bytes)
  std::int32_t max_model_len = 0;  // context window (tokens; HF max_position_embeddings)
  std::string vidur_dir;           // profile folder under data/vidur_profiling/<gpu>/, e.g. "Llama-2-7b-hf"

  /// KV cache bytes per token: 2 (K and V) x layers x kv_heads x head_dim x dtype bytes.
  /// Llama-2-7B fp16: 524288 (512 KiB); Llama-3-8B bf16: 131072 (128 KiB).
  [[nodiscard]] std::int64_t kv_bytes_per_token() const {
    return std::int64_t{2} * num_layers * num_kv_heads * head_dim * dtype_bytes;
  }
  /// Parameter count derived from the geometry of a Llama-style model (untied embedding and
  /// LM head, q/k/v/o projections without bias, gated MLP, two RMSNorms per layer + final).
  [[nodiscard]] std::int64_t llama_param_count() const {
    const std::int64_t h = hidden, kv = std::int64_t{num_kv_heads} * head_dim;
    const std::int64_t attn = h * h * 2 + h * kv * 2;  // q, o: h x h; k, v: h x kv
    const std::int64_t mlp = 3 * h * ffn_hidden;       // gate, up, down
    const std::int64_t per_layer = attn + mlp + 2 * h;
    return per_layer * num_layers + 2 * std::int64_t{vocab_size} * h + h;
  }
};

/// Names accepted by model_preset(), in a stable order.
[[nodiscard]] inline std::vector<std::string> model_preset_names() { return {"llama2-7b", "llama3-8b"}; }

/// Preset by name. Errors: std::invalid_argument listing the known names.
///  - "llama2-7b": meta-llama/Llama-2-7b-hf config.json (32 layers, 32 q / 32 KV heads of 128,
///    hidden 4096, intermediate 11008, vocab 32000, 4096 positions, float16);
///    6,738,415,616 parameters = 13,476,831,232 bytes.
///  - "llama3-8b": meta-llama/Meta-Llama-3-8B config.json (32 layers, 32 q / 8 KV heads of 128,
///    hidden 4096, intermediate 14336, vocab 128256, 8192 positions, bfloat16);
///    8,030,261,248 parameters = 16,060,522,496 bytes.
[[nodiscard]] inline ModelSpec model_preset(std::string_view name) {
  if (name == "llama2-7b") {
    return ModelSpec{"llama2-7b", 32, 32, 32, 128, 4096, 11008, 32000, 2, 13'476'831'232, 4096, "Llama-2-7b-hf"};
  }
  if (name == "llama3-8b") {
    return ModelSpec{"llama3-8b", 32, 32, 8, 128, 4096, 14336, 128256, 2, 16'060'522'496, 8192, "Meta-Llama-3-8B"};
  }
  std::string known;
  for (const auto& n : model_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown model preset '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace kvsched
