// bench/azure_conv_setup.hpp: the setup kvsched-sim's defaults give, shared by the simulator and
// cluster benchmarks: llama2-7b on h100-80g (fitted latency model, KV pool at 0.9 of memory in
// 16-token blocks, 512 host blocks) and the whole bundled Azure conv trace (19,366 requests).
#pragma once
#include "kvsched/core/engine_config.hpp"
#include "kvsched/hardware/hardware.hpp"
#include "kvsched/latency/profile_fit.hpp"
#include "kvsched/sim/data_dir.hpp"
#include "kvsched/sim/request_builder.hpp"

namespace kvsched::bench {

struct AzureConvSetup {
  LatencyModel lm;
  EngineConfig engine;
  sim::SimRequests conv;
};

/// Built once per process, on first use (the latency fit and the trace read take a second).
inline const AzureConvSetup& azure_conv_setup() {
  static const AzureConvSetup s = [] {
    const auto data = sim::resolve_data_dir();
    const auto model = model_preset("llama2-7b");
    const auto gpu = gpu_preset("h100-80g");
    AzureConvSetup x;
    x.lm = LatencyModel(fit_latency_coeffs(data, model, gpu));
    x.engine.num_device_blocks = kv_pool_blocks(model, gpu, 0.9, 16);
    x.engine.num_host_blocks = 512;
    x.engine.max_model_len = model.max_model_len;
    sim::BuildOptions o;
    o.max_model_len = model.max_model_len;
    x.conv = sim::build_requests(
        sim::workload_from_traces({data / "azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv"}, sim::TraceFormat::kAuto), o);
    return x;
  }();
  return s;
}

}  // namespace kvsched::bench
