// kvsched-server: an OpenAI-compatible inference server driven by a kvsched scheduler.
// By default it runs a seeded random tiny Llama on the CPU backend (no download); --model DIR
// loads a Hugging Face Llama folder; --emulate GPU_PRESET emulates a GPU with the latency
// model instead (placeholder text). See docs/server.md.
//   kvsched-server --policy vllm_v1 --port 8000 &
//   curl -N localhost:8000/v1/completions -d '{"prompt": "Hello", "max_tokens": 16, "stream": true}'
#include <CLI/CLI.hpp>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <kvsched/kvsched.hpp>
#include <kvsched/latency/profile_fit.hpp>
#include <kvsched/serve/emulated_executor.hpp>
#include <kvsched/serve/http_server.hpp>
#include <kvsched/serve/model_executor.hpp>
#include <kvsched/sim/data_dir.hpp>
#include <kvsched/hardware/hardware.hpp>
#include <thread>

namespace {

struct Options {
  std::string policy = "vllm_v1", model_dir, emulate, emulate_model = "llama2-7b", host = "127.0.0.1", data_dir, served_name;
  int port = 8000;
  double time_scale = 1.0, util = 0.9, shutdown_grace_s = 3.0;
  std::int32_t kv_blocks = 0, host_blocks = -1, max_num_seqs = 0, max_batched = 0, max_model_len = 0, max_queue = 1024;
  std::int32_t default_max_tokens = 16, max_threads = 0, block_size = 16;
  std::uint64_t seed = 0;
  std::string iteration_log;
};

void add_options(CLI::App& app, Options& o) {
  app.add_option("--policy", o.policy, "scheduler preset (kvsched-sim --list-policies)")->capture_default_str();
  app.add_option("--model", o.model_dir, "Hugging Face Llama folder (config.json + model.safetensors); default: a random tiny Llama");
  app.add_option("--seed", o.seed, "seed of the random tiny Llama's weights")->capture_default_str();
  app.add_option("--emulate", o.emulate, "emulate this GPU preset with the latency model instead of running a model (e.g. a100-80g)");
  app.add_option("--emulate-model", o.emulate_model, "model preset timed by --emulate")->capture_default_str();
  app.add_option("--time-scale", o.time_scale, "--emulate: wall seconds per predicted GPU second (0 = no waiting)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e6));
  app.add_option("--gpu-memory-utilization", o.util, "--emulate: share of GPU memory for weights and KV cache")->capture_default_str();
  app.add_option("--served-model-name", o.served_name, "model id in /v1/models (default: from the model)");
  app.add_option("--host", o.host, "address to bind (loopback by default)")->capture_default_str();
  app.add_option("--port", o.port, "TCP port (0 = any free port, printed at start)")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--kv-blocks", o.kv_blocks, "device KV blocks (default: 1024 for a model, from model and GPU with --emulate)")
      ->check(CLI::PositiveNumber);
  app.add_option("--host-blocks", o.host_blocks, "host swap blocks (default: as many as the device)")->check(CLI::NonNegativeNumber);
  app.add_option("--block-size", o.block_size, "tokens per KV block")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-num-seqs", o.max_num_seqs, "requests per batch (default: the preset's, 256)")->check(CLI::PositiveNumber);
  app.add_option("--max-num-batched-tokens", o.max_batched, "tokens per iteration (default: the preset's, e.g. 2048; sarathi 512)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-model-len", o.max_model_len, "context cap (tokens; default: the model's, cut to the KV pool)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-queue", o.max_queue, "waiting requests beyond which new ones get 429 (0 = no bound)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--default-max-tokens", o.default_max_tokens, "max_tokens of a request that gives none")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-threads", o.max_threads, "HTTP connection threads at most (default: 2 x max-num-seqs + 64)")
      ->check(CLI::PositiveNumber);
  app.add_option("--shutdown-grace", o.shutdown_grace_s, "on SIGTERM/SIGINT, seconds live requests may finish before they are aborted")
      ->capture_default_str()->check(CLI::Range(0.0, 600.0));
  app.add_option("--data-dir", o.data_dir, "bundled data folder (GPU profiles, for --emulate)");
  app.add_option("--iteration-log", o.iteration_log,
                 "write one CSV row per iteration (batch shape, wall time) to FILE, for scripts/fit_cpu_latency.py");
}

std::atomic<bool> g_done{false};

int run(const Options& o) {
  kvsched::EngineConfig e;
  e.block_size = o.block_size;
  e.max_num_seqs = o.max_num_seqs;
  e.max_num_batched_tokens = o.max_batched;
  std::unique_ptr<kvsched::serve::Executor> exec;
  kvsched::LatencyModel latency{kvsched::LatencyCoeffs{}};
  if (!o.emulate.empty()) {
    if (!o.model_dir.empty()) throw std::invalid_argument("--model and --emulate: give one");
    const kvsched::ModelSpec model = kvsched::model_preset(o.emulate_model);
    const kvsched::GpuSpec gpu = kvsched::gpu_preset(o.emulate);
    const auto dir = kvsched::sim::resolve_data_dir(o.data_dir.empty() ? std::nullopt : std::optional<std::filesystem::path>(o.data_dir));
    latency = kvsched::LatencyModel(kvsched::fit_latency_coeffs(dir, model, gpu));
    e.num_device_blocks = o.kv_blocks > 0 ? o.kv_blocks : kvsched::kv_pool_blocks(model, gpu, o.util, e.block_size);
    e.num_host_blocks = o.host_blocks >= 0 ? o.host_blocks : e.num_device_blocks;
    std::int64_t len = model.max_model_len;
    if (o.max_model_len > 0) len = std::min<std::int64_t>(len, o.max_model_len);
    e.max_model_len = static_cast<std::int32_t>(std::min<std::int64_t>(len, std::int64_t{e.num_device_blocks} * e.block_size));
    exec = std::make_unique<kvsched::serve::EmulatedExecutor>(
        latency, o.time_scale, std::int64_t{e.block_size} * model.kv_bytes_per_token(), e.max_model_len,
        o.served_name.empty() ? model.name + "@" + gpu.name : o.served_name);
  } else {
    e.num_device_blocks = o.kv_blocks > 0 ? o.kv_blocks : 1024;
    e.num_host_blocks = o.host_blocks >= 0 ? o.host_blocks : e.num_device_blocks;
    std::string name = o.served_name;
    kvsched::model::LlamaModel m = o.model_dir.empty() ? kvsched::serve::ModelExecutor::random_tiny(o.seed)
                                                        : kvsched::serve::ModelExecutor::from_dir(o.model_dir);
    if (name.empty())
      name = o.model_dir.empty() ? "random-tiny-llama-seed" + std::to_string(o.seed)
                                 : std::filesystem::path(o.model_dir).lexically_normal().filename().string();
    if (name.empty()) name = o.model_dir;
    auto tok = o.model_dir.empty() ? kvsched::serve::ModelTokenizer(m.config().vocab_size)
                                   : kvsched::serve::ModelTokenizer::for_dir(o.model_dir, m.config().vocab_size);
    auto me = std::make_unique<kvsched::serve::ModelExecutor>(std::move(m), name, e.block_size, e.num_device_blocks, e.num_host_blocks,
                                                              o.max_model_len, std::move(tok));
    e.max_model_len = me->max_model_len();
    exec = std::move(me);
    // The latency model is what latency-aware policies read (ACCELGEN, CacheOPT estimators);
    // with a real model it is a rough CPU default (see docs/server.md to fit one).
    kvsched::LatencyCoeffs c;
    c.cpu_overhead_s = 0.002;
    latency = kvsched::LatencyModel(c);
  }
  e.validate();
  const std::string banner = exec->describe();
  kvsched::serve::EngineOptions eo;
  eo.max_queue = o.max_queue;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> log(nullptr, &std::fclose);
  if (!o.iteration_log.empty()) {
    log.reset(std::fopen(o.iteration_log.c_str(), "w"));
    if (!log) throw std::invalid_argument("--iteration-log: cannot write " + o.iteration_log);
    std::fprintf(log.get(), "start_s,duration_s,execute_s,num_prefills,prefill_tokens,prefill_attn_pairs,prefill_sq_tokens,num_decodes,"
                            "decode_context_tokens,swap_out_blocks,swap_in_blocks,copy_blocks\n");
    eo.on_iteration = [f = log.get()](const kvsched::serve::IterationRecord& r) {
      const auto& b = r.shape;
      std::fprintf(f, "%.6f,%.7f,%.7f,%d,%lld,%.0f,%.0f,%d,%lld,%d,%d,%d\n", r.start_s, r.duration_s, r.execute_s, b.num_prefills,
                   static_cast<long long>(b.prefill_tokens), b.prefill_attn_pairs, b.prefill_sq_tokens, b.num_decodes,
                   static_cast<long long>(b.decode_context_tokens), r.swap_out_blocks, r.swap_in_blocks, r.copy_blocks);
    };
  }
  kvsched::serve::ServingEngine engine(kvsched::make_scheduler(o.policy, e, latency), std::move(exec), eo);
  kvsched::serve::HttpOptions ho;
  ho.max_threads = static_cast<std::size_t>(o.max_threads > 0 ? o.max_threads : 2 * static_cast<std::size_t>(o.max_num_seqs > 0 ? o.max_num_seqs : 256) + 64);
  ho.routes.default_max_tokens = o.default_max_tokens;
  kvsched::serve::HttpServer http(engine, ho);
  int bound = -1;
  try {
    bound = http.bind(o.host, o.port);
  } catch (const std::exception& ex) {
    engine.stop();
    throw std::invalid_argument(ex.what());
  }
  std::printf("kvsched-server: %s, policy %s, %d KV blocks of %d tokens, max_model_len %d\n", banner.c_str(), o.policy.c_str(),
              e.num_device_blocks, e.block_size, e.max_model_len);
  std::printf("kvsched-server: listening on http://%s:%d\n", o.host.c_str(), bound);
  std::fflush(stdout);

  // SIGTERM / SIGINT: drain (finish or abort what runs, final events sent), then stop HTTP.
  std::thread signals([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    const timespec tick{0, 200'000'000};
    while (!g_done.load()) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig != SIGTERM && sig != SIGINT) continue;
      std::fprintf(stderr, "kvsched-server: %s: draining (up to %.1f s), then exiting\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                   o.shutdown_grace_s);
      engine.drain(std::chrono::milliseconds(static_cast<long>(o.shutdown_grace_s * 1000)));
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // handlers send their final events
      http.stop();
      break;
    }
  });
  http.run();
  g_done = true;
  signals.join();
  engine.stop();
  const auto s = engine.stats();
  std::fprintf(stderr, "kvsched-server: stopped: %lld requests, %lld finished, %lld aborted, %lld tokens\n",
               static_cast<long long>(s.submitted), static_cast<long long>(s.finished), static_cast<long long>(s.aborted),
               static_cast<long long>(s.tokens));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvsched-server: an OpenAI-compatible inference server driven by a kvsched scheduler"};
  Options o;
  add_options(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // Block the stop signals in every thread; the signal thread takes them with sigtimedwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  try {
    return run(o);
  } catch (const std::invalid_argument& ex) {
    std::fprintf(stderr, "kvsched-server: error: %s\n", ex.what());
    return 2;
  } catch (const std::out_of_range& ex) {
    std::fprintf(stderr, "kvsched-server: error: %s\n", ex.what());
    return 2;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "kvsched-server: error: %s\n", ex.what());
    return 1;
  }
}
