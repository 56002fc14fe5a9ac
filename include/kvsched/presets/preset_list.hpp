// kvsched/presets/preset_list.hpp: every preset's name, once, as an X-macro, in the order
// reports list them. KVSCHED_PRESET_LIST(X) calls X(name) for presets::name; the registry
// (registry.hpp) and the JSON configs (config_json.hpp) expand it, so both know the same presets.
#pragma once
#include "kvsched/presets/accelgen.hpp"
#include "kvsched/presets/baselines.hpp"
#include "kvsched/presets/cacheopt.hpp"
#include "kvsched/presets/kvsched.hpp"

// Engine baselines; CacheOPT (kvsched/presets/cacheopt.hpp): the history-estimator default,
// the oracle, noisy predictors of 10/30/50% relative error, one ablation per component,
// TensorRT-LLM's admission with true lengths, and the future-peak admission (ours); AccelGen
// and CacheOPT + AccelGen (kvsched/presets/accelgen.hpp), and the larger Sarathi-Serve budget
// the AccelGen evaluation compares with.
/// Name under which the current flagship preset is also registered (the project's recommended
/// policy, so `--policy kvsched` always means the current best).
namespace kvsched::presets {
inline constexpr const char* kKvschedAlias = "kvsched";
}  // namespace kvsched::presets

// The tables over every preset (registry.hpp preset_table(), config_json.hpp
// preset_config_table()) are defined inline in every translation unit, or, with
// KVSCHED_COMPILED_REGISTRY, only declared there and defined once by src/registry.cpp (the
// kvsched::registry library, which defines KVSCHED_REGISTRY_DEFINITION).
#if !defined(KVSCHED_COMPILED_REGISTRY) || defined(KVSCHED_REGISTRY_DEFINITION)
#define KVSCHED_DEFINE_PRESET_TABLES 1
#endif
#ifdef KVSCHED_REGISTRY_DEFINITION
#define KVSCHED_PRESET_TABLE_INLINE
#else
#define KVSCHED_PRESET_TABLE_INLINE inline
#endif

#define KVSCHED_PRESET_LIST(X)   \
  X(vllm_v1)                     \
  X(vllm_v1_first_chunk)         \
  X(vllm_v0)                     \
  X(sarathi)                     \
  X(trtllm_guaranteed_no_evict)  \
  X(sglang)                      \
  X(cacheopt)                    \
  X(cacheopt_paper_padding)      \
  X(oracle)                      \
  X(cacheopt_noisy_10)           \
  X(cacheopt_noisy_30)           \
  X(cacheopt_noisy_50)           \
  X(cacheopt_no_padding)         \
  X(cacheopt_no_alloc)           \
  X(cacheopt_no_reuse)           \
  X(cacheopt_no_topup)           \
  X(cacheopt_no_reserve)         \
  X(cacheopt_no_slack)           \
  X(cacheopt_no_slo_victim)      \
  X(cacheopt_no_mode_choice)     \
  X(trtllm_oracle_lengths)       \
  X(cacheopt_peak)               \
  X(oracle_peak)                 \
  X(sarathi_2048)                \
  X(accelgen)                    \
  X(accelgen_paper)              \
  X(accelgen_oracle)             \
  X(cacheopt_accelgen)           \
  X(cacheopt_accelgen_padded)    \
  X(cacheopt_accelgen_paper)     \
  X(cacheopt_accelgen_oracle)    \
  X(slo_fit)                     \
  X(kvsched_no_slo_chunks)       \
  X(kvsched_no_slack)            \
  X(kvsched_no_fit)              \
  X(kvsched_no_late_last)        \
  X(kvsched_no_swap)             \
  X(kvsched_no_shortest_first)   \
  X(kvsched_no_lost_first)       \
  X(kvsched_no_urgent)
