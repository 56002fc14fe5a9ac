// kvsched/serve/completion_request.hpp: the body of POST /v1/completions and
// /v1/chat/completions, parsed and checked field by field (OpenAI API reference, "Completions"
// and "Chat"; vLLM 0.6 entrypoints/openai/protocol.py CompletionRequest / ChatCompletionRequest
// for the extensions `ignore_eos` and the 400s it gives).
// Every problem throws ApiError(400) naming the field in `param`.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kvsched/core/types.hpp"
#include "kvsched/serve/api_error.hpp"
#include "kvsched/serve/sampler.hpp"

namespace kvsched::serve {

/// One chat message (role: system, user, assistant, tool or developer; content as text).
struct ChatMessage {
  std::string role;
  std::string content;
};

/// A parsed completion or chat completion request. The prompt is not tokenized here: the
/// route does that with the executor's tokenizer (see prompt_text / prompt_ids).
struct CompletionRequest {
  bool chat = false;                        // from /v1/chat/completions
  std::string model;                        // "model" (may be empty: the served model)
  std::string prompt_text;                  // completions: "prompt" as text; chat: the rendered messages
  std::optional<std::vector<std::int32_t>> prompt_ids;  // completions: "prompt" given as token ids
  std::vector<ChatMessage> messages;        // chat only
  std::optional<std::int32_t> max_tokens;   // "max_tokens" (chat: or "max_completion_tokens"), >= 1
  SamplingParams sampling;                  // temperature, top_p, seed
  std::vector<std::string> stop;            // "stop": up to 4 non-empty strings
  bool stream = false;                      // "stream"
  bool include_usage = false;               // "stream_options": {"include_usage": true}
  bool continuous_usage = false;            // vLLM's "stream_options": {"continuous_usage_stats": true}: usage in every chunk, a chunk per token
  bool ignore_eos = false;                  // vLLM extension: generate max_tokens tokens
  Slo slo{};                                // kvsched extension "slo": {"ttft_s", "tbt_s"} (s)
};

namespace detail {
inline const nlohmann::json* field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}
inline double number_field(const nlohmann::json& j, const char* name, double lo, double hi, double fallback) {
  const auto* f = field(j, name);
  if (!f) return fallback;
  if (!f->is_number()) throw bad_request(name, std::string(name) + ": expected a number, got " + f->type_name());
  const double v = f->get<double>();
  if (!(v >= lo && v <= hi))
    throw bad_request(name, std::string(name) + ": " + std::to_string(v) + " outside [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  return v;
}
inline bool bool_field(const nlohmann::json& j, const char* name, const std::string& where = {}) {
  const auto* f = field(j, name);
  if (!f) return false;
  const std::string param = where.empty() ? name : where + "." + name;
  if (!f->is_boolean()) throw bad_request(param, param + ": expected a boolean, got " + f->type_name());
  return f->get<bool>();
}
inline std::optional<std::int32_t> max_tokens_field(const nlohmann::json& j, const char* name) {
  const auto* f = field(j, name);
  if (!f) return std::nullopt;
  if (!f->is_number_integer()) throw bad_request(name, std::string(name) + ": expected an integer, got " + f->type_name());
  const std::int64_t v = f->get<std::int64_t>();
  if (v < 1) throw bad_request(name, std::string(name) + ": must be >= 1, got " + std::to_string(v));
  return static_cast<std::int32_t>(std::min<std::int64_t>(v, std::numeric_limits<std::int32_t>::max()));
}
/// Chat content: a string, or an array of {"type": "text", "text": ...} parts (joined).
inline std::string message_content(const nlohmann::json& c, const std::string& where) {
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {
    std::string text;
    for (std::size_t i = 0; i < c.size(); ++i) {
      const auto& part = c[i];
      const std::string p = where + "[" + std::to_string(i) + "]";
      if (!part.is_object() || part.value("type", std::string{}) != "text" || !part.contains("text") || !part["text"].is_string())
        throw bad_request(p, p + ": only {\"type\": \"text\", \"text\": string} parts are supported");
      text += part["text"].get<std::string>();
    }
    return text;
  }
  throw bad_request(where, where + ": expected a string or an array of text parts, got " + std::string(c.type_name()));
}
}  // namespace detail

/// Renders chat messages as one prompt: "<|role|>\ncontent\n" per message, then
/// "<|assistant|>\n" (a fixed, documented template: kvsched reads no Jinja chat_template).
[[nodiscard]] inline std::string render_chat(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "\n";
  return out + "<|assistant|>\n";
}

/// Parses a request body. `chat` selects /v1/chat/completions (messages) over
/// /v1/completions (prompt). Throws ApiError(400) for malformed JSON (including invalid
/// UTF-8), a body that is not an object, and any missing, wrong-typed or out-of-range field.
[[nodiscard]] inline CompletionRequest parse_completion_request(const std::string& body, bool chat) {
  using nlohmann::json;
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    throw bad_request("", std::string("body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw bad_request("", std::string("body: expected a JSON object, got ") + j.type_name());
  CompletionRequest r;
  r.chat = chat;
  if (const auto* m = detail::field(j, "model")) {
    if (!m->is_string()) throw bad_request("model", std::string("model: expected a string, got ") + m->type_name());
    r.model = m->get<std::string>();
  }
  if (chat) {
    const auto* msgs = detail::field(j, "messages");
    if (!msgs) throw bad_request("messages", "messages: missing");
    if (!msgs->is_array() || msgs->empty()) throw bad_request("messages", "messages: expected a non-empty array");
    for (std::size_t i = 0; i < msgs->size(); ++i) {
      const auto& m = (*msgs)[i];
      const std::string where = "messages[" + std::to_string(i) + "]";
      if (!m.is_object()) throw bad_request(where, where + ": expected an object");
      const auto* role = detail::field(m, "role");
      if (!role || !role->is_string()) throw bad_request(where + ".role", where + ".role: expected a string");
      const std::string rs = role->get<std::string>();
      if (rs != "system" && rs != "user" && rs != "assistant" && rs != "tool" && rs != "developer")
        throw bad_request(where + ".role", where + ".role: unknown role '" + rs + "'");
      const auto* content = detail::field(m, "content");
      if (!content) throw bad_request(where + ".content", where + ".content: missing");
      r.messages.push_back({rs, detail::message_content(*content, where + ".content")});
    }
    r.prompt_text = render_chat(r.messages);
    r.max_tokens = detail::max_tokens_field(j, "max_completion_tokens");
    if (!r.max_tokens) r.max_tokens = detail::max_tokens_field(j, "max_tokens");
  } else {
    const auto* p = detail::field(j, "prompt");
    if (!p) throw bad_request("prompt", "prompt: missing");
    if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];  // ["text"]
    if (p->is_string()) {
      r.prompt_text = p->get<std::string>();
    } else if (p->is_array() && !p->empty() && std::all_of(p->begin(), p->end(), [](const json& t) { return t.is_number_integer(); })) {
      std::vector<std::int32_t> ids;
      for (const auto& t : *p) {
        const std::int64_t v = t.get<std::int64_t>();
        if (v < 0 || v > std::numeric_limits<std::int32_t>::max()) throw bad_request("prompt", "prompt: token id " + std::to_string(v) + " out of range");
        ids.push_back(static_cast<std::int32_t>(v));
      }
      r.prompt_ids = std::move(ids);
    } else {
      throw bad_request("prompt", "prompt: expected a string, one string in an array, or an array of token ids");
    }
    r.max_tokens = detail::max_tokens_field(j, "max_tokens");
  }
  if (const auto* n = detail::field(j, "n"); n && (!n->is_number_integer() || n->get<std::int64_t>() != 1))
    throw bad_request("n", "n: only n = 1 is supported");
  r.sampling.temperature = detail::number_field(j, "temperature", 0.0, 2.0, 1.0);
  r.sampling.top_p = detail::number_field(j, "top_p", 0.0, 1.0, 1.0);
  if (r.sampling.top_p <= 0.0) throw bad_request("top_p", "top_p: must be in (0, 1]");
  if (const auto* s = detail::field(j, "seed")) {
    if (!s->is_number_integer()) throw bad_request("seed", std::string("seed: expected an integer, got ") + s->type_name());
    r.sampling.seed = s->is_number_unsigned() ? s->get<std::uint64_t>() : static_cast<std::uint64_t>(s->get<std::int64_t>());
  }
  if (const auto* s = detail::field(j, "stop")) {
    if (s->is_string()) {
      r.stop.push_back(s->get<std::string>());
    } else if (s->is_array()) {
      if (s->size() > 4) throw bad_request("stop", "stop: at most 4 sequences");
      for (const auto& x : *s) {
        if (!x.is_string()) throw bad_request("stop", "stop: expected strings");
        r.stop.push_back(x.get<std::string>());
      }
    } else {
      throw bad_request("stop", std::string("stop: expected a string or an array of strings, got ") + s->type_name());
    }
    for (const auto& x : r.stop)
      if (x.empty()) throw bad_request("stop", "stop: empty sequence");
  }
  r.stream = detail::bool_field(j, "stream");
  if (const auto* so = detail::field(j, "stream_options")) {
    if (!so->is_object()) throw bad_request("stream_options", "stream_options: expected an object");
    if (!r.stream) throw bad_request("stream_options", "stream_options: only allowed with stream = true");
    r.include_usage = detail::bool_field(*so, "include_usage", "stream_options");
    r.continuous_usage = detail::bool_field(*so, "continuous_usage_stats", "stream_options");
  }
  r.ignore_eos = detail::bool_field(j, "ignore_eos");
  if (const auto* slo = detail::field(j, "slo")) {
    if (!slo->is_object()) throw bad_request("slo", "slo: expected an object");
    r.slo.ttft_s = detail::number_field(*slo, "ttft_s", 0.0, 1e9, 0.0);
    r.slo.tbt_s = detail::number_field(*slo, "tbt_s", 0.0, 1e9, 0.0);
  }
  return r;
}

}  // namespace kvsched::serve
