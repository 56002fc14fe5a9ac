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
using SchedulerFactory =
    std::function<std::unique_ptr<AnyScheduler>(const EngineConfig&, const LatencyModel&, const PresetTuning&)>;

/// Builds a factory for preset P. EngineConfig.enable_prefix_caching is a global off switch:
/// prefix caching runs only where the preset's engine has it on by default (P::prefix_caching).
template <class P>
SchedulerFactory factory(std::string name) {
  return [name](const EngineConfig& engine, const LatencyModel& latency,
                const PresetTuning& tuning) -> std::unique_ptr<AnyScheduler> {
    EngineConfig e = engine;
    e.enable_prefix_caching = engine.enable_prefix_caching && P::prefix_caching;
    P policies{};
    if constexpr (requires { policies.chunker.config.slo_margin; }) {
      if (tuning.slo_margin) policies.chunker.config.slo_margin = *tuning.slo_margin;
    }
    return std::make_unique<SchedulerAdapter<P>>(name, e, latency, std::move(policies));
  };
}

/// Every preset, in the order reports list them.
inline const std::vector<std::pair<std::string, SchedulerFactory>>& preset_table() {
  static const std::vector<std::pair<std::string, SchedulerFactory>> table = {
      {"vllm_v1", factory<presets::vllm_v1>("vllm_v1")},
      {"vllm_v0", factory<presets::vllm_v0>("vllm_v0")},
      {"sarathi", factory<presets::sarathi>("sarathi")},
      {"trtllm_guaranteed_no_evict", factory<presets::trtllm_guaranteed_no_evict>("trtllm_guaranteed_no_evict")},
      {"sglang", factory<presets::sglang>("sglang")},
      // CacheOPT (kvsched/presets/cacheopt.hpp): the history-estimator default, the oracle,
      // noisy predictors of 10/30/50% relative error, one ablation per component,
      // TensorRT-LLM's admission with true lengths, and the future-peak admission (ours).
      {"cacheopt", factory<presets::cacheopt>("cacheopt")},
      {"cacheopt_paper_padding", factory<presets::cacheopt_paper_padding>("cacheopt_paper_padding")},
      {"oracle", factory<presets::oracle>("oracle")},
      {"cacheopt_noisy_10", factory<presets::cacheopt_noisy_10>("cacheopt_noisy_10")},
      {"cacheopt_noisy_30", factory<presets::cacheopt_noisy_30>("cacheopt_noisy_30")},
      {"cacheopt_noisy_50", factory<presets::cacheopt_noisy_50>("cacheopt_noisy_50")},
      {"cacheopt_no_padding", factory<presets::cacheopt_no_padding>("cacheopt_no_padding")},
      {"cacheopt_no_alloc", factory<presets::cacheopt_no_alloc>("cacheopt_no_alloc")},
      {"cacheopt_no_reuse", factory<presets::cacheopt_no_reuse>("cacheopt_no_reuse")},
      {"cacheopt_no_topup", factory<presets::cacheopt_no_topup>("cacheopt_no_topup")},
      {"cacheopt_no_reserve", factory<presets::cacheopt_no_reserve>("cacheopt_no_reserve")},
      {"cacheopt_no_slack", factory<presets::cacheopt_no_slack>("cacheopt_no_slack")},
      {"cacheopt_no_slo_victim", factory<presets::cacheopt_no_slo_victim>("cacheopt_no_slo_victim")},
      {"cacheopt_no_mode_choice", factory<presets::cacheopt_no_mode_choice>("cacheopt_no_mode_choice")},
      {"trtllm_oracle_lengths", factory<presets::trtllm_oracle_lengths>("trtllm_oracle_lengths")},
      {"cacheopt_peak", factory<presets::cacheopt_peak>("cacheopt_peak")},
      {"oracle_peak", factory<presets::oracle_peak>("oracle_peak")},
      // AccelGen and CacheOPT + AccelGen (kvsched/presets/accelgen.hpp), and the larger
      // Sarathi-Serve budget the AccelGen evaluation compares with.
      {"sarathi_2048", factory<presets::sarathi_2048>("sarathi_2048")},
      {"accelgen", factory<presets::accelgen>("accelgen")},
      {"accelgen_oracle", factory<presets::accelgen_oracle>("accelgen_oracle")},
      {"cacheopt_accelgen", factory<presets::cacheopt_accelgen>("cacheopt_accelgen")},
      {"cacheopt_accelgen_oracle", factory<presets::cacheopt_accelgen_oracle>("cacheopt_accelgen_oracle")},
  };
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
