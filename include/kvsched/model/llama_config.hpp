// kvsched/model/llama_config.hpp: the Llama architecture's hyper-parameters, read from a Hugging
// Face config.json (transformers' LlamaConfig, models/llama/configuration_llama.py), and a
// seeded random tiny config for tests and a weight-free server.
#pragma once
#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "kvsched/backend/kv_layout.hpp"

namespace kvsched::model {

/// Llama hyper-parameters, in transformers' LlamaConfig names. Defaults are LlamaConfig's.
/// Shapes: hidden = num_attention_heads x head_dim is not required (head_dim may be set
/// explicitly, as in Llama 3.2 / Qwen-style configs); q_proj is [num_attention_heads*head_dim,
/// hidden], k_proj / v_proj are [num_key_value_heads*head_dim, hidden].
struct LlamaConfig {
  std::int32_t hidden_size = 4096;
  std::int32_t intermediate_size = 11008;
  std::int32_t num_hidden_layers = 32;
  std::int32_t num_attention_heads = 32;
  std::int32_t num_key_value_heads = 32;   // GQA when fewer than num_attention_heads
  std::int32_t head_dim = 0;               // 0 = hidden_size / num_attention_heads (HF default)
  std::int32_t vocab_size = 32000;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::int32_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;        // lm_head.weight = model.embed_tokens.weight
  std::string torch_dtype = "float32";     // dtype of the checkpoint (informational; weights are converted to fp32)
  /// rope_scaling of type "llama3" (Llama 3.1+): transformers' _compute_llama3_parameters.
  struct Llama3RopeScaling {
    double factor = 8.0;
    double low_freq_factor = 1.0;
    double high_freq_factor = 4.0;
    std::int32_t original_max_position_embeddings = 8192;
  };
  std::optional<Llama3RopeScaling> rope_scaling{};
  /// Not a config.json key: rounds RoPE's inverse frequencies to this dtype (then computes in
  /// fp32), reproducing a transformers model moved with `.to(torch.float16 / bfloat16)` and back,
  /// which rounds the rotary embedding's inv_freq buffer too. kF32 (default) = no rounding, as a
  /// model built in fp32 (and vLLM's fp32 cos/sin cache) has them.
  KvDtype rope_inv_freq_dtype = KvDtype::kF32;

  /// Elements per attention head: head_dim, or hidden_size / num_attention_heads.
  [[nodiscard]] std::int32_t resolved_head_dim() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
  /// Query heads per KV head (GQA group size).
  [[nodiscard]] std::int32_t group_size() const { return num_attention_heads / num_key_value_heads; }
  /// KV cache shape of this model for the CPU backend (fp32 unless told).
  [[nodiscard]] KvShape kv_shape(std::int32_t block_size, KvDtype dtype = KvDtype::kF32) const {
    return {num_hidden_layers, num_key_value_heads, resolved_head_dim(), block_size, dtype};
  }

  /// Throws std::invalid_argument "<where>: <key>: <why>" for the first impossible value
  /// (non-positive sizes, heads not dividing, odd head_dim for RoPE, eps or theta <= 0).
  void validate(const std::string& where = "LlamaConfig") const {
    auto bad = [&](const char* key, const std::string& why) { throw std::invalid_argument(where + ": " + key + ": " + why); };
    auto pos = [&](const char* key, std::int64_t v) {
      if (v <= 0) bad(key, "must be > 0, got " + std::to_string(v));
    };
    pos("hidden_size", hidden_size);
    pos("intermediate_size", intermediate_size);
    pos("num_hidden_layers", num_hidden_layers);
    pos("num_attention_heads", num_attention_heads);
    pos("num_key_value_heads", num_key_value_heads);
    pos("vocab_size", vocab_size);
    pos("max_position_embeddings", max_position_embeddings);
    if (head_dim < 0) bad("head_dim", "must be > 0, got " + std::to_string(head_dim));
    if (num_attention_heads % num_key_value_heads != 0)
      bad("num_key_value_heads", std::to_string(num_key_value_heads) + " does not divide num_attention_heads " +
                                     std::to_string(num_attention_heads));
    if (head_dim == 0 && hidden_size % num_attention_heads != 0)
      bad("hidden_size", std::to_string(hidden_size) + " is not a multiple of num_attention_heads " +
                             std::to_string(num_attention_heads) + " (and head_dim is not given)");
    if (resolved_head_dim() % 2 != 0) bad("head_dim", "must be even for RoPE, got " + std::to_string(resolved_head_dim()));
    if (!(rms_norm_eps > 0)) bad("rms_norm_eps", "must be > 0, got " + std::to_string(rms_norm_eps));
    if (!(rope_theta > 0)) bad("rope_theta", "must be > 0, got " + std::to_string(rope_theta));
    if (rope_scaling) {
      if (!(rope_scaling->factor > 0)) bad("rope_scaling.factor", "must be > 0");
      if (!(rope_scaling->high_freq_factor > rope_scaling->low_freq_factor))
        bad("rope_scaling.high_freq_factor", "must be > low_freq_factor");
      if (rope_scaling->original_max_position_embeddings <= 0) bad("rope_scaling.original_max_position_embeddings", "must be > 0");
    }
  }

  /// A tiny Llama for tests and a server started without a model: 4 layers, hidden 256,
  /// 4 heads (head_dim 64), 2 KV heads (GQA 2), intermediate 512, vocab 512, 2048 positions.
  /// `seed` does not change the shape; it is here so that config and weights travel together
  /// (random_weights(random_tiny(), seed)).
  [[nodiscard]] static LlamaConfig random_tiny() {
    return {.hidden_size = 256, .intermediate_size = 512, .num_hidden_layers = 4, .num_attention_heads = 4,
            .num_key_value_heads = 2, .vocab_size = 512, .rms_norm_eps = 1e-5, .rope_theta = 10000.0,
            .max_position_embeddings = 2048, .tie_word_embeddings = false, .torch_dtype = "float32"};
  }
};

/// Parses a config.json object. `where` names the source in errors (the file path).
/// Required keys: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
/// vocab_size; the others default as in transformers (num_key_value_heads = num_attention_heads).
/// model_type, when present, must be "llama" (or a Llama-compatible "mistral" without sliding
/// window); attention_bias / mlp_bias true, hidden_act other than "silu" and a RoPE type other
/// than "default" / "llama3" (rope_scaling of transformers 4, rope_parameters of transformers 5)
/// are rejected, since the forward pass does not implement them.
/// Throws std::invalid_argument "<where>: <key>: <why>".
[[nodiscard]] inline LlamaConfig parse_llama_config(const nlohmann::json& j, const std::string& where = "config.json") {
  auto bad = [&](const std::string& key, const std::string& why) -> void { throw std::invalid_argument(where + ": " + key + ": " + why); };
  if (!j.is_object()) bad("(top level)", "expected a JSON object");
  LlamaConfig c;
  auto get_int = [&](const char* key, std::int32_t& out, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) bad(key, "missing");
      return;
    }
    const auto& v = j[key];
    if (!v.is_number_integer()) bad(key, "expected an integer, got " + v.dump());
    const auto x = v.get<std::int64_t>();
    if (x < INT32_MIN || x > INT32_MAX) bad(key, "out of range: " + v.dump());
    out = static_cast<std::int32_t>(x);
  };
  auto get_num = [&](const char* key, double& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_number()) bad(key, "expected a number, got " + j[key].dump());
    out = j[key].get<double>();
  };
  auto get_bool = [&](const char* key, bool& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_boolean()) bad(key, "expected true or false, got " + j[key].dump());
    out = j[key].get<bool>();
  };
  if (j.contains("model_type")) {
    if (!j["model_type"].is_string()) bad("model_type", "expected a string");
    const auto mt = j["model_type"].get<std::string>();
    if (mt != "llama" && mt != "mistral") bad("model_type", "\"" + mt + "\" is not a Llama-architecture model (expected \"llama\")");
    if (mt == "mistral" && j.contains("sliding_window") && !j["sliding_window"].is_null())
      bad("sliding_window", "sliding-window attention is not implemented");
  }
  get_int("hidden_size", c.hidden_size, true);
  get_int("intermediate_size", c.intermediate_size, true);
  get_int("num_hidden_layers", c.num_hidden_layers, true);
  get_int("num_attention_heads", c.num_attention_heads, true);
  c.num_key_value_heads = c.num_attention_heads;
  get_int("num_key_value_heads", c.num_key_value_heads, false);
  get_int("head_dim", c.head_dim, false);
  get_int("vocab_size", c.vocab_size, true);
  get_int("max_position_embeddings", c.max_position_embeddings, false);
  get_num("rms_norm_eps", c.rms_norm_eps);
  get_num("rope_theta", c.rope_theta);
  get_bool("tie_word_embeddings", c.tie_word_embeddings);
  if (j.contains("torch_dtype") && !j["torch_dtype"].is_null()) {
    if (!j["torch_dtype"].is_string()) bad("torch_dtype", "expected a string, got " + j["torch_dtype"].dump());
    c.torch_dtype = j["torch_dtype"].get<std::string>();
  } else if (j.contains("dtype") && j["dtype"].is_string()) {
    c.torch_dtype = j["dtype"].get<std::string>();  // transformers >= 4.56 writes "dtype"
  }
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    bool on = false;
    get_bool(key, on);
    if (on) bad(key, "biases are not implemented (expected false)");
  }
  if (j.contains("hidden_act") && j["hidden_act"] != "silu") bad("hidden_act", "only \"silu\" is implemented, got " + j["hidden_act"].dump());
  // RoPE parameters: transformers < 5 writes rope_scaling (null for plain RoPE) beside a flat
  // rope_theta; transformers 5 writes rope_parameters {rope_theta, rope_type, ...}.
  std::string rope_key;
  for (const char* key : {"rope_parameters", "rope_scaling"})
    if (rope_key.empty() && j.contains(key) && !j[key].is_null()) rope_key = key;
  if (!rope_key.empty()) {
    const auto& rs = j[rope_key];
    if (!rs.is_object()) bad(rope_key, "expected an object or null");
    if (rs.contains("rope_theta")) {
      if (!rs["rope_theta"].is_number()) bad(rope_key + ".rope_theta", "expected a number");
      c.rope_theta = rs["rope_theta"].get<double>();
    }
    const auto& type_v = rs.contains("rope_type") ? rs["rope_type"] : rs.contains("type") ? rs["type"] : nlohmann::json("default");
    if (!type_v.is_string()) bad(rope_key + ".rope_type", "expected a string");
    const std::string type = type_v.get<std::string>();
    if (type == "default") {
      // plain RoPE
    } else if (type == "llama3") {
      LlamaConfig::Llama3RopeScaling s;
      auto num = [&](const char* key, double& out) {
        if (!rs.contains(key) || !rs[key].is_number()) bad(rope_key + "." + key, "missing or not a number");
        out = rs[key].get<double>();
      };
      num("factor", s.factor);
      num("low_freq_factor", s.low_freq_factor);
      num("high_freq_factor", s.high_freq_factor);
      if (!rs.contains("original_max_position_embeddings") || !rs["original_max_position_embeddings"].is_number_integer())
        bad(rope_key + ".original_max_position_embeddings", "missing or not an integer");
      s.original_max_position_embeddings = rs["original_max_position_embeddings"].get<std::int32_t>();
      c.rope_scaling = s;
    } else {
      bad(rope_key, "rope type \"" + type + "\" is not implemented (expected \"default\" or \"llama3\")");
    }
  }
  c.validate(where);
  return c;
}

/// Reads and parses a config.json file. Throws std::invalid_argument naming the file for a
/// missing file, malformed JSON or a bad key (see parse_llama_config).
[[nodiscard]] inline LlamaConfig load_llama_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range 406 (1e999)
    throw std::invalid_argument(path + ": malformed JSON: " + e.what());
  }
  return parse_llama_config(j, path);
}

}  // namespace kvsched::model
