// kvsched/presets/registry.hpp: presets by name, for run-time selection (simulator, server).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/presets/accelgen.hpp"
#include "kvsched/presets/baselines.hpp"
#include "kvsched/presets/cacheopt.hpp"
#include "kvsched/scheduler/scheduler_adapter.hpp"

namespace kvsched {

/// Run-time settings of preset policies beyond EngineConfig; each applies only to presets that
/// have the policy it names, and an absent value keeps the preset's own.
struct PresetTuning {
  std::optional<double> slo_margin;  // SloDynamicChunkerConfig::slo_margin (AccelGen chunkers), in [0, 1)
};

namespace detail {
/// Builds a preset's scheduler for an engine, a latency model and run-time tuning (one per registry row).
using PresetFactory =
    std::function<std::unique_ptr<AnyScheduler>(const EngineConfig&, const LatencyModel&, const PresetTuning&)>;

/// Factory for preset P under `name`. Prefix caching follows prefix_caching_of<P> (applied by
/// Scheduler's constructor): EngineConfig.enable_prefix_caching is a global off switch.
template <class P>
PresetFactory factory(std::string name) {
  return [name](const EngineConfig& engine, const LatencyModel& latency,
                const PresetTuning& tuning) -> std::unique_ptr<AnyScheduler> {
    P policies{};
    if constexpr (requires { policies.chunker.config.slo_margin; }) {
      if (tuning.slo_margin) policies.chunker.config.slo_margin = *tuning.slo_margin;
    }
    return std::make_unique<SchedulerAdapter<P>>(name, engine, latency, std::move(policies));
  };
}

/// Every preset, in the order reports list them. KVSCHED_PRESET(x) = the row for
/// presets::x under the name "x", so that each name is written once.
inline const std::vector<std::pair<std::string, PresetFactory>>& preset_table() {
#define KVSCHED_PRESET(x) {#x, factory<presets::x>(#x)}
  static const std::vector<std::pair<std::string, PresetFactory>> table = {
      KVSCHED_PRESET(vllm_v1),
      KVSCHED_PRESET(vllm_v0),
      KVSCHED_PRESET(sarathi),
      KVSCHED_PRESET(trtllm_guaranteed_no_evict),
      KVSCHED_PRESET(sglang),
      // CacheOPT (kvsched/presets/cacheopt.hpp): the history-estimator default, the oracle,
      // noisy predictors of 10/30/50% relative error, one ablation per component,
      // TensorRT-LLM's admission with true lengths, and the future-peak admission (ours).
      KVSCHED_PRESET(cacheopt),
      KVSCHED_PRESET(cacheopt_paper_padding),
      KVSCHED_PRESET(oracle),
      KVSCHED_PRESET(cacheopt_noisy_10),
      KVSCHED_PRESET(cacheopt_noisy_30),
      KVSCHED_PRESET(cacheopt_noisy_50),
      KVSCHED_PRESET(cacheopt_no_padding),
      KVSCHED_PRESET(cacheopt_no_alloc),
      KVSCHED_PRESET(cacheopt_no_reuse),
      KVSCHED_PRESET(cacheopt_no_topup),
      KVSCHED_PRESET(cacheopt_no_reserve),
      KVSCHED_PRESET(cacheopt_no_slack),
      KVSCHED_PRESET(cacheopt_no_slo_victim),
      KVSCHED_PRESET(cacheopt_no_mode_choice),
      KVSCHED_PRESET(trtllm_oracle_lengths),
      KVSCHED_PRESET(cacheopt_peak),
      KVSCHED_PRESET(oracle_peak),
      // AccelGen and CacheOPT + AccelGen (kvsched/presets/accelgen.hpp), and the larger
      // Sarathi-Serve budget the AccelGen evaluation compares with.
      KVSCHED_PRESET(sarathi_2048),
      KVSCHED_PRESET(accelgen),
      KVSCHED_PRESET(accelgen_oracle),
      KVSCHED_PRESET(cacheopt_accelgen),
      KVSCHED_PRESET(cacheopt_accelgen_oracle),
  };
#undef KVSCHED_PRESET
  return table;
}
}  // namespace detail

/// Names of every preset, in report order.
[[nodiscard]] inline std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& [n, f] : detail::preset_table()) names.push_back(n);
  return names;
}

/// Builds the preset `name`. Throws std::invalid_argument listing the known names when
/// `name` is unknown, and for an impossible EngineConfig (see Scheduler's constructor) or a
/// tuning value out of range (slo_margin outside [0, 1)).
[[nodiscard]] inline std::unique_ptr<AnyScheduler> make_scheduler(std::string_view name, const EngineConfig& engine,
                                                                  const LatencyModel& latency,
                                                                  const PresetTuning& tuning = {}) {
  if (tuning.slo_margin && !(*tuning.slo_margin >= 0.0 && *tuning.slo_margin < 1.0))
    throw std::invalid_argument("slo_margin must be in [0, 1), got " + std::to_string(*tuning.slo_margin));
  for (const auto& [n, f] : detail::preset_table())
    if (n == name) return f(engine, latency, tuning);
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown policy '" + std::string(name) + "'; known: " + known);
}

}  // namespace kvsched
