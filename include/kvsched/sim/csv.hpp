// kvsched/sim/csv.hpp: a small RFC 4180 CSV table (header row + data rows) for the bundled
// data files (Vidur profiles, traces, reported measurements). Errors name file, line and column.
#pragma once
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace kvsched {

/// Bad CSV input: unreadable file, ragged row, missing column, unparsable cell. what() reads
/// "<file>:<line>:<column> (<column name>): <problem>"; line is 1-based in the file, column is
/// 1-based; either is 0 when it does not apply.
class CsvError : public std::runtime_error {
 public:
  CsvError(std::string file, std::size_t line, std::size_t column, const std::string& what)
      : std::runtime_error(what), file_(std::move(file)), line_(line), column_(column) {}
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] std::size_t line() const { return line_; }
  [[nodiscard]] std::size_t column() const { return column_; }

 private:
  std::string file_;
  std::size_t line_;
  std::size_t column_;
};

/// A parsed CSV file: one header row naming the columns, then rows with exactly as many fields.
/// Quoted fields may hold commas, doubled quotes and newlines; "\r\n" and "\n" both end a row;
/// blank lines are skipped. Cells are kept as text and converted on access.
class CsvTable {
 public:
  /// Reads and parses `file`. Errors: CsvError (cannot open, empty, ragged row, bad quoting).
  [[nodiscard]] static CsvTable read(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw CsvError(file.string(), 0, 0, file.string() + ": cannot open CSV file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse(std::move(ss).str(), file.string());
  }

  /// Parses `text`; `source` names it in error messages (a file path or "<string>").
  [[nodiscard]] static CsvTable parse(std::string text, std::string source) {
    CsvTable t;
    t.source_ = std::move(source);
    t.buf_ = std::move(text);
    t.parse_all();
    return t;
  }

  [[nodiscard]] const std::string& source() const { return source_; }
  [[nodiscard]] std::size_t num_rows() const { return lines_.size(); }
  [[nodiscard]] std::size_t num_columns() const { return header_.size(); }
  [[nodiscard]] const std::vector<std::string>& header() const { return header_; }

  /// Index of the column named `name`, or nullopt.
  [[nodiscard]] std::optional<std::size_t> find_column(std::string_view name) const {
    for (std::size_t i = 0; i < header_.size(); ++i) {
      if (header_[i] == name) return i;
    }
    return std::nullopt;
  }
  /// Index of the column named `name`. Errors: CsvError naming the file and the column.
  [[nodiscard]] std::size_t column(std::string_view name) const {
    if (auto c = find_column(name)) return *c;
    throw CsvError(source_, 1, 0, source_ + ":1: missing column '" + std::string(name) + "'");
  }

  /// 1-based line in the file where data row `row` (0-based) starts.
  [[nodiscard]] std::size_t line_of(std::size_t row) const { return lines_.at(row); }

  /// Raw text of a cell (unquoted, not trimmed).
  [[nodiscard]] std::string_view cell(std::size_t row, std::size_t col) const {
    const Span s = cells_.at(row * header_.size() + col);
    return std::string_view(buf_).substr(s.off, s.len);
  }

  /// Cell as a double; surrounding spaces are ignored. Errors: CsvError naming file, line,
  /// column and the text when the cell is empty or not a number.
  [[nodiscard]] double number(std::size_t row, std::size_t col) const {
    if (auto v = number_or_empty(row, col)) return *v;
    throw error(row, col, "empty cell where a number is expected");
  }
  /// Cell as a double, or nullopt when the cell is empty. Errors: CsvError when not a number.
  [[nodiscard]] std::optional<double> number_or_empty(std::size_t row, std::size_t col) const {
    const std::string_view s = trim(cell(row, col));
    if (s.empty()) return std::nullopt;
    double v = 0.0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
      throw error(row, col, "cannot parse '" + std::string(s) + "' as a number");
    }
    return v;
  }
  /// Cell as an integer. Errors: CsvError when empty or not an integer.
  [[nodiscard]] std::int64_t integer(std::size_t row, std::size_t col) const {
    const std::string_view s = trim(cell(row, col));
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
      throw error(row, col, "cannot parse '" + std::string(s) + "' as an integer");
    }
    return v;
  }
  /// Cell as a boolean: True/true/1 or False/false/0. Errors: CsvError otherwise.
  [[nodiscard]] bool boolean(std::size_t row, std::size_t col) const {
    const std::string_view s = trim(cell(row, col));
    if (s == "True" || s == "true" || s == "1") return true;
    if (s == "False" || s == "false" || s == "0") return false;
    throw error(row, col, "cannot parse '" + std::string(s) + "' as a boolean");
  }

  /// Error for a cell: "<file>:<line>:<col> (<name>): <problem>".
  [[nodiscard]] CsvError error(std::size_t row, std::size_t col, const std::string& problem) const {
    const std::size_t line = line_of(row);
    return CsvError(source_, line, col + 1,
                    source_ + ":" + std::to_string(line) + ":" + std::to_string(col + 1) + " (" + header_.at(col) +
                        "): " + problem);
  }

 private:
  struct Span {
    std::size_t off;
    std::size_t len;
  };

  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  }

  // Splits buf_ into records; quoted fields that need unescaping are appended to buf_ after
  // the original text, so every cell is an (offset, length) into buf_ that survives moves.
  void parse_all() {
    auto fail = [this](std::size_t line, std::size_t col, const std::string& problem) {
      std::string msg = source_;
      msg.append(":").append(std::to_string(line));
      if (col > 0) msg.append(":").append(std::to_string(col));
      msg.append(": ").append(problem);
      return CsvError(source_, line, col, msg);
    };
    const std::size_t n = buf_.size();
    std::size_t i = 0, line = 1;
    std::vector<Span> fields;
    bool have_header = false;
    while (i < n) {
      const std::size_t record_line = line;
      fields.clear();
      bool blank = true;
      for (;;) {  // one field
        Span f{i, 0};
        if (i < n && buf_[i] == '"') {
          blank = false;
          std::string unescaped;
          bool needs_copy = false;
          std::size_t j = i + 1;
          const std::size_t start = j;
          for (;;) {
            if (j >= n) throw fail(record_line, fields.size() + 1, "unterminated quoted field");
            if (buf_[j] == '"') {
              if (j + 1 < n && buf_[j + 1] == '"') {
                needs_copy = true;
                unescaped += '"';
                j += 2;
                continue;
              }
              break;
            }
            if (buf_[j] == '\n') ++line;
            unescaped += buf_[j];
            ++j;
          }
          if (needs_copy) {
            pending_.push_back(std::move(unescaped));
            f = Span{kPending, pending_.size() - 1};
          } else {
            f = Span{start, j - start};
          }
          i = j + 1;  // past the closing quote
          if (i < n && buf_[i] != ',' && buf_[i] != '\n' && buf_[i] != '\r') {
            throw fail(line, fields.size() + 1, "text after a closing quote");
          }
        } else {
          while (i < n && buf_[i] != ',' && buf_[i] != '\n' && buf_[i] != '\r') ++i;
          f.len = i - f.off;
          if (f.len > 0) blank = false;
        }
        fields.push_back(f);
        if (i < n && buf_[i] == ',') {
          blank = false;
          ++i;
          continue;
        }
        break;
      }
      if (i < n && buf_[i] == '\r') ++i;
      if (i < n && buf_[i] == '\n') ++i;
      ++line;
      if (blank) continue;
      if (!have_header) {
        for (const Span& f : fields) header_.emplace_back(span_text(f));
        have_header = true;
        continue;
      }
      if (fields.size() != header_.size()) {
        throw fail(
            record_line, 0,
            "row has " + std::to_string(fields.size()) + " fields, header has " + std::to_string(header_.size()));
      }
      lines_.push_back(record_line);
      cells_.insert(cells_.end(), fields.begin(), fields.end());
    }
    if (!have_header) throw CsvError(source_, 0, 0, source_ + ": empty CSV (no header row)");
    // Move unescaped fields into buf_ now that the text is no longer scanned.
    for (Span& c : cells_) {
      if (c.off == kPending) {
        const std::string& s = pending_[c.len];
        c = Span{buf_.size(), s.size()};
        buf_ += s;
      }
    }
    pending_.clear();
  }

  std::string span_text(const Span& f) const { return f.off == kPending ? pending_[f.len] : buf_.substr(f.off, f.len); }

  static constexpr std::size_t kPending = static_cast<std::size_t>(-1);
  std::string source_;
  std::string buf_;                   // file text, then unescaped quoted fields
  std::vector<std::string> header_;   // column names
  std::vector<Span> cells_;           // row-major, num_columns() per row
  std::vector<std::size_t> lines_;    // 1-based starting line of each data row
  std::vector<std::string> pending_;  // unescaped fields during parsing
};

}  // namespace kvsched
