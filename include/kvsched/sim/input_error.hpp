// kvsched/sim/input_error.hpp: the error every simulator input reader throws (traces,
// workload files), naming the file, the line and the field.
#pragma once
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

namespace kvsched::sim {

/// Bad simulator input. what() reads "FILE:LINE: field 'FIELD': MESSAGE"; the line part is
/// left out when line == 0 (the whole file) and the field part when field is empty.
/// kvsched-sim turns it into exit code 2.
class InputError : public std::runtime_error {
 public:
  InputError(std::filesystem::path file, std::int64_t line, std::string field, const std::string& message)
      : std::runtime_error(format(file, line, field, message)),
        file_(std::move(file)), line_(line), field_(std::move(field)) {}

  [[nodiscard]] const std::filesystem::path& file() const { return file_; }
  /// 1-based line number; 0 when the error concerns the whole file.
  [[nodiscard]] std::int64_t line() const { return line_; }
  /// Column or key name; empty when the error concerns a whole line or file.
  [[nodiscard]] const std::string& field() const { return field_; }

 private:
  static std::string format(const std::filesystem::path& file, std::int64_t line, const std::string& field,
                            const std::string& message) {
    std::string s = file.string();  // appended piecewise: GCC 12 warns (-Wrestrict) on chained operator+
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
};

}  // namespace kvsched::sim
