// kvsched/io/csv_reader.hpp: the streaming view of a CSV file (io/csv_tokenizer.hpp), for
// traces: columns by name, one record at a time, range-checked numbers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include "kvsched/io/csv_tokenizer.hpp"

namespace kvsched::io {

/// Strict CSV read record by record (the rules of CsvTokenizer). Errors are InputError naming
/// file, line and column.
///   CsvReader csv(path); auto c = csv.require_column("ContextTokens");
///   while (csv.next()) { auto n = csv.integer(c, 1); ... }
class CsvReader : public CsvTokenizer {
 public:
  explicit CsvReader(std::filesystem::path path) : CsvTokenizer(std::move(path)) {}

  /// Text of a field of the current record (unquoted; trimmed unless it was quoted).
  [[nodiscard]] std::string_view field(std::size_t col) const { return fields().at(col); }

  /// Integer field in [min_value, max_value]. Errors: InputError naming the column if missing,
  /// not an integer (io/number.hpp) or out of range.
  [[nodiscard]] std::int64_t integer(std::size_t col, std::int64_t min_value,
                                     std::int64_t max_value = std::numeric_limits<std::int32_t>::max()) const {
    const std::int64_t v = CsvTokenizer::integer(line(), col, field(col));
    if (v < min_value) fail(col, "must be >= " + std::to_string(min_value) + ", got " + std::string(field(col)));
    if (v > max_value) fail(col, "must be <= " + std::to_string(max_value) + ", got " + std::string(field(col)));
    return v;
  }
  /// Finite number >= min_value (io/number.hpp). Errors: InputError naming the column otherwise.
  [[nodiscard]] double number(std::size_t col, double min_value) const {
    const double v = CsvTokenizer::number(line(), col, field(col));
    if (v < min_value) {
      std::ostringstream m;
      m << "must be >= " << min_value << ", got " << field(col);
      fail(col, m.str());
    }
    return v;
  }
  /// Throws InputError for the current record and column `col`.
  [[noreturn]] void fail(std::size_t col, const std::string& message) const { throw error(line(), col, message); }
};

}  // namespace kvsched::io
