// kvsched/sim/trace_mooncake.hpp: reader for Mooncake JSONL traces (Qin et al., "Mooncake",
// FAST 2025; kvcache-ai/Mooncake FAST25-release/traces/*.jsonl).
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "kvsched/io/input_error.hpp"
#include "kvsched/io/text.hpp"
#include "kvsched/sim/trace.hpp"
#include "kvsched/sim/trace_rows.hpp"

namespace kvsched::sim {

namespace detail {
/// Integer member of a JSONL record >= min_value; throws InputError naming the key.
[[nodiscard]] inline std::int64_t jsonl_integer(const nlohmann::json& rec, const char* key, std::int64_t min_value,
                                                const std::filesystem::path& path, std::int64_t line) {
  const auto it = rec.find(key);
  if (it == rec.end() || it->is_null()) throw io::InputError(path, line, key, "missing");
  std::int64_t v = 0;
  if (it->is_number_integer()) {
    v = it->get<std::int64_t>();
  } else if (it->is_number_float() && it->get<double>() == std::floor(it->get<double>()) &&
             std::fabs(it->get<double>()) < 9.0e15) {
    v = static_cast<std::int64_t>(it->get<double>());
  } else {
    throw io::InputError(path, line, key, "not an integer: " + it->dump());
  }
  if (v < min_value) throw io::InputError(path, line, key, "must be >= " + std::to_string(min_value) + ", got " + std::to_string(v));
  if (v > 0x7fffffff) throw io::InputError(path, line, key, "too large: " + std::to_string(v));
  return v;
}
}  // namespace detail

/// Reads a Mooncake JSONL trace: one JSON object per line with timestamp (ms, non-decreasing),
/// input_length and output_length (tokens, >= 1) and optional hash_ids (ids of consecutive
/// 512-token prompt blocks; equal leading ids = shareable prefix KV). arrival_s = (timestamp
/// - first timestamp) / 1000. Blank lines are skipped. Errors (io::InputError): invalid JSON, a key
/// missing or of the wrong type, negative values, decreasing timestamps, no rows.
[[nodiscard]] inline Trace read_mooncake_trace(const std::filesystem::path& path) {
  const std::string text = io::read_file_text(path);
  Trace t;
  t.path = path;
  t.format = TraceFormat::kMooncake;
  t.timed = true;
  t.content_block_tokens = 512;
  ArrivalClock<double> clock;  // milliseconds
  io::for_each_line(text, [&](std::int64_t line, std::string_view s) {
    if (io::trim(s).empty()) return;
    nlohmann::json rec;
    try {
      rec = nlohmann::json::parse(s);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range 406 (1e999)
      throw io::InputError(path, line, "", std::string("malformed JSON: ") + e.what());
    }
    if (!rec.is_object()) throw io::InputError(path, line, "", "expected a JSON object per line");
    const auto ts = rec.find("timestamp");
    if (ts == rec.end() || ts->is_null()) throw io::InputError(path, line, "timestamp", "missing");
    if (!ts->is_number()) throw io::InputError(path, line, "timestamp", "not a number: " + ts->dump());
    const double ms = ts->get<double>();
    if (!std::isfinite(ms) || ms < 0.0) throw io::InputError(path, line, "timestamp", "must be >= 0, got " + ts->dump());
    const auto since_first_ms = clock.relative(ms);
    if (!std::holds_alternative<double>(since_first_ms)) {
      throw io::InputError(path, line, "timestamp", "timestamps must not decrease (earlier than the previous line)");
    }
    TraceRequest r;
    r.arrival_s = std::get<double>(since_first_ms) * 1e-3;
    r.prompt_tokens = static_cast<std::int32_t>(detail::jsonl_integer(rec, "input_length", 1, path, line));
    r.output_tokens = static_cast<std::int32_t>(detail::jsonl_integer(rec, "output_length", 1, path, line));
    if (const auto h = rec.find("hash_ids"); h != rec.end() && !h->is_null()) {
      if (!h->is_array()) throw io::InputError(path, line, "hash_ids", "not an array: " + h->dump());
      r.content_ids.reserve(h->size());
      for (const auto& id : *h) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0) {
          throw io::InputError(path, line, "hash_ids", "expected non-negative integers, got " + id.dump());
        }
        r.content_ids.push_back(id.get<std::uint64_t>());
      }
    }
    r.line = line;
    t.requests.push_back(std::move(r));
  });
  if (t.requests.empty()) throw io::InputError(path, 0, "", "empty trace: no request line");
  return t;
}

}  // namespace kvsched::sim
