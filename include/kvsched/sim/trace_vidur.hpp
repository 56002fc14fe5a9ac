// kvsched/sim/trace_vidur.hpp: reader for Vidur/Splitwise request CSVs (Agrawal et al., "Vidur",
// MLSys 2024; microsoft/vidur data/processed_traces/splitwise_*.csv).
#pragma once
#include <filesystem>

#include "kvsched/sim/csv_reader.hpp"
#include "kvsched/sim/trace.hpp"
#include "kvsched/sim/trace_rows.hpp"

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
  ArrivalClock<double> clock;
  while (csv.next()) {
    const double at = clock.relative(csv, c_t, csv.number(c_t, 0.0));
    TraceRequest r = read_lengths_row(csv, c_in, c_out);
    r.arrival_s = at;
    t.requests.push_back(std::move(r));
  }
  require_requests(t, csv);
  return t;
}

}  // namespace kvsched::sim
