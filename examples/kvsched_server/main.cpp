// kvsched-server: the minimal server. Serves /v1/completions on loopback with any preset,
// emulating the GPU with the fitted latency model (no model weights: tokens are placeholders).
//   kvsched-server --policy vllm_v1 --port 8000 &
//   curl -N localhost:8000/v1/completions -d '{"prompt_tokens": 512, "max_tokens": 64, "stream": true}'
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <kvsched/kvsched.hpp>
#include <kvsched/latency/profile_fit.hpp>
#include <kvsched/serve/http_routes.hpp>
#include <kvsched/sim/data_dir.hpp>
#include <kvsched/hardware/hardware.hpp>

namespace {
httplib::Server* g_server = nullptr;
void on_signal(int) {
  if (g_server) g_server->stop();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvsched-server: a minimal inference server driven by a kvsched scheduler"};
  std::string policy = "vllm_v1", model_name = "llama2-7b", gpu_name = "a100-80g", host = "127.0.0.1", data_dir;
  int port = 8000;
  double time_scale = 1.0, util = 0.9;
  std::int32_t kv_blocks = 0, host_blocks = -1, max_num_seqs = 0, max_batched = 0;  // 0: the preset's default
  app.add_option("--policy", policy, "scheduler preset")->capture_default_str();
  app.add_option("--model", model_name, "model preset")->capture_default_str();
  app.add_option("--gpu", gpu_name, "GPU preset")->capture_default_str();
  app.add_option("--host", host, "address to bind (loopback by default)")->capture_default_str();
  app.add_option("--port", port, "port (0 = any free port, printed at start)")->capture_default_str();
  app.add_option("--time-scale", time_scale, "wall seconds per predicted GPU second (0 = no waiting)")->capture_default_str();
  app.add_option("--gpu-memory-utilization", util, "share of GPU memory for weights and KV cache")->capture_default_str();
  app.add_option("--kv-blocks", kv_blocks, "device KV blocks (default: from model and GPU)");
  app.add_option("--host-blocks", host_blocks, "host swap blocks (default: as many as the device)");
  app.add_option("--max-num-seqs", max_num_seqs, "requests per batch (default: the preset's, 256)")->check(CLI::PositiveNumber);
  app.add_option("--max-num-batched-tokens", max_batched, "tokens per iteration (default: the preset's, e.g. 2048; sarathi 512)")
      ->check(CLI::PositiveNumber);
  app.add_option("--data-dir", data_dir, "bundled data folder (GPU profiles)");
  CLI11_PARSE(app, argc, argv);

  try {
    const kvsched::ModelSpec model = kvsched::model_preset(model_name);
    const kvsched::GpuSpec gpu = kvsched::gpu_preset(gpu_name);
    const auto dir = kvsched::sim::resolve_data_dir(data_dir.empty() ? std::nullopt : std::optional<std::filesystem::path>(data_dir));
    const kvsched::LatencyModel latency(kvsched::fit_latency_coeffs(dir, model, gpu));
    kvsched::EngineConfig e;
    e.num_device_blocks = kv_blocks > 0 ? kv_blocks : kvsched::kv_pool_blocks(model, gpu, util, e.block_size);
    e.num_host_blocks = host_blocks >= 0 ? host_blocks : e.num_device_blocks;
    e.max_model_len = model.max_model_len;
    e.max_num_seqs = max_num_seqs;
    e.max_num_batched_tokens = max_batched;
    kvsched::serve::ServingEngine engine(kvsched::make_scheduler(policy, e, latency), latency, time_scale);
    httplib::Server server;
    kvsched::serve::add_routes(server, engine);
    g_server = &server;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
    if (bound < 0) {
      std::fprintf(stderr, "kvsched-server: cannot bind %s:%d\n", host.c_str(), port);
      return 2;
    }
    std::printf("kvsched-server: %s on %s/%s, %d KV blocks, listening on http://%s:%d\n", policy.c_str(), model_name.c_str(),
                gpu_name.c_str(), e.num_device_blocks, host.c_str(), bound);
    std::fflush(stdout);
    server.listen_after_bind();
    engine.stop();
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "kvsched-server: %s\n", ex.what());
    return 2;
  }
  return 0;
}
