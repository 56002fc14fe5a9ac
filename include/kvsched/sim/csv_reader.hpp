// kvsched/sim/csv_reader.hpp: a small strict CSV reader for trace files: header by name,
// one record per line, numbers checked with file/line/column in every error.
#pragma once
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "kvsched/sim/input_error.hpp"

namespace kvsched::sim {

/// Reads a whole file into memory. Throws InputError (line 0) if it cannot be opened or read.
[[nodiscard]] inline std::string read_file_text(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path, 0, "", "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, "", "cannot open file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(path, 0, "", "read error");
  return text;
}

/// Trims spaces, tabs and carriage returns at both ends.
[[nodiscard]] inline std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

/// Splits a text into lines (LF or CRLF endings, last line with or without an ending).
/// Calls fn(line_number, line) for each line, numbers 1-based, endings stripped.
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

/// Parses a whole string as a decimal number. Returns false if anything but the number is there.
[[nodiscard]] inline bool parse_double(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, out);
  return r.ec == std::errc() && r.ptr == end && std::isfinite(out);
}

/// Parses a whole string as an integer; "12.0" is accepted (integral float), "12.5" is not.
[[nodiscard]] inline bool parse_integer(std::string_view s, std::int64_t& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto* end = s.data() + s.size();
  const auto r = std::from_chars(s.data(), end, out);
  if (r.ec == std::errc() && r.ptr == end) return true;
  double d = 0.0;
  if (!parse_double(s, d) || d != std::floor(d) || std::fabs(d) > 9.0e15) return false;
  out = static_cast<std::int64_t>(d);
  return true;
}

/// Strict CSV over a file with a header line. Fields are split on commas (no embedded commas;
/// surrounding double quotes and spaces are stripped); blank lines are skipped; every record
/// must have as many fields as the header. Errors are InputError naming file, line and column.
///   CsvReader csv(path); auto c = csv.require_column("ContextTokens");
///   while (csv.next()) { auto n = csv.integer(c, 1); ... }
class CsvReader {
 public:
  explicit CsvReader(std::filesystem::path path) : path_(std::move(path)), text_(read_file_text(path_)) {
    lines_.reserve(static_cast<std::size_t>(std::count(text_.begin(), text_.end(), '\n')) + 1);
    for_each_line(text_, [&](std::int64_t number, std::string_view line) {
      if (!trim(line).empty()) lines_.push_back({number, line});
    });
    if (lines_.empty()) throw InputError(path_, 0, "", "empty file: no header line");
    std::string_view h = lines_.front().text;
    if (h.substr(0, 3) == "\xEF\xBB\xBF") h.remove_prefix(3);  // UTF-8 byte order mark
    split(h, header_);
    header_line_ = lines_.front().number;
    next_ = 1;
  }
  CsvReader(const CsvReader&) = delete;  // fields are views into text_
  CsvReader& operator=(const CsvReader&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// Column names from the header line, trimmed.
  [[nodiscard]] const std::vector<std::string_view>& header() const { return header_; }
  /// Records after the header (blank lines excluded).
  [[nodiscard]] std::size_t num_records() const { return lines_.size() - 1; }
  /// 1-based line number of the header.
  [[nodiscard]] std::int64_t header_line() const { return header_line_; }

  /// Index of a column, or -1 if the header lacks it.
  [[nodiscard]] int find_column(std::string_view name) const {
    for (std::size_t i = 0; i < header_.size(); ++i) {
      if (header_[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
  /// Index of a column; throws InputError (header line, that field) if the header lacks it.
  [[nodiscard]] std::size_t require_column(std::string_view name) const {
    const int i = find_column(name);
    if (i < 0) {
      std::string all;
      for (auto h : header_) {
        if (!all.empty()) all += ',';
        all += h;
      }
      throw InputError(path_, header_line_, std::string(name), "missing column (header is '" + all + "')");
    }
    return static_cast<std::size_t>(i);
  }

  /// Moves to the next record. Returns false after the last one. Throws InputError if the
  /// record's field count differs from the header's.
  bool next() {
    if (next_ >= lines_.size()) return false;
    const auto& l = lines_[next_++];
    line_ = l.number;
    split(l.text, fields_);
    if (fields_.size() != header_.size()) {
      throw InputError(path_, line_, "", "malformed line: expected " + std::to_string(header_.size()) +
                                             " comma-separated fields as in the header, got " +
                                             std::to_string(fields_.size()));
    }
    return true;
  }

  /// 1-based line number of the current record.
  [[nodiscard]] std::int64_t line() const { return line_; }
  /// Raw (trimmed, unquoted) text of a field of the current record.
  [[nodiscard]] std::string_view field(std::size_t col) const { return fields_.at(col); }

  /// Integer field >= min_value. Throws InputError naming the column if missing, not an
  /// integer, below min_value or above max_value.
  [[nodiscard]] std::int64_t integer(std::size_t col, std::int64_t min_value,
                                     std::int64_t max_value = std::numeric_limits<std::int32_t>::max()) const {
    const auto s = field(col);
    if (s.empty()) fail(col, "missing value");
    std::int64_t v = 0;
    if (!parse_integer(s, v)) fail(col, "not an integer: '" + std::string(s) + "'");
    if (v < min_value) fail(col, "must be >= " + std::to_string(min_value) + ", got " + std::string(s));
    if (v > max_value) fail(col, "must be <= " + std::to_string(max_value) + ", got " + std::string(s));
    return v;
  }
  /// Finite number >= min_value. Throws InputError naming the column otherwise.
  [[nodiscard]] double number(std::size_t col, double min_value) const {
    const auto s = field(col);
    if (s.empty()) fail(col, "missing value");
    double v = 0.0;
    if (!parse_double(s, v)) fail(col, "not a number: '" + std::string(s) + "'");
    if (v < min_value) {
      std::ostringstream m;
      m << "must be >= " << min_value << ", got " << s;
      fail(col, m.str());
    }
    return v;
  }
  /// Throws InputError for the current line and a column.
  [[noreturn]] void fail(std::size_t col, const std::string& message) const {
    throw InputError(path_, line_, std::string(header_.at(col)), message);
  }

 private:
  struct Line {
    std::int64_t number;
    std::string_view text;
  };
  static void split(std::string_view line, std::vector<std::string_view>& out) {
    out.clear();
    std::size_t pos = 0;
    while (true) {
      const auto comma = line.find(',', pos);
      auto f = trim(line.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
      if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = trim(f.substr(1, f.size() - 2));
      out.push_back(f);
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }

  std::filesystem::path path_;
  std::string text_;
  std::vector<Line> lines_;
  std::vector<std::string_view> header_;
  std::vector<std::string_view> fields_;
  std::int64_t header_line_ = 1;
  std::int64_t line_ = 0;
  std::size_t next_ = 0;
};

}  // namespace kvsched::sim
