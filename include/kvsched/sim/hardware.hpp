// kvsched/sim/hardware.hpp: model and GPU presets and KV pool sizing, in one include.
#pragma once
#include "kvsched/sim/gpu_spec.hpp"    // IWYU pragma: export
#include "kvsched/sim/kv_pool.hpp"     // IWYU pragma: export
#include "kvsched/sim/model_spec.hpp"  // IWYU pragma: export
