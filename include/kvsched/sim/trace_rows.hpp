// kvsched/sim/trace_rows.hpp: the skeleton every trace reader shares: the CSV one (Azure, Vidur,
// length-only: columns by name, token counts, arrival order, the empty-trace check) and the
// arrival clock the Mooncake JSONL reader uses too.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <type_traits>
#include <variant>

#include "kvsched/io/csv_reader.hpp"
#include "kvsched/io/input_error.hpp"
#include "kvsched/sim/trace.hpp"

namespace kvsched::sim {

/// Arrival times relative to the first row, checked not to decrease (T: seconds, ms or ns).
template <class T>
class ArrivalClock {
 public:
  /// Why relative() refused a time.
  enum class Refusal { kEarlier, kOverflow };

  /// `t` minus the first row's time, or why not: earlier than the previous row's, or (integral
  /// T) a difference T cannot hold (found by fuzzing: rows in 1677 and 2262 overflow int64 ns).
  [[nodiscard]] std::variant<T, Refusal> relative(T t) {
    if (!started_) {
      first_ = prev_ = t;
      started_ = true;
    } else if (t < prev_) {
      return Refusal::kEarlier;
    }
    prev_ = t;
    T d{};
    if constexpr (std::is_integral_v<T>) {
      if (__builtin_sub_overflow(t, first_, &d)) return Refusal::kOverflow;
    } else {
      d = t - first_;
    }
    return d;
  }
  /// relative(t), for column `col` of the current CSV record. Errors: InputError naming it
  /// when `t` is earlier than the previous row's or too far after the first row's.
  [[nodiscard]] T relative(const io::CsvReader& csv, std::size_t col, T t) {
    const auto r = relative(t);
    if (const auto* why = std::get_if<Refusal>(&r)) {
      csv.fail(col, *why == Refusal::kEarlier ? "arrival times must not decrease (earlier than the previous row)"
                                              : "arrival time too far after the first row's (the span overflows)");
    }
    return std::get<T>(r);
  }

 private:
  T first_{}, prev_{};
  bool started_ = false;
};

/// Names of a CSV trace's columns; `time` empty for a trace without arrival times.
struct CsvTraceColumns {
  std::string_view time;
  std::string_view prompt;
  std::string_view output;
};

/// Reads a CSV trace: columns found by name (others ignored; time first, then prompt, output);
/// for each record, arrival_s = arrival_of(csv, time column) (before the counts, so a bad time
/// is reported first; 0 when untimed), then prompt and output token counts (integers >= 1).
/// Errors (InputError, exit code 2 in kvsched-sim): a missing column, a malformed record, a
/// token count missing or < 1, whatever arrival_of throws, no rows.
template <class ArrivalOf>
[[nodiscard]] Trace read_csv_trace(const std::filesystem::path& path, TraceFormat format, CsvTraceColumns cols,
                                   ArrivalOf&& arrival_of) {
  io::CsvReader csv(path);
  const bool timed = !cols.time.empty();
  const std::size_t c_t = timed ? csv.require_column(cols.time) : 0;
  const auto c_in = csv.require_column(cols.prompt);
  const auto c_out = csv.require_column(cols.output);
  Trace t;
  t.path = path;
  t.format = format;
  t.timed = timed;
  t.requests.reserve(csv.max_records());
  while (csv.next()) {
    TraceRequest r;
    r.arrival_s = timed ? static_cast<double>(arrival_of(csv, c_t)) : 0.0;
    r.prompt_tokens = static_cast<std::int32_t>(csv.integer(c_in, 1));
    r.output_tokens = static_cast<std::int32_t>(csv.integer(c_out, 1));
    r.line = csv.line();
    t.requests.push_back(std::move(r));
  }
  if (t.requests.empty()) throw io::InputError(path, csv.header_line(), "", "empty trace: no request after the header");
  return t;
}

}  // namespace kvsched::sim
