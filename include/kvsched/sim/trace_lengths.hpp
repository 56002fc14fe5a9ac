// kvsched/sim/trace_lengths.hpp: reader for length-only CSVs (prompt and output lengths, no
// arrival times), as the Sarathi-Serve / Vidur / Etalon team publish them for ShareGPT,
// arXiv summarization and BWB (data/processed_traces/*_stats_llama2_tokenizer*.csv).
#pragma once
#include <cstddef>
#include <filesystem>

#include "kvsched/io/csv_reader.hpp"
#include "kvsched/sim/trace.hpp"
#include "kvsched/sim/trace_rows.hpp"

namespace kvsched::sim {

/// Reads a length-only CSV: header with num_prefill_tokens and num_decode_tokens (by name;
/// other columns such as num_total_tokens, pd_ratio ignored). Arrival times are all 0 and
/// Trace::timed is false: pair it with an arrival process (kvsched/sim/arrival_process.hpp).
/// Errors (InputError): missing column, malformed line, token count missing or < 1, no rows.
[[nodiscard]] inline Trace read_lengths_trace(const std::filesystem::path& path) {
  return read_csv_trace(path, TraceFormat::kLengths, {"", "num_prefill_tokens", "num_decode_tokens"},
                        [](const io::CsvReader&, std::size_t) { return 0.0; });
}

}  // namespace kvsched::sim
