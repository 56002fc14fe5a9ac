// kvsched/sim/trace_reader.hpp: format detection and one entry point for every trace reader.
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/io/csv_tokenizer.hpp"
#include "kvsched/io/input_error.hpp"
#include "kvsched/io/text.hpp"
#include "kvsched/sim/trace.hpp"
#include "kvsched/sim/trace_azure.hpp"
#include "kvsched/sim/trace_lengths.hpp"
#include "kvsched/sim/trace_mooncake.hpp"
#include "kvsched/sim/trace_vidur.hpp"

namespace kvsched::sim {

/// Detects a trace's format from its first non-blank line:
///   a JSON object with "input_length"            -> kMooncake
///   CSV header with TIMESTAMP and ContextTokens  -> kAzure
///   CSV header with arrived_at and num_prefill_tokens -> kVidur
///   CSV header with num_prefill_tokens and num_decode_tokens -> kLengths
/// Throws InputError (line 1) naming the header when none matches; override the format then.
[[nodiscard]] inline TraceFormat detect_trace_format(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw io::InputError(path, 0, "", "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io::InputError(path, 0, "", "cannot open file");
  // The first non-blank line, read a bounded number of bytes at a time: /dev/zero or a binary
  // file without newlines must fail, not grow without bound.
  std::string line;
  std::int64_t number = 0;
  std::size_t scanned = 0;
  while (true) {
    line.clear();
    char c = 0;
    bool eol = false;
    while (in.get(c)) {
      if (c == '\n') {
        eol = true;
        break;
      }
      line.push_back(c);
      if (++scanned > io::kMaxLineBytes)
        throw io::InputError(path, number + 1, "", "no line end within " + std::to_string(io::kMaxLineBytes) +
                                                       " bytes (binary input?): cannot detect the trace format");
    }
    if (!eol && line.empty()) break;  // end of file
    ++number;
    if (!io::trim(line).empty() || !eol) break;
  }
  auto head = std::string(io::strip_bom(io::trim(line)));
  if (head.empty()) throw io::InputError(path, 0, "", "empty file: cannot detect the trace format");
  std::vector<std::string> columns;  // the header as the CSV readers split it; none if it is not CSV
  try {
    columns = io::CsvTokenizer(head, path).header();
  } catch (const io::InputError&) {
  }
  auto has_column = [&](std::string_view name) {
    return std::find(columns.begin(), columns.end(), name) != columns.end();
  };
  if (head.front() == '{' && head.find("\"input_length\"") != std::string::npos) return TraceFormat::kMooncake;
  if (has_column("TIMESTAMP") && has_column("ContextTokens")) return TraceFormat::kAzure;
  if (has_column("arrived_at") && has_column("num_prefill_tokens")) return TraceFormat::kVidur;
  if (has_column("num_prefill_tokens") && has_column("num_decode_tokens")) return TraceFormat::kLengths;
  if (head.size() > 120) head = head.substr(0, 120) + "...";
  throw io::InputError(path, number, "",
                       "cannot detect the trace format from '" + head +
                           "' (expected an Azure, Vidur, length-only CSV header or Mooncake JSONL); name the format");
}

/// Reads a trace in the given format (kAuto = detect_trace_format). Throws InputError on bad input.
[[nodiscard]] inline Trace read_trace(const std::filesystem::path& path, TraceFormat format = TraceFormat::kAuto) {
  if (format == TraceFormat::kAuto) format = detect_trace_format(path);
  switch (format) {
    case TraceFormat::kAzure: return read_azure_trace(path);
    case TraceFormat::kVidur: return read_vidur_trace(path);
    case TraceFormat::kLengths: return read_lengths_trace(path);
    case TraceFormat::kMooncake: return read_mooncake_trace(path);
    case TraceFormat::kAuto: break;
  }
  throw io::InputError(path, 0, "", "unknown trace format");
}

}  // namespace kvsched::sim
