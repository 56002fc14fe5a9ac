// kvsched/sim/trace_vidur.hpp: reader for Vidur/Splitwise request CSVs (Agrawal et al., "Vidur",
// MLSys 2024; microsoft/vidur data/processed_traces/splitwise_*.csv).
#pragma once
#include <filesystem>

#include "kvsched/sim/csv_reader.hpp"
#include "kvsched/sim/trace.hpp"

namespace kvsched::sim {

/// Reads a Vidur/Splitwise CSV: header arrived_at,num_prefill_tokens,num_decode_tokens (by
/// name; other columns ignored). arrived_at is in seconds; arrival_s = arrived_at minus the first row's.
/// Errors (InputError): missing column, malformed line, arrived_at missing, negative or
/// decreasing, token count missing or < 1, no rows.
[[nodiscard]] inline Trace read_vidur_trace(const std::filesystem::path& path) {
  CsvReader csv(path);
  const auto c_t = csv.require_column("arrived_at");
  const auto c_in = csv.require_column("num_prefill_tokens");
  const auto c_out = csv.require_column("num_decode_tokens");
  Trace t;
  t.path = path;
  t.format = TraceFormat::kVidur;
  t.timed = true;
  t.requests.reserve(csv.num_records());
  double first = 0.0, prev = 0.0;
  while (csv.next()) {
    TraceRequest r;
    const double at = csv.number(c_t, 0.0);
    if (t.requests.empty()) {
      first = prev = at;
    } else if (at < prev) {
      csv.fail(c_t, "arrival times must not decrease (earlier than the previous row)");
    }
    prev = at;
    r.arrival_s = at - first;
    r.prompt_tokens = static_cast<std::int32_t>(csv.integer(c_in, 1));
    r.output_tokens = static_cast<std::int32_t>(csv.integer(c_out, 1));
    r.line = csv.line();
    t.requests.push_back(std::move(r));
  }
  if (t.requests.empty()) throw InputError(path, csv.header_line(), "", "empty trace: no request after the header");
  return t;
}

}  // namespace kvsched::sim
