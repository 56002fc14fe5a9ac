// kvsched/sim/trace_azure.hpp: reader for the Azure LLM inference trace 2023 (Patel et al.,
// "Splitwise", ISCA 2024; github.com/Azure/AzurePublicDataset, data/AzureLLMInferenceTrace_*.csv).
#pragma once
#include <chrono>
#include <cstdint>
#include <limits>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "kvsched/io/csv_reader.hpp"
#include "kvsched/sim/trace.hpp"
#include "kvsched/sim/trace_rows.hpp"

namespace kvsched::sim {

/// Parses an Azure trace timestamp "YYYY-MM-DD hh:mm:ss[.fffffff]" (no time zone, up to 9
/// fractional digits) into nanoseconds since 1970-01-01 00:00:00 of the same clock.
/// Returns nullopt if the text is not such a timestamp or names no real date.
[[nodiscard]] inline std::optional<std::int64_t> parse_azure_timestamp_ns(std::string_view s) {
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (s.size() < 19 || !digits(0, 4, y) || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' ||
      !digits(8, 2, d) || (s[10] != ' ' && s[10] != 'T') || !digits(11, 2, h) || s[13] != ':' ||
      !digits(14, 2, mi) || s[16] != ':' || !digits(17, 2, se)) {
    return std::nullopt;
  }
  if (h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::int64_t frac_ns = 0;
  if (s.size() > 19) {
    if (s[19] != '.' || s.size() == 20 || s.size() > 29) return std::nullopt;
    std::int64_t scale = 100'000'000;
    for (std::size_t i = 20; i < s.size(); ++i, scale /= 10) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      frac_ns += (s[i] - '0') * scale;
    }
  }
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  const std::int64_t secs = days * 86'400 + h * 3'600 + mi * 60 + se;
  // Nanoseconds since 1970 fit int64 between the years 1677 and 2262 (found by fuzzing: year
  // 4046 overflowed the multiplication).
  constexpr std::int64_t kMaxSecs = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
  if (secs > kMaxSecs || secs < -kMaxSecs) return std::nullopt;
  return secs * 1'000'000'000 + frac_ns;
}

/// Reads an Azure LLM inference trace CSV: header TIMESTAMP,ContextTokens,GeneratedTokens
/// (columns found by name; others ignored). arrival_s = seconds since the first row.
/// Errors (InputError, exit code 2 in kvsched-sim): missing column, malformed line, bad or
/// decreasing timestamp, token count missing or < 1, no rows.
[[nodiscard]] inline Trace read_azure_trace(const std::filesystem::path& path) {
  ArrivalClock<std::int64_t> clock;  // nanoseconds
  return read_csv_trace(path, TraceFormat::kAzure, {"TIMESTAMP", "ContextTokens", "GeneratedTokens"},
                        [&](const io::CsvReader& csv, std::size_t c_ts) {
                          const auto ts = parse_azure_timestamp_ns(csv.field(c_ts));
                          if (!ts) {
                            csv.fail(c_ts, "not a timestamp 'YYYY-MM-DD hh:mm:ss.fffffff': '" +
                                               std::string(csv.field(c_ts)) + "'");
                          }
                          return static_cast<double>(clock.relative(csv, c_ts, *ts)) * 1e-9;
                        });
}

}  // namespace kvsched::sim
