// kvsched/hardware/gpu_spec.hpp: the GPU facts the simulator and the latency fit need (memory for
// the KV pool, host link for swap, which measured profile to use), with presets.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kvsched {

/// One GPU as the simulator sees it. Every preset number names its source below.
struct GpuSpec {
  std::string name;                  // preset name, e.g. "a100-80g"
  std::int64_t memory_bytes = 0;     // device memory total as nvidia-smi reports it (bytes)
  double host_link_bytes_per_s = 0;  // pinned host<->device copy bandwidth, one direction (bytes/s)
  double host_copy_latency_s = 0;    // fixed cost of one host<->device copy call (s)
  std::string vidur_dir;             // compute profile folder under data/vidur_profiling/: "a100" or "h100"
  double hbm_bytes_per_s = 0;        // device memory bandwidth, datasheet (bytes/s)
  double dense_fp16_flops = 0;       // dense FP16/BF16 tensor-core peak, datasheet (FLOP/s)
};

/// Names accepted by gpu_preset(), in a stable order.
[[nodiscard]] inline std::vector<std::string> gpu_preset_names() { return {"a100-40g", "a100-80g", "h100-80g"}; }

/// Preset by name. Errors: std::invalid_argument listing the known names.
/// Sources:
///  - memory_bytes: nvidia-smi totals (A100 40GB 40960 MiB, A100 80GB 81920 MiB, H100 80GB
///    HBM3 81559 MiB) as listed in modal-labs/modal-client PR #2797.
///  - host_link_bytes_per_s: data/pcie_hostdevice_reported/host_device_copy_reported.csv.
///    A100 (PCIe Gen4 x16): 25.13 GB/s, nvbandwidth host_to_device_memcpy_sm, pinned, 512 MiB
///    and 1 GiB buffers (NVIDIA/nvbandwidth#42, A100-SXM4-40GB; BaM#54 quotes the same ~25 GB/s
///    for A100). H100 (PCIe Gen5 x16): 35.2 GB/s, host_to_device_memcpy_sm (nvbandwidth#24); the
///    same thread reports 52.77 GB/s device-to-host, and we use the slower direction for both
///    (ours: one bandwidth per link in LatencyCoeffs).
///  - host_copy_latency_s: 45.4 us, one 8 KiB cudaMemcpy D2H + synchronize, size-independent up to
///    1 MiB (kekzl/imp PR #1357, same CSV; GPU unspecified, so it is used for every preset).
///  - hbm_bytes_per_s, dense_fp16_flops: NVIDIA A100 datasheet (SXM: 1,555 GB/s for 40GB, 2,039
///    GB/s for 80GB; 312 TFLOPS BF16 dense) and H100 datasheet (SXM5: 3.35 TB/s, 989.4 TFLOPS
///    BF16 dense). They only scale attention profiles across GPUs (latency/profile_fit.hpp).
///  - vidur_dir: A100 40GB and 80GB share the Vidur "a100" compute profile (measured on A100
///    80GB); the 40GB card's lower HBM bandwidth is not modelled (optimistic for decode).
[[nodiscard]] inline GpuSpec gpu_preset(std::string_view name) {
  constexpr std::int64_t kMiB = std::int64_t{1} << 20;
  constexpr double kHostCopyLatencyS = 45.4e-6;
  if (name == "a100-40g") return GpuSpec{"a100-40g", 40960 * kMiB, 25.13e9, kHostCopyLatencyS, "a100", 1555e9, 312e12};
  if (name == "a100-80g") return GpuSpec{"a100-80g", 81920 * kMiB, 25.13e9, kHostCopyLatencyS, "a100", 2039e9, 312e12};
  if (name == "h100-80g") return GpuSpec{"h100-80g", 81559 * kMiB, 35.2e9, kHostCopyLatencyS, "h100", 3350e9, 989.4e12};
  std::string known;
  for (const auto& n : gpu_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown GPU preset '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace kvsched
