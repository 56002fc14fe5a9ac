// kvsched/sim/workload_file.hpp: loads a workload file, JSON or TOML (by extension: .toml is
// TOML, anything else JSON). Needs nlohmann-json and toml++ (target kvsched::sim).
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "kvsched/io/input_error.hpp"
#include "kvsched/io/text.hpp"
#include "kvsched/sim/workload.hpp"

namespace kvsched::sim {

namespace detail {
/// `cp` as 4 upper-case hex digits.
[[nodiscard]] inline std::string fmt_hex4(unsigned cp) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string s(4, '0');
  for (int i = 3; i >= 0; --i, cp >>= 4) s[static_cast<std::size_t>(i)] = kHex[cp & 15];
  return s;
}
/// Converts a TOML node to JSON (tables -> objects, arrays -> arrays, scalars as they are).
[[nodiscard]] inline nlohmann::json toml_to_json(const toml::node& n) {
  if (const auto* t = n.as_table()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [k, v] : *t) o[std::string(k.str())] = toml_to_json(v);
    return o;
  }
  if (const auto* a = n.as_array()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : *a) arr.push_back(toml_to_json(v));
    return arr;
  }
  if (const auto* v = n.as_integer()) return v->get();
  if (const auto* v = n.as_floating_point()) return v->get();
  if (const auto* v = n.as_boolean()) return v->get();
  if (const auto* v = n.as_string()) return v->get();
  return nlohmann::json();  // dates and times: not used by workloads, rejected as wrong types later
}
}  // namespace detail

/// Reads and parses a workload file (JSON, or TOML when the extension is .toml); see
/// parse_workload_json for the keys. Syntax errors throw InputError with the line; a number out
/// of range (1e999) throws InputError naming the file.
[[nodiscard]] inline Workload load_workload_file(const std::filesystem::path& path,
                                                 const std::filesystem::path& data_dir) {
  const std::string text = io::read_file_text(path);
  nlohmann::json j;
  if (path.extension() == ".toml") {
    // toml++ 3.3 (Debian 12) reaches __builtin_unreachable() (undefined behaviour) on code
    // points U+00A1..U+0499 where it checks for whitespace (found by fuzzing): refuse them.
    std::int64_t line = 1;
    for (std::size_t i = 0; i + 1 < text.size(); ++i) {
      const auto b0 = static_cast<unsigned char>(text[i]), b1 = static_cast<unsigned char>(text[i + 1]);
      if (b0 == '\n') ++line;
      if (b0 >= 0xC2 && b0 <= 0xD2 && (b1 & 0xC0) == 0x80) {
        const unsigned cp = ((b0 & 0x1Fu) << 6) | (b1 & 0x3Fu);
        if (cp >= 0xA1 && cp < 0x49A)
          throw io::InputError(path, line, "", "non-ASCII character U+" + detail::fmt_hex4(cp) +
                                                   " (the TOML parser mishandles U+00A1..U+0499: use ASCII, or JSON)");
      }
    }
    try {
      j = detail::toml_to_json(toml::parse(text, path.string()));
    } catch (const toml::parse_error& e) {
      throw io::InputError(path, static_cast<std::int64_t>(e.source().begin.line), "",
                       "TOML syntax error: " + std::string(e.description()));
    }
  } else {
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      const auto upto = std::min<std::size_t>(e.byte, text.size());
      const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(upto > 0 ? upto - 1 : 0), '\n');
      throw io::InputError(path, line, "", std::string("JSON syntax error: ") + e.what());
    } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range 406: a number such as 1e999
      throw io::InputError(path, 0, "", std::string("JSON error: ") + e.what());
    }
  }
  return parse_workload_json(j, path, data_dir);
}

}  // namespace kvsched::sim
