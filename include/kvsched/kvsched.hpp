// kvsched/kvsched.hpp: umbrella header of the kvsched library.
#pragma once
#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/request.hpp"
#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/core/types.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/presets/accelgen.hpp"
#include "kvsched/presets/baselines.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/scheduler/any_scheduler.hpp"
#include "kvsched/scheduler/scheduler.hpp"
