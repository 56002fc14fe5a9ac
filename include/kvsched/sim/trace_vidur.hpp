// kvsched/sim/trace_vidur.hpp: reader for Vidur/Splitwise request CSVs (Agrawal et al., "Vidur",
// MLSys 2024; microsoft/vidur data/processed_traces/splitwise_*.csv).
#pragma once
#include <cstddef>
#include <filesystem>

#include "kvsched/io/csv_reader.hpp"
#include "kvsched/sim/trace.hpp"
#include "kvsched/sim/trace_rows.hpp"

namespace kvsched::sim {

/// Reads a Vidur/Splitwise CSV: header arrived_at,num_prefill_tokens,num_decode_tokens (by
/// name; other columns ignored). arrived_at is in seconds; arrival_s = arrived_at minus the first row's.
/// Errors (InputError): missing column, malformed line, arrived_at missing, negative or
/// decreasing, token count missing or < 1, no rows.
[[nodiscard]] inline Trace read_vidur_trace(const std::filesystem::path& path) {
  ArrivalClock<double> clock;  // seconds
  return read_csv_trace(path, TraceFormat::kVidur, {"arrived_at", "num_prefill_tokens", "num_decode_tokens"},
                        [&](const io::CsvReader& csv, std::size_t c_t) {
                          return clock.relative(csv, c_t, csv.number(c_t, 0.0));
                        });
}

}  // namespace kvsched::sim
