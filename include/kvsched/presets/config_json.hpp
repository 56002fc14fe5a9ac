// kvsched/presets/config_json.hpp: a preset's whole bundle config as JSON, presets built by
// name with JSON overrides, and policy-config files ({"preset", "overrides", "name"}, a list
// of them, or a run config {"policies", "engine", "latency_coeffs"}) as kvsched-sim
// --policy-config and the Python module read them.
#pragma once
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvsched/io/input_error.hpp"
#include "kvsched/io/json_fields.hpp"
#include "kvsched/presets/policy_json.hpp"
#include "kvsched/presets/preset_list.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/scheduler/scheduler_adapter.hpp"

namespace kvsched {

/// Slots of a bundle in the order they are written: every PolicyBundle slot, then "options"
/// and (bundles with BundleRules) "rules". "prefix_caching" (P::prefix_caching) is written too;
/// it is fixed by the preset's type, so reading accepts it only with the same value.
template <PolicyBundle P>
[[nodiscard]] nlohmann::json bundle_to_json(const P& p) {
  nlohmann::json j = nlohmann::json::object();
  if constexpr (HasPrefixCachingDefault<P>) j["prefix_caching"] = static_cast<bool>(P::prefix_caching);
  j["estimator"] = PolicyJson<decltype(p.estimator)>::write(p.estimator);
  j["allocator"] = PolicyJson<decltype(p.allocator)>::write(p.allocator);
  j["reserver"] = PolicyJson<decltype(p.reserver)>::write(p.reserver);
  j["victim"] = PolicyJson<decltype(p.victim)>::write(p.victim);
  j["mode"] = PolicyJson<decltype(p.mode)>::write(p.mode);
  j["queue"] = PolicyJson<decltype(p.queue)>::write(p.queue);
  j["chunker"] = PolicyJson<decltype(p.chunker)>::write(p.chunker);
  j["batch"] = PolicyJson<decltype(p.batch)>::write(p.batch);
  j["options"] = io::write_json_fields(static_cast<const SchedulerOptions&>(p.options));
  if constexpr (HasBundleRules<P>) j["rules"] = io::write_json_fields(static_cast<const BundleRules&>(p.rules));
  return j;
}

/// Overlays object `j` (any subset of bundle_to_json's keys, nested) on `p`. Errors:
/// io::JsonFieldError naming the key path under `path` (unknown key, wrong type, or a
/// prefix_caching that differs from the preset's).
template <PolicyBundle P>
void bundle_from_json(const nlohmann::json& j, P& p, const std::string& path = "") {
  io::check_json_keys(j, path, [](auto&& f) {
    if constexpr (HasPrefixCachingDefault<P>) f("prefix_caching");
    for (const char* n : {"estimator", "allocator", "reserver", "victim", "mode", "queue", "chunker", "batch", "options"}) f(n);
    if constexpr (HasBundleRules<P>) f("rules");
  });
  auto slot = [&](const char* name, auto& member) {
    if (const auto it = j.find(name); it != j.end()) {
      PolicyJson<std::remove_cvref_t<decltype(member)>>::read(*it, member, io::json_key_path(path, name));
    }
  };
  if constexpr (HasPrefixCachingDefault<P>) {
    if (const auto it = j.find("prefix_caching"); it != j.end()) {
      bool v = false;
      io::read_json_value(*it, v, io::json_key_path(path, "prefix_caching"));
      if (v != static_cast<bool>(P::prefix_caching)) {
        throw io::JsonFieldError(io::json_key_path(path, "prefix_caching"),
                                 std::string("fixed by the preset (") + (P::prefix_caching ? "true" : "false") +
                                     "); turn prefix caching off with engine.enable_prefix_caching");
      }
    }
  }
  slot("estimator", p.estimator);
  slot("allocator", p.allocator);
  slot("reserver", p.reserver);
  slot("victim", p.victim);
  slot("mode", p.mode);
  slot("queue", p.queue);
  slot("chunker", p.chunker);
  slot("batch", p.batch);
  if (const auto it = j.find("options"); it != j.end()) {
    SchedulerOptions o = p.options;
    io::read_json_fields(*it, o, io::json_key_path(path, "options"));
    p.options = o;
  }
  if constexpr (HasBundleRules<P>) {
    if (const auto it = j.find("rules"); it != j.end()) {
      BundleRules r = p.rules;
      io::read_json_fields(*it, r, io::json_key_path(path, "rules"));
      p.rules = r;
    }
  }
}

namespace detail {
/// One preset: its full config after overrides, and its scheduler under a report label.
struct PresetConfigRow {
  std::string name;
  std::function<nlohmann::json(const nlohmann::json& overrides)> config;
  std::function<std::unique_ptr<AnyScheduler>(const std::string& label, const EngineConfig&, const LatencyModel&,
                                              const nlohmann::json& overrides)>
      make;
};

template <class P>
PresetConfigRow preset_config_row(std::string name) {
  PresetConfigRow row;
  row.name = std::move(name);
  row.config = [](const nlohmann::json& overrides) {
    P p{};
    bundle_from_json(overrides, p, "overrides");
    return bundle_to_json(p);
  };
  row.make = [](const std::string& label, const EngineConfig& engine, const LatencyModel& latency,
                const nlohmann::json& overrides) -> std::unique_ptr<AnyScheduler> {
    P p{};
    bundle_from_json(overrides, p, "overrides");
    return std::make_unique<SchedulerAdapter<P>>(label, engine, latency, std::move(p));
  };
  return row;
}

/// Every preset of preset_list.hpp, in report order. Compiled once in the kvsched::registry
/// library under KVSCHED_COMPILED_REGISTRY, like preset_table() (presets/registry.hpp).
#ifndef KVSCHED_DEFINE_PRESET_TABLES
const std::vector<PresetConfigRow>& preset_config_table();
#else
KVSCHED_PRESET_TABLE_INLINE const std::vector<PresetConfigRow>& preset_config_table() {
#define KVSCHED_PRESET_CONFIG(x) preset_config_row<presets::x>(#x),
  static const std::vector<PresetConfigRow> table = {
      KVSCHED_PRESET_LIST(KVSCHED_PRESET_CONFIG) preset_config_row<presets::slo_fit>(presets::kKvschedAlias)};
#undef KVSCHED_PRESET_CONFIG
  return table;
}
#endif

inline const PresetConfigRow& preset_config_row_of(std::string_view name) {
  for (const auto& row : preset_config_table())
    if (row.name == name) return row;
  std::string known;
  for (const auto& row : preset_config_table()) known += (known.empty() ? "" : ", ") + row.name;
  throw std::invalid_argument("unknown policy '" + std::string(name) + "'; known: " + known);
}
}  // namespace detail

/// The full bundle config of preset `name` with `overrides` (an object, see bundle_from_json)
/// applied: every slot's every field. Feeding it back as overrides gives the same bundle.
/// Errors: std::invalid_argument for an unknown preset; io::JsonFieldError for a bad override.
[[nodiscard]] inline nlohmann::json preset_config(std::string_view name,
                                                  const nlohmann::json& overrides = nlohmann::json::object()) {
  return detail::preset_config_row_of(name).config(overrides);
}

/// Builds preset `name` with JSON `overrides`, reporting itself as `label` (the preset name
/// when empty). Errors as preset_config(), plus Scheduler's for an impossible EngineConfig.
[[nodiscard]] inline std::unique_ptr<AnyScheduler> make_scheduler(std::string_view name, const EngineConfig& engine,
                                                                  const LatencyModel& latency,
                                                                  const nlohmann::json& overrides,
                                                                  const std::string& label = "") {
  return detail::preset_config_row_of(name).make(label.empty() ? std::string(name) : label, engine, latency, overrides);
}

/// One policy of a run: a preset by name, JSON overrides of its bundle config, and the name
/// it is reported under (the preset's when not given).
struct PolicySpec {
  std::string name;                                         // report label
  std::string preset;                                       // registry name (preset_names())
  nlohmann::json overrides = nlohmann::json::object();      // see bundle_from_json
};

/// {"name", "preset", "overrides": the full bundle config}: the form --json records, which
/// reads back as the same policy.
[[nodiscard]] inline nlohmann::json policy_spec_to_json(const PolicySpec& s) {
  return {{"name", s.name}, {"preset", s.preset}, {"overrides", preset_config(s.preset, s.overrides)}};
}

/// A run config read from JSON: the policies, and optional overrides of the engine config and
/// the latency coefficients (null when absent).
struct RunConfig {
  std::vector<PolicySpec> policies;
  nlohmann::json engine;          // object overlaid on the engine config, or null
  nlohmann::json latency_coeffs;  // object overlaid on the fitted coefficients, or null
  nlohmann::json sim;             // object {"overlap_swap": bool, "latency_noise_cv": number, "ground_truth": "model"|"profile"}, or null
};

namespace detail {
inline PolicySpec parse_policy_spec(const nlohmann::json& j, const std::string& path) {
  io::check_json_keys(j, path, [](auto&& f) {
    f("preset");
    f("overrides");
    f("name");
  });
  PolicySpec s;
  const auto p = j.find("preset");
  if (p == j.end()) throw io::JsonFieldError(io::json_key_path(path, "preset"), "missing (a preset name)");
  if (!p->is_string()) throw io::JsonFieldError(io::json_key_path(path, "preset"), "expected a string, got " + p->dump());
  s.preset = p->get<std::string>();
  if (const auto n = j.find("name"); n != j.end()) {
    if (!n->is_string() || n->get<std::string>().empty()) {
      throw io::JsonFieldError(io::json_key_path(path, "name"), "expected a non-empty string, got " + n->dump());
    }
    s.name = n->get<std::string>();
  } else {
    s.name = s.preset;
  }
  if (const auto o = j.find("overrides"); o != j.end()) s.overrides = *o;
  try {
    (void)preset_config(s.preset, s.overrides);  // unknown preset, unknown key, wrong type
  } catch (const io::JsonFieldError& e) {
    // re-root "overrides.x" under this entry's path
    throw io::JsonFieldError(io::json_key_path(path, e.key()), e.message());
  } catch (const std::invalid_argument& e) {
    throw io::JsonFieldError(io::json_key_path(path, "preset"), e.what());
  }
  return s;
}
}  // namespace detail

/// Parses a policy config: {"preset", "overrides"?, "name"?}, a list of them, or a run config
/// {"policies": [...], "engine"?: {...}, "latency_coeffs"?: {...}, "sim"?: {...}} (what
/// kvsched-sim --json writes under config.rerun). Report names must be distinct.
/// Errors: io::JsonFieldError naming the key path ("[1].overrides.chunker.budget").
[[nodiscard]] inline RunConfig parse_run_config(const nlohmann::json& j) {
  RunConfig rc;
  auto parse_list = [&](const nlohmann::json& list, const std::string& path) {
    if (!list.is_array() || list.empty()) throw io::JsonFieldError(path, "expected a non-empty list of policies");
    for (std::size_t i = 0; i < list.size(); ++i) {
      rc.policies.push_back(detail::parse_policy_spec(list[i], path + "[" + std::to_string(i) + "]"));
    }
  };
  if (j.is_array()) {
    parse_list(j, "");
  } else if (j.is_object() && j.contains("policies")) {
    io::check_json_keys(j, "", [](auto&& f) {
      for (const char* n : {"policies", "engine", "latency_coeffs", "sim"}) f(n);
    });
    parse_list(j.at("policies"), "policies");
    for (const char* k : {"engine", "latency_coeffs", "sim"}) {
      if (!j.contains(k)) continue;
      if (!j.at(k).is_object()) throw io::JsonFieldError(k, std::string("expected an object, got ") + j.at(k).type_name());
    }
    if (j.contains("engine")) rc.engine = j.at("engine");
    if (j.contains("latency_coeffs")) rc.latency_coeffs = j.at("latency_coeffs");
    if (j.contains("sim")) {
      rc.sim = j.at("sim");
      io::check_json_keys(rc.sim, "sim", [](auto&& f) {
        f("overlap_swap");
        f("latency_noise_cv");
        f("ground_truth");
      });
      if (rc.sim.contains("latency_noise_cv") && !rc.sim.at("latency_noise_cv").is_number()) {
        throw io::JsonFieldError("sim.latency_noise_cv", "expected a number, got " + rc.sim.at("latency_noise_cv").dump());
      }
      if (rc.sim.contains("ground_truth") && !rc.sim.at("ground_truth").is_string()) {
        throw io::JsonFieldError("sim.ground_truth", "expected \"model\" or \"profile\", got " + rc.sim.at("ground_truth").dump());
      }
      if (rc.sim.contains("overlap_swap") && !rc.sim.at("overlap_swap").is_boolean()) {
        throw io::JsonFieldError("sim.overlap_swap", "expected true or false, got " + rc.sim.at("overlap_swap").dump());
      }
    }
  } else {
    rc.policies.push_back(detail::parse_policy_spec(j, ""));
  }
  for (std::size_t a = 0; a < rc.policies.size(); ++a)
    for (std::size_t b = a + 1; b < rc.policies.size(); ++b)
      if (rc.policies[a].name == rc.policies[b].name) {
        throw io::JsonFieldError("[" + std::to_string(b) + "].name",
                                 "duplicate policy name '" + rc.policies[b].name + "' (give each a distinct \"name\")");
      }
  return rc;
}

/// Reads a policy-config file (see parse_run_config). Errors: io::InputError naming the file
/// and the key path (or the byte offset of a JSON syntax error).
[[nodiscard]] inline RunConfig read_run_config_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw io::InputError(file, 0, "", "cannot open policy config file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw io::InputError(file, 0, "", "JSON syntax error at byte " + std::to_string(e.byte));
  } catch (const nlohmann::json::exception& e) {  // out_of_range 406: a number such as 1e999
    throw io::InputError(file, 0, "", std::string("JSON error: ") + e.what());
  }
  try {
    return parse_run_config(j);
  } catch (const io::JsonFieldError& e) {
    throw io::InputError(file, 0, e.key(), e.message());
  }
}

}  // namespace kvsched
