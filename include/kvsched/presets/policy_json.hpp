// kvsched/presets/policy_json.hpp: the JSON form of every policy's config struct, of
// EngineConfig, SchedulerOptions and BundleRules (io/json_fields.hpp reflection tables), and
// PolicyJson<P>: how a policy of a slot is written and read (its config, or nothing when it has
// none). Field names are the C++ member names; enums are written as their names below.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "kvsched/core/engine_config.hpp"
#include "kvsched/io/json_fields.hpp"
#include "kvsched/policy/allocator/embedding_allocator.hpp"
#include "kvsched/policy/batch/multi_resource_batch.hpp"
#include "kvsched/policy/chunker/slo_dynamic_chunker.hpp"
#include "kvsched/policy/chunker/token_budget_chunker.hpp"
#include "kvsched/policy/common/bundle_rules.hpp"
#include "kvsched/policy/common/preemption_cost.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/estimator/history_estimator.hpp"
#include "kvsched/policy/estimator/hoeffding_padding.hpp"
#include "kvsched/policy/estimator/noisy_oracle_estimator.hpp"
#include "kvsched/policy/estimator/padded_estimator.hpp"
#include "kvsched/policy/mode/fixed_mode.hpp"
#include "kvsched/policy/mode/latency_mode_chooser.hpp"
#include "kvsched/policy/queue/fcfs_queue.hpp"
#include "kvsched/policy/queue/slack_queue.hpp"
#include "kvsched/policy/queue/slo_slack_queue.hpp"
#include "kvsched/policy/reserver/proactive_reserver.hpp"
#include "kvsched/policy/reserver/sglang_ratio_reserver.hpp"
#include "kvsched/policy/reserver/watermark_reserver.hpp"
#include "kvsched/policy/victim/slo_victim_selector.hpp"

// ---- enums (names are the enumerators without the k, in snake_case) ----------------------
namespace kvsched::io {

template <>
struct JsonEnumNames<PreemptionMode> {
  static constexpr std::array<std::pair<PreemptionMode, const char*>, 2> names{
      {{PreemptionMode::kRecompute, "recompute"}, {PreemptionMode::kSwap, "swap"}}};
};
template <>
struct JsonEnumNames<ReclaimRule> {
  static constexpr std::array<std::pair<ReclaimRule, const char*>, 2> names{
      {{ReclaimRule::kWhenPoolShort, "when_pool_short"}, {ReclaimRule::kWhenHostReachesRegion, "when_host_reaches_region"}}};
};
template <>
struct JsonEnumNames<GlobalReserveRule> {
  static constexpr std::array<std::pair<GlobalReserveRule, const char*>, 2> names{
      {{GlobalReserveRule::kPoolFraction, "pool_fraction"}, {GlobalReserveRule::kExpectedOvershoot, "expected_overshoot"}}};
};
template <>
struct JsonEnumNames<ErrorRange> {
  static constexpr std::array<std::pair<ErrorRange, const char*>, 2> names{
      {{ErrorRange::kFull, "full"}, {ErrorRange::kUnderOnly, "under_only"}}};
};
template <>
struct JsonEnumNames<NoiseDistribution> {
  static constexpr std::array<std::pair<NoiseDistribution, const char*>, 4> names{
      {{NoiseDistribution::kNormal, "normal"},
       {NoiseDistribution::kUniform, "uniform"},
       {NoiseDistribution::kLogNormal, "log_normal"},
       {NoiseDistribution::kConstant, "constant"}}};
};
template <>
struct JsonEnumNames<ModeRule> {
  static constexpr std::array<std::pair<ModeRule, const char*>, 2> names{
      {{ModeRule::kLatency, "latency"}, {ModeRule::kThreshold, "threshold"}}};
};

// ---- config structs ------------------------------------------------------------------------
#define KVSCHED_JSON_FIELD(m) f(#m, s.m)
template <>
struct JsonFields<EngineConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(block_size);
    KVSCHED_JSON_FIELD(num_device_blocks);
    KVSCHED_JSON_FIELD(num_host_blocks);
    KVSCHED_JSON_FIELD(max_num_seqs);
    KVSCHED_JSON_FIELD(max_num_batched_tokens);
    KVSCHED_JSON_FIELD(max_model_len);
    KVSCHED_JSON_FIELD(enable_prefix_caching);
  }
};
template <>
struct JsonFields<SchedulerOptions> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(prefill_first_exclusive);
    KVSCHED_JSON_FIELD(no_prefill_while_swapped);
    KVSCHED_JSON_FIELD(no_admission_after_preemption);
  }
};
template <>
struct JsonFields<CriticalConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(enabled);
    KVSCHED_JSON_FIELD(kappa);
    KVSCHED_JSON_FIELD(boost_tokens);
  }
};
template <>
struct JsonFields<GlobalReserveConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(enabled);
    KVSCHED_JSON_FIELD(rule);
    KVSCHED_JSON_FIELD(fraction);
    KVSCHED_JSON_FIELD(overshoot_probability);
  }
};
template <>
struct JsonFields<BundleRules> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(critical);
    KVSCHED_JSON_FIELD(reserve);
  }
};
template <>
struct JsonFields<HistoryEstimatorConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(quantile);
    KVSCHED_JSON_FIELD(bucket_base);
    KVSCHED_JSON_FIELD(window);
    KVSCHED_JSON_FIELD(min_samples);
    KVSCHED_JSON_FIELD(min_above);
  }
};
template <>
struct JsonFields<HoeffdingPaddingConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(enabled);
    KVSCHED_JSON_FIELD(p_hi);
    KVSCHED_JSON_FIELD(p_lo);
    KVSCHED_JSON_FIELD(rate_lo_rps);
    KVSCHED_JSON_FIELD(rate_hi_rps);
    KVSCHED_JSON_FIELD(p_falls_with_rate);
    KVSCHED_JSON_FIELD(window);
    KVSCHED_JSON_FIELD(min_errors);
    KVSCHED_JSON_FIELD(range);
    KVSCHED_JSON_FIELD(q_lo);
    KVSCHED_JSON_FIELD(q_hi);
    KVSCHED_JSON_FIELD(relative);
  }
};
template <>
struct JsonFields<NoisyOracleConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(distribution);
    KVSCHED_JSON_FIELD(level);
    KVSCHED_JSON_FIELD(min_factor);
    KVSCHED_JSON_FIELD(seed);
  }
};
template <>
struct JsonFields<EmbeddingAllocatorConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(reuse);
    KVSCHED_JSON_FIELD(buffer_tokens);
    KVSCHED_JSON_FIELD(host_must_outlive_guest);
    KVSCHED_JSON_FIELD(reclaim);
    KVSCHED_JSON_FIELD(max_host_probes);
  }
};
template <>
struct JsonFields<ProactiveReserverConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(top_up);
    KVSCHED_JSON_FIELD(headroom_tokens);
  }
};
template <>
struct JsonFields<WatermarkReserver> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(watermark);
  }
};
template <>
struct JsonFields<PreemptionCostConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(cache_aware_recompute);
    KVSCHED_JSON_FIELD(horizon_iterations);
  }
};
template <>
struct JsonFields<SloVictimConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(tbt_bucket_s);
    KVSCHED_JSON_FIELD(remaining_bucket_tokens);
    KVSCHED_JSON_FIELD(preemption_bucket_s);
    KVSCHED_JSON_FIELD(cost);
  }
};
template <>
struct JsonFields<LatencyModeConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(rule);
    KVSCHED_JSON_FIELD(threshold_tokens);
    KVSCHED_JSON_FIELD(cost);
  }
};
template <>
struct JsonFields<FixedModeChooser> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(mode);
  }
};
template <>
struct JsonFields<FcfsQueue> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(decodes_first);
    KVSCHED_JSON_FIELD(hol_blocking);
  }
};
template <>
struct JsonFields<SlackQueueConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(returning_first);
    KVSCHED_JSON_FIELD(hol_blocking);
    KVSCHED_JSON_FIELD(order_running);
    KVSCHED_JSON_FIELD(full_running_sort);
    KVSCHED_JSON_FIELD(max_ordered);
  }
};
template <>
struct JsonFields<SloSlackQueueConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(similar_ratio);
    KVSCHED_JSON_FIELD(max_candidates);
    KVSCHED_JSON_FIELD(candidates_per_free_seat);
    KVSCHED_JSON_FIELD(head_of_line_blocking);
    KVSCHED_JSON_FIELD(returning_first);
    KVSCHED_JSON_FIELD(late_last);
    KVSCHED_JSON_FIELD(starvation_s);
    KVSCHED_JSON_FIELD(shortest_first);
    KVSCHED_JSON_FIELD(urgent_fraction);
    KVSCHED_JSON_FIELD(max_urgent);
  }
};
template <>
struct JsonFields<TokenBudgetChunker> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(budget);
    KVSCHED_JSON_FIELD(chunked_prefill);
  }
};
template <>
struct JsonFields<SloDynamicChunkerConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(max_budget_tokens);
    KVSCHED_JSON_FIELD(long_prompt_tokens);
    KVSCHED_JSON_FIELD(max_long_prefills);
    KVSCHED_JSON_FIELD(slo_margin);
    KVSCHED_JSON_FIELD(min_prefill_tokens);
    KVSCHED_JSON_FIELD(reserve_for_short_prompts);
  }
};
template <>
struct JsonFields<MultiResourceBatchConfig> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(similar_ratio);
    KVSCHED_JSON_FIELD(window);
    KVSCHED_JSON_FIELD(subtract_running_growth);
    KVSCHED_JSON_FIELD(drop_kv_infeasible);
    KVSCHED_JSON_FIELD(protect_overdue_anchor);
    KVSCHED_JSON_FIELD(protect_urgent_fraction);
    KVSCHED_JSON_FIELD(count_expected_output);
  }
};
/// SGLang's ratio schedule; the live ratio is state, restarted at init_ratio when read.
template <>
struct JsonFields<SglangRatioReserver> {
  template <class S, class F>
  static void visit(S& s, F&& f) {
    KVSCHED_JSON_FIELD(init_ratio);
    KVSCHED_JSON_FIELD(min_ratio);
    KVSCHED_JSON_FIELD(decay_steps);
    KVSCHED_JSON_FIELD(clip_max_new_tokens);
  }
};
#undef KVSCHED_JSON_FIELD

}  // namespace kvsched::io

namespace kvsched {

/// How the policy in one slot of a bundle is written to and read from JSON. Default: the
/// fields of its public `config` member if it has one, else its own fields if it has a
/// reflection table, else none (an empty object: stateless policies, or state only).
/// read() overlays the keys of `j` (an object) and throws io::JsonFieldError naming
/// `path` + key for an unknown key or a wrong type.
/// P has a public member `config` with a reflection table.
template <class P>
concept HasJsonConfigMember = requires(const P& p) { p.config; } && io::HasJsonFields<std::remove_cvref_t<decltype(std::declval<P&>().config)>>;

template <class P>
struct PolicyJson {
  [[nodiscard]] static nlohmann::json write(const P& p) {
    if constexpr (HasJsonConfigMember<P>) {
      return io::write_json_fields(p.config);
    } else if constexpr (io::HasJsonFields<P>) {
      return io::write_json_fields(p);
    } else {
      return nlohmann::json::object();
    }
  }
  static void read(const nlohmann::json& j, P& p, const std::string& path) {
    if constexpr (HasJsonConfigMember<P>) {
      io::read_json_fields(j, p.config, path);
    } else if constexpr (io::HasJsonFields<P>) {
      io::read_json_fields(j, p, path);
      if constexpr (std::is_same_v<P, SglangRatioReserver>) p.ratio = p.init_ratio;
    } else {
      io::check_json_keys(j, path, [](auto&&) {});
    }
  }
};

/// Policies built from their config (a private copy): read rebuilds them, so state sized by
/// the config (sliding windows) follows it.
template <class P, class C>
struct RebuiltPolicyJson {
  [[nodiscard]] static nlohmann::json write(const P& p) { return io::write_json_fields(p.config()); }
  static void read(const nlohmann::json& j, P& p, const std::string& path) {
    C c = p.config();
    io::read_json_fields(j, c, path);
    p = P(c);
  }
};
template <>
struct PolicyJson<HistoryEstimator> : RebuiltPolicyJson<HistoryEstimator, HistoryEstimatorConfig> {};
template <>
struct PolicyJson<HoeffdingPadding> : RebuiltPolicyJson<HoeffdingPadding, HoeffdingPaddingConfig> {};

/// {"base": point estimator, "padding": HoeffdingPaddingConfig}.
template <class B>
struct PolicyJson<PaddedEstimator<B>> {
  [[nodiscard]] static nlohmann::json write(const PaddedEstimator<B>& p) {
    return {{"base", PolicyJson<B>::write(p.base)}, {"padding", PolicyJson<HoeffdingPadding>::write(p.padding)}};
  }
  static void read(const nlohmann::json& j, PaddedEstimator<B>& p, const std::string& path) {
    io::check_json_keys(j, path, [](auto&& f) {
      f("base");
      f("padding");
    });
    if (const auto it = j.find("base"); it != j.end()) PolicyJson<B>::read(*it, p.base, io::json_key_path(path, "base"));
    if (const auto it = j.find("padding"); it != j.end()) {
      PolicyJson<HoeffdingPadding>::read(*it, p.padding, io::json_key_path(path, "padding"));
    }
  }
};

/// EngineConfig as JSON (every field).
[[nodiscard]] inline nlohmann::json engine_config_to_json(const EngineConfig& e) { return io::write_json_fields(e); }

/// `base` with the keys of object `j` overlaid. Errors: io::JsonFieldError (unknown key,
/// wrong type), std::invalid_argument from EngineConfig::validate().
[[nodiscard]] inline EngineConfig engine_config_from_json(const nlohmann::json& j, EngineConfig base = {},
                                                          bool validate = true) {
  io::read_json_fields(j, base, "");
  if (validate) base.validate();
  return base;
}

}  // namespace kvsched
