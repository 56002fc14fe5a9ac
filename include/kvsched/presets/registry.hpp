// kvsched/presets/registry.hpp: presets by name, for run-time selection (simulator, server).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/presets/preset_list.hpp"
#include "kvsched/scheduler/scheduler_adapter.hpp"

namespace kvsched {

namespace detail {
/// Builds a preset's scheduler for an engine and a latency model (one per registry row).
using PresetFactory = std::function<std::unique_ptr<AnyScheduler>(const EngineConfig&, const LatencyModel&)>;

/// Factory for preset P under `name`. Prefix caching follows prefix_caching_of<P> (applied by
/// Scheduler's constructor): EngineConfig.enable_prefix_caching is a global off switch.
template <class P>
PresetFactory factory(std::string name) {
  return [name](const EngineConfig& engine, const LatencyModel& latency) -> std::unique_ptr<AnyScheduler> {
    return std::make_unique<SchedulerAdapter<P>>(name, engine, latency);
  };
}

/// Every preset, in the order reports list them (preset_list.hpp): (name, factory) rows.
using PresetTable = std::vector<std::pair<std::string, PresetFactory>>;

/// The preset table. KVSCHED_PRESET(x) = the row for presets::x under the name "x".
/// With KVSCHED_COMPILED_REGISTRY defined, only declared here: the definition is compiled once,
/// in the kvsched::registry library (src/registry.cpp), so that the other translation units of
/// a program do not each instantiate a scheduler for every preset (most of their compile time;
/// the project's tests, examples and benchmarks link it). Without it, defined inline here.
#ifndef KVSCHED_DEFINE_PRESET_TABLES
const PresetTable& preset_table();
#else
KVSCHED_PRESET_TABLE_INLINE const PresetTable& preset_table() {
#define KVSCHED_PRESET(x) {#x, factory<presets::x>(#x)},
  // "kvsched" is the recommended policy: always the current flagship (presets/kvsched.hpp).
  static const PresetTable table = {
      KVSCHED_PRESET_LIST(KVSCHED_PRESET){presets::kKvschedAlias, factory<presets::slo_fit>(presets::kKvschedAlias)}};
#undef KVSCHED_PRESET
  return table;
}
#endif
}  // namespace detail

/// Names of every preset, in report order.
[[nodiscard]] inline std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& [n, f] : detail::preset_table()) names.push_back(n);
  return names;
}

/// Builds the preset `name`. Throws std::invalid_argument listing the known names when
/// `name` is unknown, and for an impossible EngineConfig (see Scheduler's constructor).
[[nodiscard]] inline std::unique_ptr<AnyScheduler> make_scheduler(std::string_view name, const EngineConfig& engine,
                                                                  const LatencyModel& latency) {
  for (const auto& [n, f] : detail::preset_table())
    if (n == name) return f(engine, latency);
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown policy '" + std::string(name) + "'; known: " + known);
}

}  // namespace kvsched
