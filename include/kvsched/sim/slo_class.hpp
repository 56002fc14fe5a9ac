// kvsched/sim/slo_class.hpp: named SLO classes (TTFT and TBT targets) for workload sources.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/core/types.hpp"

namespace kvsched::sim {

/// A named latency SLO class, with where its numbers come from.
struct SloClass {
  std::string name;
  Slo slo;             // TTFT and TBT targets (s); <= 0 = none
  std::string source;  // provenance of the targets
};

/// Built-in classes. Targets are DistServe's per-application SLOs (Zhong et al., OSDI 2024,
/// figures 8 and 9; LLMServe/DistServe evaluation/ae-scripts/e2e/_plot.py @ 82831f1):
///   chatbot          ShareGPT on OPT-13B   TTFT 0.25 s   TPOT 0.10 s
///   code_completion  HumanEval on OPT-66B  TTFT 0.125 s  TPOT 0.20 s
///   summarization    LongBench on OPT-66B  TTFT 15 s     TPOT 0.15 s
/// DistServe's TPOT target bounds a request's mean gap; kvsched applies it to every gap
/// between consecutive tokens (TBT), which is stricter and exposes preemption stalls (ours).
/// best_effort has no target (every request meets it).
[[nodiscard]] inline const std::vector<SloClass>& default_slo_classes() {
  static const std::vector<SloClass> classes = {
      {"chatbot", {0.25, 0.10}, "DistServe (OSDI'24) chatbot, ShareGPT on OPT-13B"},
      {"code_completion", {0.125, 0.20}, "DistServe (OSDI'24) code completion, HumanEval on OPT-66B"},
      {"summarization", {15.0, 0.15}, "DistServe (OSDI'24) summarization, LongBench on OPT-66B"},
      {"best_effort", {0.0, 0.0}, "no SLO (ours)"},
  };
  return classes;
}

/// Class used when a source names none.
inline constexpr std::string_view kDefaultSloClass = "chatbot";

/// Built-in class by name, nullopt if unknown.
[[nodiscard]] inline std::optional<SloClass> find_default_slo_class(std::string_view name) {
  for (const auto& c : default_slo_classes()) {
    if (c.name == name) return c;
  }
  return std::nullopt;
}

}  // namespace kvsched::sim
