// kvsched/latency/latency_json.hpp: LatencyCoeffs <-> JSON (nlohmann-json), so fitted
// coefficients can be saved and any of them overridden from a file without recompiling.
// Kept apart from latency_model.hpp so that the core model stays dependency-free.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvsched/latency/latency_model.hpp"

namespace kvsched {

namespace detail {
/// Calls f(name, member) for every LatencyCoeffs field except kv_bytes_per_token (an integer).
template <class C, class F>
void for_each_latency_double(C& c, F&& f) {
  f("cpu_overhead_s", c.cpu_overhead_s);
  f("cpu_overhead_s_per_seq", c.cpu_overhead_s_per_seq);
  f("linear_base_s", c.linear_base_s);
  f("linear_s_per_token", c.linear_s_per_token);
  f("pivot_tokens", c.pivot_tokens);
  f("prefill_attn_s_per_chunk", c.prefill_attn_s_per_chunk);
  f("prefill_attn_s_per_token", c.prefill_attn_s_per_token);
  f("prefill_attn_s_per_pair", c.prefill_attn_s_per_pair);
  f("prefill_attn_s_per_sq_token", c.prefill_attn_s_per_sq_token);
  f("decode_attn_base_s", c.decode_attn_base_s);
  f("decode_attn_s_per_seq", c.decode_attn_s_per_seq);
  f("decode_attn_s_per_ctx_token", c.decode_attn_s_per_ctx_token);
  f("prefill_attn_s_per_kv_token", c.prefill_attn_s_per_kv_token);
  f("swap_latency_s", c.swap_latency_s);
  f("swap_bytes_per_s", c.swap_bytes_per_s);
}
/// JSON name of a CpuOverheadMode: "serial", "async", "off".
[[nodiscard]] inline const char* cpu_mode_name(CpuOverheadMode m) {
  switch (m) {
    case CpuOverheadMode::kAsync: return "async";
    case CpuOverheadMode::kOff: return "off";
    case CpuOverheadMode::kSerial: break;
  }
  return "serial";
}
}  // namespace detail

/// CpuOverheadMode by name ("serial", "async", "off"). Errors: std::invalid_argument naming
/// the value and the known names.
[[nodiscard]] inline CpuOverheadMode parse_cpu_overhead_mode(std::string_view s) {
  if (s == "serial") return CpuOverheadMode::kSerial;
  if (s == "async") return CpuOverheadMode::kAsync;
  if (s == "off") return CpuOverheadMode::kOff;
  throw std::invalid_argument("CPU overhead mode must be async, serial or off, got '" + std::string(s) + "'");
}

/// Every LatencyCoeffs field as a JSON object keyed by the field names (seconds, tokens,
/// bytes/s, bytes as in latency_model.hpp); cpu_overhead_mode as its name, linear_table as an
/// array of [tokens, seconds] pairs.
inline void to_json(nlohmann::json& j, const LatencyCoeffs& c) {
  j = nlohmann::json::object();
  detail::for_each_latency_double(c, [&](const char* name, const double& v) { j[name] = v; });
  j["kv_bytes_per_token"] = c.kv_bytes_per_token;
  j["cpu_overhead_mode"] = detail::cpu_mode_name(c.cpu_mode);
  nlohmann::json t = nlohmann::json::array();
  for (const auto& p : c.linear_table) t.push_back({p.tokens, p.time_s});
  j["linear_table"] = std::move(t);
}
/// Same, returned by value.
[[nodiscard]] inline nlohmann::json to_json(const LatencyCoeffs& c) {
  nlohmann::json j;
  to_json(j, c);
  return j;
}

/// Overlays the keys present in `j` on `c`; absent keys keep their value, so a file may
/// override a single coefficient of a fitted set.
/// Errors: std::invalid_argument naming the key when `j` is not an object, a key is unknown,
/// a value is not a finite number >= 0 (an integer for kv_bytes_per_token), swap_bytes_per_s <= 0,
/// kv_bytes_per_token < 0, cpu_overhead_mode not one of serial/async/off, or linear_table not
/// an array of [tokens > 0, seconds > 0] pairs with tokens strictly ascending ([] = use the
/// flat-then-linear fit).
inline void from_json(const nlohmann::json& j, LatencyCoeffs& c) {
  const std::string where = "latency coefficients JSON: ";
  if (!j.is_object()) throw std::invalid_argument(where + "expected an object, got " + std::string(j.type_name()));
  for (const auto& [key, value] : j.items()) {
    bool known = key == "kv_bytes_per_token" || key == "cpu_overhead_mode" || key == "linear_table";
    detail::for_each_latency_double(c, [&](const char* name, double&) { known = known || key == name; });
    if (!known) {
      std::string names;
      detail::for_each_latency_double(c, [&](const char* name, double&) { names += std::string(name) + ", "; });
      throw std::invalid_argument(where + "unknown key '" + key + "' (known: " + names +
                                  "kv_bytes_per_token, cpu_overhead_mode, linear_table)");
    }
  }
  detail::for_each_latency_double(c, [&](const char* name, double& v) {
    if (!j.contains(name)) return;
    const auto& x = j.at(name);
    if (!x.is_number() || !std::isfinite(x.get<double>()) || x.get<double>() < 0.0) {
      // A negative time coefficient makes iterations take negative time: negative TTFT and
      // 100% SLO attainment, silently.
      throw std::invalid_argument(where + "'" + name + "' must be a finite number >= 0, got " + x.dump());
    }
    v = x.get<double>();
  });
  if (j.contains("kv_bytes_per_token")) {
    const auto& x = j.at("kv_bytes_per_token");
    if (!x.is_number_integer() || x.get<std::int64_t>() < 0) {
      throw std::invalid_argument(where + "'kv_bytes_per_token' must be an integer >= 0, got " + x.dump());
    }
    c.kv_bytes_per_token = x.get<std::int64_t>();
  }
  if (j.contains("cpu_overhead_mode")) {
    const auto& x = j.at("cpu_overhead_mode");
    if (!x.is_string()) throw std::invalid_argument(where + "'cpu_overhead_mode' must be a string, got " + x.dump());
    try {
      c.cpu_mode = parse_cpu_overhead_mode(x.get<std::string>());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + "'cpu_overhead_mode': " + e.what());
    }
  }
  if (j.contains("linear_table")) {
    const auto& x = j.at("linear_table");
    if (!x.is_array()) throw std::invalid_argument(where + "'linear_table' must be an array, got " + x.dump());
    std::vector<LinearPoint> t;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const auto& e = x[i];
      const std::string at = where + "'linear_table'[" + std::to_string(i) + "] ";
      if (!e.is_array() || e.size() != 2 || !e[0].is_number() || !e[1].is_number()) {
        throw std::invalid_argument(at + "must be [tokens, seconds], got " + e.dump());
      }
      const LinearPoint p{e[0].get<double>(), e[1].get<double>()};
      if (!(p.tokens > 0) || !(p.time_s > 0) || !std::isfinite(p.tokens) || !std::isfinite(p.time_s)) {
        throw std::invalid_argument(at + "needs tokens > 0 and seconds > 0, got " + e.dump());
      }
      if (!t.empty() && !(p.tokens > t.back().tokens)) {
        throw std::invalid_argument(at + "tokens must ascend strictly, got " + e.dump());
      }
      t.push_back(p);
    }
    c.linear_table = std::move(t);
  }
  if (!(c.swap_bytes_per_s > 0)) {
    throw std::invalid_argument(where + "'swap_bytes_per_s' must be > 0, got " + std::to_string(c.swap_bytes_per_s));
  }
}
/// `base` with the keys of `j` overlaid (see from_json(j, c)); j.get<LatencyCoeffs>() overlays
/// on default coefficients.
[[nodiscard]] inline LatencyCoeffs latency_coeffs_from_json(const nlohmann::json& j, LatencyCoeffs base = {}) {
  from_json(j, base);
  return base;
}

/// Reads a JSON file of coefficients and overlays it on `base`.
/// Errors: std::invalid_argument prefixed with the path (cannot open, JSON syntax error with
/// its byte offset, or any from_json error).
[[nodiscard]] inline LatencyCoeffs read_latency_coeffs_json(const std::filesystem::path& file,
                                                            LatencyCoeffs base = {}) {
  std::ifstream in(file);
  if (!in) throw std::invalid_argument(file.string() + ": cannot open latency coefficients file");
  try {
    return latency_coeffs_from_json(nlohmann::json::parse(in), base);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument(file.string() + ": JSON syntax error at byte " + std::to_string(e.byte) + ": " +
                                e.what());
  } catch (const nlohmann::json::exception& e) {  // out_of_range 406 (1e999) and type errors
    throw std::invalid_argument(file.string() + ": JSON error: " + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(file.string() + ": " + e.what());
  }
}

/// Coefficients from `arg`, inline JSON or a path (what --latency-json takes): text whose
/// first non-blank character is '{' is parsed as JSON, anything else is read as a file.
/// Errors: std::invalid_argument as read_latency_coeffs_json, or "inline JSON: syntax error at
/// byte N" / a from_json error prefixed with "inline JSON".
[[nodiscard]] inline LatencyCoeffs latency_coeffs_from_arg(const std::string& arg, LatencyCoeffs base = {}) {
  const auto first = arg.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || arg[first] != '{') return read_latency_coeffs_json(arg, std::move(base));
  try {
    return latency_coeffs_from_json(nlohmann::json::parse(arg), std::move(base));
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument("inline JSON: syntax error at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {  // out_of_range 406 (1e999) and type errors
    throw std::invalid_argument(std::string("inline JSON: JSON error: ") + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("inline JSON: ") + e.what());
  }
}

}  // namespace kvsched
