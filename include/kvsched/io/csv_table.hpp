// kvsched/io/csv_table.hpp: the table view of a CSV file (io/csv_tokenizer.hpp), for the bundled
// profiles and measurements: every row in memory, cells converted on access.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/io/csv_tokenizer.hpp"

namespace kvsched::io {

/// A parsed CSV file (the rules of CsvTokenizer): a header naming the columns, then rows with
/// exactly as many cells. Cells are kept as text and converted on access. Errors: InputError.
class CsvTable {
 public:
  /// Reads and parses `file`. Errors: InputError (cannot open, empty, ragged row, bad quoting).
  [[nodiscard]] static CsvTable read(const std::filesystem::path& file) {
    return CsvTable(std::make_unique<CsvTokenizer>(file));
  }
  /// Parses `text`; `source` names it in error messages (a file path or "<string>").
  [[nodiscard]] static CsvTable parse(std::string text, std::string source) {
    return CsvTable(std::make_unique<CsvTokenizer>(std::move(text), std::filesystem::path(std::move(source))));
  }

  [[nodiscard]] const std::filesystem::path& path() const { return tok_->path(); }
  /// The file's name as errors spell it.
  [[nodiscard]] std::string source() const { return tok_->path().string(); }
  [[nodiscard]] std::size_t num_rows() const { return lines_.size(); }
  [[nodiscard]] std::size_t num_columns() const { return tok_->header().size(); }
  [[nodiscard]] const std::vector<std::string>& header() const { return tok_->header(); }
  /// Index of the column named `name`, or nullopt.
  [[nodiscard]] std::optional<std::size_t> find_column(std::string_view name) const { return tok_->find_column(name); }
  /// Index of the column named `name`. Errors: InputError naming the file and the column.
  [[nodiscard]] std::size_t column(std::string_view name) const { return tok_->require_column(name); }
  /// 1-based line in the file where data row `row` (0-based) starts.
  [[nodiscard]] std::size_t line_of(std::size_t row) const { return static_cast<std::size_t>(lines_.at(row)); }

  /// Text of a cell (unquoted; trimmed unless it was quoted).
  [[nodiscard]] std::string_view cell(std::size_t row, std::size_t col) const {
    return cells_.at(row * num_columns() + col);
  }
  /// Cell as a finite double (io/number.hpp). Errors: InputError when empty or not a number.
  [[nodiscard]] double number(std::size_t row, std::size_t col) const {
    return tok_->number(lines_.at(row), col, cell(row, col));
  }
  /// Cell as a double, or nullopt when empty. Errors: InputError when not a number.
  [[nodiscard]] std::optional<double> number_or_empty(std::size_t row, std::size_t col) const {
    return tok_->number_or_empty(lines_.at(row), col, cell(row, col));
  }
  /// Cell as an integer (io/number.hpp). Errors: InputError when empty or not an integer.
  [[nodiscard]] std::int64_t integer(std::size_t row, std::size_t col) const {
    return tok_->integer(lines_.at(row), col, cell(row, col));
  }
  /// Cell as a boolean: True/true/1 or False/false/0. Errors: InputError otherwise.
  [[nodiscard]] bool boolean(std::size_t row, std::size_t col) const {
    return tok_->boolean(lines_.at(row), col, cell(row, col));
  }
  /// Error about a cell: "<file>:<line>: field '<column name>': <problem>".
  [[nodiscard]] InputError error(std::size_t row, std::size_t col, const std::string& problem) const {
    return tok_->error(lines_.at(row), col, problem);
  }
  /// Error about the whole file: "<file>: <problem>".
  [[nodiscard]] InputError file_error(const std::string& problem) const { return tok_->file_error(problem); }

 private:
  explicit CsvTable(std::unique_ptr<CsvTokenizer> tok) : tok_(std::move(tok)) {
    while (tok_->next()) {
      lines_.push_back(tok_->line());
      cells_.insert(cells_.end(), tok_->fields().begin(), tok_->fields().end());
    }
  }

  std::unique_ptr<CsvTokenizer> tok_;    // owns the text the cells view
  std::vector<std::string_view> cells_;  // row-major, num_columns() per row
  std::vector<std::int64_t> lines_;      // 1-based starting line of each data row
};

}  // namespace kvsched::io
