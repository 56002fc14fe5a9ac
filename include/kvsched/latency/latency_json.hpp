// kvsched/latency/latency_json.hpp: LatencyCoeffs <-> JSON (nlohmann-json), so fitted
// coefficients can be saved and any of them overridden from a file without recompiling.
// Kept apart from latency_model.hpp so that the core model stays dependency-free.
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

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
  f("swap_latency_s", c.swap_latency_s);
  f("swap_bytes_per_s", c.swap_bytes_per_s);
}
}  // namespace detail

/// Every LatencyCoeffs field as a JSON object keyed by the field names (seconds, tokens,
/// bytes/s, bytes as in latency_model.hpp).
inline void to_json(nlohmann::json& j, const LatencyCoeffs& c) {
  j = nlohmann::json::object();
  detail::for_each_latency_double(c, [&](const char* name, const double& v) { j[name] = v; });
  j["kv_bytes_per_token"] = c.kv_bytes_per_token;
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
/// a value is not a finite number >= 0 (an integer for kv_bytes_per_token), swap_bytes_per_s <= 0
/// or kv_bytes_per_token < 0.
inline void from_json(const nlohmann::json& j, LatencyCoeffs& c) {
  const std::string where = "latency coefficients JSON: ";
  if (!j.is_object()) throw std::invalid_argument(where + "expected an object, got " + std::string(j.type_name()));
  for (const auto& [key, value] : j.items()) {
    bool known = key == "kv_bytes_per_token";
    detail::for_each_latency_double(c, [&](const char* name, double&) { known = known || key == name; });
    if (!known) {
      std::string names;
      detail::for_each_latency_double(c, [&](const char* name, double&) { names += std::string(name) + ", "; });
      throw std::invalid_argument(where + "unknown key '" + key + "' (known: " + names + "kv_bytes_per_token)");
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

}  // namespace kvsched
