// kvsched/sim/trace_lengths.hpp: reader for length-only CSVs (prompt and output lengths, no
// arrival times), as the Sarathi-Serve / Vidur / Etalon team publish them for ShareGPT,
// arXiv summarization and BWB (data/processed_traces/*_stats_llama2_tokenizer*.csv).
#pragma once
#include <filesystem>

#include "kvsched/sim/csv_reader.hpp"
#include "kvsched/sim/trace.hpp"
#include "kvsched/sim/trace_rows.hpp"

namespace kvsched::sim {

/// Reads a length-only CSV: header with num_prefill_tokens and num_decode_tokens (by name;
/// other columns such as num_total_tokens, pd_ratio ignored). Arrival times are all 0 and
/// Trace::timed is false: pair it with an arrival process (kvsched/sim/arrival_process.hpp).
/// Errors (InputError): missing column, malformed line, token count missing or < 1, no rows.
[[nodiscard]] inline Trace read_lengths_trace(const std::filesystem::path& path) {
  CsvReader csv(path);
  const auto c_in = csv.require_column("num_prefill_tokens");
  const auto c_out = csv.require_column("num_decode_tokens");
  Trace t;
  t.path = path;
  t.format = TraceFormat::kLengths;
  t.timed = false;
  t.requests.reserve(csv.num_records());
  while (csv.next()) t.requests.push_back(read_lengths_row(csv, c_in, c_out));
  require_requests(t, csv);
  return t;
}

}  // namespace kvsched::sim
