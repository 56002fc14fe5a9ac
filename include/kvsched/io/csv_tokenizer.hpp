// kvsched/io/csv_tokenizer.hpp: the one CSV tokenizer (RFC 4180) under both CSV views, the table
// (io/csv_table.hpp) and the record stream (io/csv_reader.hpp), with the cell conversions and
// error messages they share.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvsched/io/input_error.hpp"
#include "kvsched/io/number.hpp"
#include "kvsched/io/text.hpp"

namespace kvsched::io {

/// A CSV file with a header record, read one record at a time. Rules (RFC 4180 plus what real
/// exports need):
///  - a field is quoted ("...") or not; a quoted field may hold commas, newlines and doubled
///    quotes (""), kept verbatim; text other than spaces after its closing quote is an error;
///  - an unquoted field runs to the next comma or line end and is trimmed of spaces and tabs;
///  - "\n" and "\r\n" end a record; a record with no comma and only spaces is blank and skipped;
///  - a UTF-8 byte order mark at the start is skipped; the first non-blank record is the header;
///  - every other record must have as many fields as the header.
/// Fields are views into the tokenizer's text, valid while it lives (it can be neither copied
/// nor moved). Errors are InputError naming the file, the line (where the record starts) and,
/// for a cell, the column's name and 1-based index.
class CsvTokenizer {
 public:
  /// Reads `path` and its header. Errors: InputError (cannot open, empty, bad quoting).
  explicit CsvTokenizer(std::filesystem::path path) : CsvTokenizer(read_file_text(path), path) {}
  /// Tokenizes `text`; `source` names it in errors (a file path or "<string>").
  CsvTokenizer(std::string text, std::filesystem::path source) : path_(std::move(source)), buf_(std::move(text)) {
    text_ = strip_bom(buf_);
    newlines_ = static_cast<std::size_t>(std::count(text_.begin(), text_.end(), '\n'));
    if (!read_record(fields_, line_)) throw InputError(path_, 0, "", "empty file: no header line");
    header_line_ = line_;
    header_.assign(fields_.begin(), fields_.end());
    fields_.clear();
    line_ = 0;
  }
  CsvTokenizer(const CsvTokenizer&) = delete;  // fields are views into buf_
  CsvTokenizer& operator=(const CsvTokenizer&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// Column names from the header record.
  [[nodiscard]] const std::vector<std::string>& header() const { return header_; }
  /// 1-based line of the header record.
  [[nodiscard]] std::int64_t header_line() const { return header_line_; }
  /// An upper bound on the number of records after the header (for reserve()).
  [[nodiscard]] std::size_t max_records() const { return newlines_ + 1; }

  /// Index of the column named `name`, or nullopt.
  [[nodiscard]] std::optional<std::size_t> find_column(std::string_view name) const {
    for (std::size_t i = 0; i < header_.size(); ++i) {
      if (header_[i] == name) return i;
    }
    return std::nullopt;
  }
  /// Index of the column named `name`. Errors: InputError (header line, field `name`).
  [[nodiscard]] std::size_t require_column(std::string_view name) const {
    if (auto c = find_column(name)) return *c;
    std::string all;
    for (const auto& h : header_) {
      if (!all.empty()) all += ',';
      all += h;
    }
    throw InputError(path_, header_line_, std::string(name), "missing column (header is '" + all + "')");
  }

  /// Moves to the next record; false after the last. Errors: InputError for bad quoting or a
  /// field count that differs from the header's.
  bool next() {
    if (!read_record(fields_, line_)) return false;
    if (fields_.size() != header_.size()) {
      throw InputError(path_, line_, "", "malformed line: expected " + std::to_string(header_.size()) +
                                             " comma-separated fields as in the header, got " +
                                             std::to_string(fields_.size()));
    }
    return true;
  }
  /// 1-based line where the current record starts.
  [[nodiscard]] std::int64_t line() const { return line_; }
  /// The current record's fields (header().size() of them).
  [[nodiscard]] const std::vector<std::string_view>& fields() const { return fields_; }

  /// Error about column `col` (0-based) of the record at `line`.
  [[nodiscard]] InputError error(std::int64_t line, std::size_t col, const std::string& problem) const {
    return InputError(path_, line, header_.at(col), problem, col + 1);
  }
  /// Error about the whole file (line 0).
  [[nodiscard]] InputError file_error(const std::string& problem) const { return InputError(path_, 0, "", problem); }

  /// `text`, a cell of column `col` at `line`, as a number (io/number.hpp's rule, surrounding
  /// spaces ignored), or nullopt when empty. Errors: InputError "not a number: '...'".
  [[nodiscard]] std::optional<double> number_or_empty(std::int64_t line, std::size_t col, std::string_view text) const {
    const std::string_view s = trim(text);
    if (s.empty()) return std::nullopt;
    double v = 0.0;
    if (!parse_double(s, v)) throw error(line, col, "not a number: '" + std::string(s) + "'");
    return v;
  }
  /// As number_or_empty; an empty cell is an error too ("missing value (empty cell)").
  [[nodiscard]] double number(std::int64_t line, std::size_t col, std::string_view text) const {
    if (auto v = number_or_empty(line, col, text)) return *v;
    throw error(line, col, kMissing);
  }
  /// The cell as an integer (io/number.hpp: "290.0" is 290). Errors: InputError when empty or
  /// not an integer.
  [[nodiscard]] std::int64_t integer(std::int64_t line, std::size_t col, std::string_view text) const {
    const std::string_view s = trim(text);
    if (s.empty()) throw error(line, col, kMissing);
    std::int64_t v = 0;
    if (!parse_integer(s, v)) throw error(line, col, "not an integer: '" + std::string(s) + "'");
    return v;
  }
  /// The cell as a boolean: True/true/1 or False/false/0. Errors: InputError otherwise.
  [[nodiscard]] bool boolean(std::int64_t line, std::size_t col, std::string_view text) const {
    const std::string_view s = trim(text);
    if (s == "True" || s == "true" || s == "1") return true;
    if (s == "False" || s == "false" || s == "0") return false;
    throw error(line, col, "not a boolean (True, true, 1, False, false, 0): '" + std::string(s) + "'");
  }

 private:
  static constexpr const char* kMissing = "missing value (empty cell)";
  static bool is_space(char c) { return c == ' ' || c == '\t'; }

  // Reads the next non-blank record into `out` and its first line into `line`.
  bool read_record(std::vector<std::string_view>& out, std::int64_t& line) {
    const std::string_view t = text_;
    const std::size_t n = t.size();
    while (pos_ < n) {
      line = next_line_;
      out.clear();
      bool blank = true;
      for (;;) {  // one field
        std::size_t i = pos_;
        while (i < n && is_space(t[i])) ++i;
        if (i < n && t[i] == '"') {
          blank = false;
          out.push_back(quoted_field(i, line, out.size() + 1));
          while (pos_ < n && (is_space(t[pos_]) || t[pos_] == '\r')) ++pos_;
          if (pos_ < n && t[pos_] != ',' && t[pos_] != '\n') {
            throw InputError(path_, line, "", "text after a closing quote", out.size());
          }
        } else {
          std::size_t j = i;
          while (j < n && t[j] != ',' && t[j] != '\n') ++j;
          out.push_back(trim(t.substr(i, j - i)));
          if (!out.back().empty()) blank = false;
          pos_ = j;
        }
        if (pos_ < n && t[pos_] == ',') {
          blank = false;
          ++pos_;
          continue;
        }
        break;
      }
      if (pos_ < n) ++pos_;  // the '\n'
      ++next_line_;
      if (!blank) return true;
    }
    return false;
  }

  // The quoted field whose opening quote is at `open`; leaves pos_ after the closing quote.
  std::string_view quoted_field(std::size_t open, std::int64_t line, std::size_t column) {
    const std::string_view t = text_;
    std::string* unescaped = nullptr;  // set on the first doubled quote
    std::size_t seg = open + 1, j = open + 1;
    for (;;) {
      if (j >= t.size()) throw InputError(path_, line, "", "unterminated quoted field", column);
      if (t[j] == '"') {
        if (j + 1 < t.size() && t[j + 1] == '"') {
          if (unescaped == nullptr) unescaped = &unescaped_.emplace_back();
          unescaped->append(t.substr(seg, j + 1 - seg));
          j += 2;
          seg = j;
          continue;
        }
        break;
      }
      if (t[j] == '\n') ++next_line_;
      ++j;
    }
    pos_ = j + 1;
    if (unescaped == nullptr) return t.substr(open + 1, j - open - 1);
    unescaped->append(t.substr(seg, j - seg));
    return *unescaped;
  }

  std::filesystem::path path_;
  std::string buf_;                     // the file's text
  std::string_view text_;               // buf_ without a byte order mark
  std::deque<std::string> unescaped_;   // quoted fields with doubled quotes, unescaped (stable)
  std::vector<std::string> header_;
  std::vector<std::string_view> fields_;
  std::int64_t header_line_ = 0;
  std::int64_t line_ = 0;               // current record's first line
  std::int64_t next_line_ = 1;          // line at pos_
  std::size_t pos_ = 0;
  std::size_t newlines_ = 0;
};

}  // namespace kvsched::io
