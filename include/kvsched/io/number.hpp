// kvsched/io/number.hpp: the one number rule of every input reader (CSV cells, trace fields,
// command-line ranges).
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace kvsched::io {

/// Parses the whole of `s` as a finite decimal number, std::from_chars' general format:
/// optional '-', digits with an optional fraction, optional exponent ("3", "-0.5", "1e-3").
/// Rejected, returning false: an empty text; a leading '+' (strtod and the old trace reader
/// took it, from_chars does not, and one rule for every file is simpler than two); "inf",
/// "infinity", "nan" and values that overflow to infinity (a time or a count is never
/// infinite: such a cell is a broken export, not data); hexadecimal; surrounding spaces (trim
/// first) and anything after the number ("1.5x", "3 4"), so a typo is never half-read.
[[nodiscard]] inline bool parse_double(std::string_view s, double& out) {
  const auto* end = s.data() + s.size();
  double v = 0.0;
  const auto r = std::from_chars(s.data(), end, v);
  if (s.empty() || r.ec != std::errc() || r.ptr != end || !std::isfinite(v)) return false;
  out = v;
  return true;
}

/// Parses the whole of `s` as an integer: a decimal integer ("-12"), or a number accepted by
/// parse_double whose value is integral and at most 9e15 in magnitude ("290.0", "1e3"; some
/// length-only traces write token counts as floats). "12.5" and "+12" are rejected.
[[nodiscard]] inline bool parse_integer(std::string_view s, std::int64_t& out) {
  const auto* end = s.data() + s.size();
  std::int64_t i = 0;
  const auto r = std::from_chars(s.data(), end, i);
  if (!s.empty() && r.ec == std::errc() && r.ptr == end) {
    out = i;
    return true;
  }
  double d = 0.0;
  if (!parse_double(s, d) || d != std::floor(d) || std::fabs(d) > 9.0e15) return false;
  out = static_cast<std::int64_t>(d);
  return true;
}

}  // namespace kvsched::io
