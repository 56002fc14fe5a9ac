// kvsched/io/text.hpp: reading a whole input file and splitting text into trimmed lines.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

#include "kvsched/io/input_error.hpp"

namespace kvsched::io {

/// Longest line an input file may have: 16 MiB (ours). Text inputs (CSV, JSONL, JSON, TOML)
/// have short lines; a longer one means binary input or a stream without end (/dev/zero),
/// which would otherwise grow in memory until the process is killed.
inline constexpr std::size_t kMaxLineBytes = std::size_t{16} << 20;

/// Reads a whole file into memory, in chunks. Errors: InputError if it is a directory, cannot
/// be opened or read, or a line is longer than max_line_bytes (the line named; reading stops
/// there, so an endless stream without newlines fails instead of exhausting memory).
[[nodiscard]] inline std::string read_file_text(const std::filesystem::path& path, std::size_t max_line_bytes = kMaxLineBytes) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path, 0, "", "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, "", "cannot open file");
  std::string text;
  std::size_t line_start = 0;  // offset of the current line in text
  std::int64_t line = 1;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    const std::size_t base = text.size();
    text.append(buf, got);
    for (std::size_t i = base; i < text.size(); ++i) {
      if (text[i] == '\n') {
        line_start = i + 1;
        ++line;
      }
    }
    if (text.size() - line_start > max_line_bytes)
      throw InputError(path, line, "", "line longer than " + std::to_string(max_line_bytes) + " bytes (binary input, or a stream without newlines?)");
  }
  if (in.bad()) throw InputError(path, 0, "", "read error");
  return text;
}

/// `s` without spaces, tabs, carriage returns and newlines at both ends.
[[nodiscard]] inline std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

/// `s` without a leading UTF-8 byte order mark.
[[nodiscard]] inline std::string_view strip_bom(std::string_view s) {
  return s.substr(0, 3) == "\xEF\xBB\xBF" ? s.substr(3) : s;
}

/// Splits a text into lines (LF or CRLF endings, last line with or without an ending) and calls
/// fn(line_number, line) for each, numbers 1-based, endings stripped.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  std::int64_t number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(++number, line);
    pos = end + 1;
  }
}

}  // namespace kvsched::io
