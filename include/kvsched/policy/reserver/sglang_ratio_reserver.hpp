// kvsched/policy/reserver/sglang_ratio_reserver.hpp: SGLang's new-token-ratio admission.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Admission by SGLang's PrefillAdder (python/sglang/srt/managers/schedule_policy.py): every
/// running request is charged min(max_new_tokens - generated, clip) x ratio future tokens, a
/// new one its uncached prompt + min(max_new_tokens, clip) x ratio, and admission needs the
/// charges to fit in the free KV. The ratio decays linearly from `init_ratio` to `min_ratio`
/// over `decay_steps` iterations and resets to `init_ratio` after a retraction (SGLang
/// recomputes a value there; the reset is our simplification).
struct SglangRatioReserver {
  double init_ratio = 0.7;
  double min_ratio = 0.098;
  double decay_steps = 600;
  std::int32_t clip_max_new_tokens = 4096;  // SGLang CLIP_MAX_NEW_TOKENS
  double ratio = 0.7;                        // current new_token_ratio
  double charged_tokens = 0.0;               // this step's running charge, set by begin_step

  void begin_step(const SchedulerView& v) {
    charged_tokens = 0.0;
    for (const Request* r : v.running)
      charged_tokens += std::min(r->remaining_max_tokens(), clip_max_new_tokens) * ratio;
  }
  [[nodiscard]] bool can_admit(const Request& r, std::int32_t new_blocks, const SchedulerView& v) const {
    const double free_tokens = static_cast<double>(v.blocks->available()) * v.blocks->block_size();
    const double need = static_cast<double>(new_blocks) * v.blocks->block_size() +
                        std::min(r.spec.max_tokens, clip_max_new_tokens) * ratio;
    return need <= free_tokens - charged_tokens;
  }
  /// An admitted request joins the running charge for the rest of the step.
  void on_admit(const Request& r) { charged_tokens += std::min(r.spec.max_tokens, clip_max_new_tokens) * ratio; }
  [[nodiscard]] std::int32_t growth_floor(const SchedulerView&) const { return 0; }
  void on_step_done(const SchedulerView&) { ratio = std::max(min_ratio, ratio - (init_ratio - min_ratio) / decay_steps); }
  void on_preempt(const Request&) { ratio = init_ratio; }
};
static_assert(Reserver<SglangRatioReserver> && ReserverBeginStep<SglangRatioReserver> && ReserverOnAdmit<SglangRatioReserver> &&
              ReserverOnStepDone<SglangRatioReserver> && ReserverOnPreempt<SglangRatioReserver>);

}  // namespace kvsched
