// kvsched/io/input_error.hpp: the one error every input reader throws (CSV tables and traces,
// workload files, profiles), naming the file, the line and the column or key.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

namespace kvsched::io {

/// Bad input. what() reads "FILE:LINE: field 'FIELD': MESSAGE"; the line part is left out when
/// line == 0 (the whole file) and the field part when field is empty. `field` is the column name
/// of a CSV cell (or a key path such as "sources[1].share"); column() is that column's 1-based
/// index in a CSV row, 0 when it does not apply. kvsched-sim turns it into exit code 2.
/// Control bytes of the file name, field and message appear in what() as \xNN (escape()).
class InputError : public std::runtime_error {
 public:
  InputError(std::filesystem::path file, std::int64_t line, std::string field, const std::string& message,
             std::size_t column = 0)
      : std::runtime_error(format(file, line, field, message)),
        file_(std::move(file)), line_(line), field_(std::move(field)), column_(column) {}

  [[nodiscard]] const std::filesystem::path& file() const { return file_; }
  /// 1-based line number; 0 when the error concerns the whole file.
  [[nodiscard]] std::int64_t line() const { return line_; }
  /// Column or key name; empty when the error concerns a whole line or file.
  [[nodiscard]] const std::string& field() const { return field_; }
  /// 1-based column index of a CSV cell; 0 when the error is not about one cell.
  [[nodiscard]] std::size_t column() const { return column_; }

 private:
  /// `text` with control bytes (NUL, newlines, escape sequences) and DEL written as \xNN, so
  /// that binary input neither truncates what() at a NUL nor garbles a terminal.
  static std::string escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    constexpr char kHex[] = "0123456789abcdef";
    for (const char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c == 0x7f) {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      } else {
        out += ch;
      }
    }
    return out;
  }
  static std::string format(const std::filesystem::path& file, std::int64_t line, const std::string& field_raw,
                            const std::string& message_raw) {
    const std::string field = escape(field_raw), message = escape(message_raw);
    std::string s = escape(file.string());  // appended piecewise: GCC 12 warns (-Wrestrict) on chained operator+
    if (line > 0) {
      s.append(":");
      s.append(std::to_string(line));
    }
    s.append(": ");
    if (!field.empty()) {
      s.append("field '");
      s.append(field);
      s.append("': ");
    }
    s.append(message);
    return s;
  }

  std::filesystem::path file_;
  std::int64_t line_ = 0;
  std::string field_;
  std::size_t column_ = 0;
};

}  // namespace kvsched::io
