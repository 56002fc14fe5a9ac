// kvsched/sim/trace.hpp: a request trace as read from a file, before it becomes RequestSpecs.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvsched::sim {

/// File formats kvsched-sim reads. Source of each layout: the SOURCE.md beside the bundled
/// copy under data/.
enum class TraceFormat : std::uint8_t {
  kAuto,      // detect from the header (detect_trace_format)
  kAzure,     // Azure LLM inference trace 2023: TIMESTAMP,ContextTokens,GeneratedTokens
  kVidur,     // Vidur/Splitwise CSV: arrived_at,num_prefill_tokens,num_decode_tokens
  kLengths,   // length-only CSV: num_prefill_tokens,num_decode_tokens[,...]; no arrival times
  kMooncake,  // Mooncake JSONL: {"timestamp","input_length","output_length","hash_ids"}
};

[[nodiscard]] constexpr std::string_view to_string(TraceFormat f) {
  switch (f) {
    case TraceFormat::kAuto: return "auto";
    case TraceFormat::kAzure: return "azure";
    case TraceFormat::kVidur: return "vidur";
    case TraceFormat::kLengths: return "lengths";
    case TraceFormat::kMooncake: return "mooncake";
  }
  return "?";
}

/// Format by name ("auto", "azure", "vidur", "lengths", "mooncake"); nullopt if unknown.
[[nodiscard]] inline std::optional<TraceFormat> parse_trace_format(std::string_view name) {
  for (auto f : {TraceFormat::kAuto, TraceFormat::kAzure, TraceFormat::kVidur, TraceFormat::kLengths,
                 TraceFormat::kMooncake}) {
    if (name == to_string(f)) return f;
  }
  return std::nullopt;
}

/// One request of a trace file.
struct TraceRequest {
  double arrival_s = 0.0;            // seconds since the trace's first request (0 when untimed)
  std::int32_t prompt_tokens = 0;    // prompt length (tokens), >= 1
  std::int32_t output_tokens = 0;    // true output length (tokens), >= 1
  std::vector<std::uint64_t> content_ids;  // prefix-block hash ids (Mooncake, 512 tokens each); else empty
  std::int64_t line = 0;             // 1-based line in the file, for messages
};

/// A whole trace file, rows in file order.
struct Trace {
  std::filesystem::path path;
  TraceFormat format = TraceFormat::kAuto;
  bool timed = false;                      // rows carry arrival times (all but kLengths)
  std::int32_t content_block_tokens = 512; // tokens per content id (Mooncake: 512)
  std::vector<TraceRequest> requests;

  [[nodiscard]] std::size_t size() const { return requests.size(); }
  /// Span of arrival times (s): last minus first; 0 for fewer than two requests.
  [[nodiscard]] double span_s() const {
    return requests.size() < 2 ? 0.0 : requests.back().arrival_s - requests.front().arrival_s;
  }
  /// Mean arrival rate (requests/s) of a timed trace: (n - 1) / span, the inverse of the mean
  /// inter-arrival time. 0 when untimed or when every request arrives at once.
  [[nodiscard]] double mean_rate_rps() const {
    const double span = span_s();
    return (!timed || span <= 0.0) ? 0.0 : static_cast<double>(requests.size() - 1) / span;
  }
};

}  // namespace kvsched::sim
