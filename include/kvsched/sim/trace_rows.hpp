// kvsched/sim/trace_rows.hpp: the row handling the CSV trace readers share (Azure, Vidur,
// length-only): token counts, arrival order, the empty-trace check.
#pragma once
#include <cstdint>
#include <string>

#include "kvsched/sim/csv_reader.hpp"
#include "kvsched/sim/trace.hpp"

namespace kvsched::sim {

/// The current record's prompt and output token counts (each an integer >= 1) and its line.
/// Errors (InputError via CsvReader): a count missing, malformed or < 1.
[[nodiscard]] inline TraceRequest read_lengths_row(CsvReader& csv, std::size_t c_prompt, std::size_t c_output) {
  TraceRequest r;
  r.prompt_tokens = static_cast<std::int32_t>(csv.integer(c_prompt, 1));
  r.output_tokens = static_cast<std::int32_t>(csv.integer(c_output, 1));
  r.line = csv.line();
  return r;
}

/// Arrival times relative to the first row, checked not to decrease (T: seconds or ns).
template <class T>
class ArrivalClock {
 public:
  /// Returns `t` minus the first row's time. Errors (InputError): `t` earlier than the previous row's.
  [[nodiscard]] T relative(CsvReader& csv, std::size_t column, T t) {
    if (!started_) {
      first_ = prev_ = t;
      started_ = true;
    } else if (t < prev_) {
      csv.fail(column, "arrival times must not decrease (earlier than the previous row)");
    }
    prev_ = t;
    return t - first_;
  }

 private:
  T first_{}, prev_{};
  bool started_ = false;
};

/// Errors (InputError): the trace has no request after the header.
inline void require_requests(const Trace& t, const CsvReader& csv) {
  if (t.requests.empty()) throw InputError(t.path, csv.header_line(), "", "empty trace: no request after the header");
}

}  // namespace kvsched::sim
