// kvsched/hardware/hardware.hpp: model and GPU presets and KV pool sizing, in one include.
//
// Folders and namespaces (bottom to top; a header includes its own folder and lower ones only):
//   core, hardware, io, latency, policy, scheduler, presets, backend are namespace kvsched
//   (io may be kvsched::io); sim is kvsched::sim; serve is kvsched::serve.
// hardware/ holds the facts about a model and a GPU that the latency fit, the simulator and the
// server share: ModelSpec, GpuSpec, their presets, and the device KV pool size they imply.
#pragma once
#include "kvsched/hardware/gpu_spec.hpp"     // IWYU pragma: export
#include "kvsched/hardware/kv_capacity.hpp"  // IWYU pragma: export
#include "kvsched/hardware/model_spec.hpp"   // IWYU pragma: export
