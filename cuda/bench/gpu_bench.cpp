// kvsched-gpu-bench: CUDA backend figures on the GPU it runs on (docs/design.md section 5).
//   * host link: one large pinned cudaMemcpyAsync per direction (the reference for swaps);
//   * swap: copy_blocks (one kernel for all pairs, block-major layout) and one
//     cudaMemcpyBatchAsync call, against per-block cudaMemcpyAsync and a vLLM-style
//     layer-major cache (one copy per layer, K/V and block) moving the same bytes;
//   * paged attention: decode and chunked-prefill kernels (and the portable Thrust path),
//     bytes of K/V read per second against the device's peak memory bandwidth (from its memory
//     clock and bus width) and a measured device-to-device copy.
// Usage: kvsched-gpu-bench [--reps N] [--json out.json] [--quick]
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <cuda_runtime_api.h>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "kvsched/backend/kv_layout.hpp"
#include "kvsched/backend/paged_kv_tables.hpp"
#include "kvsched/cuda/check.hpp"
#include "kvsched/cuda/kernels.hpp"

using kvsched::BlockCopy;
using kvsched::KvDtype;
using kvsched::KvLayout;
using kvsched::KvShape;

namespace {

struct DeviceMem {
  void* p = nullptr;
  explicit DeviceMem(std::size_t n) { KVSCHED_CUDA_CHECK(cudaMalloc(&p, std::max<std::size_t>(n, 1))); }
  ~DeviceMem() { (void)cudaFree(p); }
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(p); }
};
struct PinnedMem {
  void* p = nullptr;
  explicit PinnedMem(std::size_t n) { KVSCHED_CUDA_CHECK(cudaHostAlloc(&p, std::max<std::size_t>(n, 1), cudaHostAllocDefault)); }
  ~PinnedMem() { (void)cudaFreeHost(p); }
  PinnedMem(const PinnedMem&) = delete;
  PinnedMem& operator=(const PinnedMem&) = delete;
};

template <class T>
void upload(void* dst, const std::vector<T>& v) {
  KVSCHED_CUDA_CHECK(cudaMemcpy(dst, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
}

/// Mean seconds per call of f() (enqueues on `stream`) over `reps` calls after 2 warm-ups.
template <class F>
double time_s(cudaStream_t stream, int reps, F&& f) {
  cudaEvent_t a, b;
  KVSCHED_CUDA_CHECK(cudaEventCreate(&a));
  KVSCHED_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 2; ++i) f();
  KVSCHED_CUDA_CHECK(cudaStreamSynchronize(stream));
  KVSCHED_CUDA_CHECK(cudaEventRecord(a, stream));
  for (int i = 0; i < reps; ++i) f();
  KVSCHED_CUDA_CHECK(cudaEventRecord(b, stream));
  KVSCHED_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  KVSCHED_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  KVSCHED_CUDA_CHECK(cudaEventDestroy(a));
  KVSCHED_CUDA_CHECK(cudaEventDestroy(b));
  return ms * 1e-3 / reps;
}

struct Device {
  std::string name;
  double peak_mem_gbs = 0;   // 2 x memory clock x bus width (DDR), GB/s
  double d2d_gbs = 0;        // measured cudaMemcpy device->device (read + write bytes), GB/s
  double h2d_gbs = 0, d2h_gbs = 0;  // measured pinned host link, GB/s
};

Device probe(cudaStream_t stream, int reps) {
  Device d;
  int dev = 0;
  KVSCHED_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  KVSCHED_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  d.name = prop.name;
  int clock_khz = 0, bus_bits = 0;
  if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev) == cudaSuccess &&
      cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev) == cudaSuccess)
    d.peak_mem_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  (void)cudaGetLastError();
  const std::size_t n = std::size_t{512} << 20;
  DeviceMem a(n), b(n);
  PinnedMem h(n);
  d.d2d_gbs = 2.0 * n / 1e9 / time_s(stream, reps, [&] { KVSCHED_CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, n, cudaMemcpyDeviceToDevice, stream)); });
  d.h2d_gbs = n / 1e9 / time_s(stream, reps, [&] { KVSCHED_CUDA_CHECK(cudaMemcpyAsync(a.p, h.p, n, cudaMemcpyHostToDevice, stream)); });
  d.d2h_gbs = n / 1e9 / time_s(stream, reps, [&] { KVSCHED_CUDA_CHECK(cudaMemcpyAsync(h.p, a.p, n, cudaMemcpyDeviceToHost, stream)); });
  return d;
}

nlohmann::json bench_swap(const std::string& model, const KvShape& shape, int pairs, const Device& dev, cudaStream_t stream, int reps) {
  const KvLayout L = kvsched::make_kv_layout(shape);
  const auto bpb = static_cast<std::size_t>(L.bytes_per_block());
  const int dev_blocks = 2 * pairs;
  DeviceMem dpool(bpb * dev_blocks);
  PinnedMem hpool(bpb * pairs);
  KVSCHED_CUDA_CHECK(cudaMemset(dpool.p, 1, bpb * dev_blocks));
  std::vector<BlockCopy> out(static_cast<std::size_t>(pairs)), in(out.size());
  std::vector<int> perm(static_cast<std::size_t>(dev_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(7));  // scattered blocks, as after a while of serving
  for (int i = 0; i < pairs; ++i) {
    out[static_cast<std::size_t>(i)] = {perm[static_cast<std::size_t>(i)], i};
    in[static_cast<std::size_t>(i)] = {i, perm[static_cast<std::size_t>(pairs + i)]};
  }
  DeviceMem dout(out.size() * sizeof(BlockCopy)), din(in.size() * sizeof(BlockCopy));
  upload(dout.p, out);
  upload(din.p, in);
  const double bytes = static_cast<double>(bpb) * pairs;
  auto gbs = [&](double s) { return bytes / 1e9 / s; };
  nlohmann::json j{{"model", model}, {"block_MiB", bpb / double(1 << 20)}, {"pairs", pairs}};
  j["kernel_out_GBs"] = gbs(time_s(stream, reps, [&] { KVSCHED_CUDA_CHECK(kvsched::cuda::copy_blocks(L, dpool.p, hpool.p, dout.as<BlockCopy>(), pairs, stream)); }));
  j["kernel_in_GBs"] = gbs(time_s(stream, reps, [&] { KVSCHED_CUDA_CHECK(kvsched::cuda::copy_blocks(L, hpool.p, dpool.p, din.as<BlockCopy>(), pairs, stream)); }));
  j["batch_memcpy_out_GBs"] = gbs(time_s(stream, reps, [&] { KVSCHED_CUDA_CHECK(kvsched::cuda::copy_blocks_memcpy_batch(L, dpool.p, hpool.p, out.data(), pairs, stream)); }));
  j["batch_memcpy_in_GBs"] = gbs(time_s(stream, reps, [&] { KVSCHED_CUDA_CHECK(kvsched::cuda::copy_blocks_memcpy_batch(L, hpool.p, dpool.p, in.data(), pairs, stream)); }));
  // Baselines moving the same bytes: one cudaMemcpyAsync per block (block-major), and one per
  // (layer, K/V, block) as a layer-major cache (vLLM: separate K and V tensors per layer) needs.
  auto per_copy = [&](bool to_host, std::size_t pieces) {
    const std::size_t piece = bpb / pieces;
    for (const BlockCopy& c : to_host ? out : in)
      for (std::size_t k = 0; k < pieces; ++k) {
        char* d = static_cast<char*>(to_host ? hpool.p : dpool.p) + static_cast<std::size_t>(c.dst) * bpb + k * piece;
        const char* s = static_cast<const char*>(to_host ? dpool.p : hpool.p) + static_cast<std::size_t>(c.src) * bpb + k * piece;
        KVSCHED_CUDA_CHECK(cudaMemcpyAsync(d, s, piece, to_host ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice, stream));
      }
  };
  const auto layer_pieces = static_cast<std::size_t>(2 * shape.num_layers);
  j["per_block_memcpy_out_GBs"] = gbs(time_s(stream, reps, [&] { per_copy(true, 1); }));
  j["per_block_memcpy_in_GBs"] = gbs(time_s(stream, reps, [&] { per_copy(false, 1); }));
  j["layer_major_memcpy_out_GBs"] = gbs(time_s(stream, reps, [&] { per_copy(true, layer_pieces); }));
  j["layer_major_memcpy_in_GBs"] = gbs(time_s(stream, reps, [&] { per_copy(false, layer_pieces); }));
  j["kernel_out_vs_link"] = j["kernel_out_GBs"].get<double>() / dev.d2h_gbs;
  j["kernel_in_vs_link"] = j["kernel_in_GBs"].get<double>() / dev.h2d_gbs;
  return j;
}

nlohmann::json bench_attention(KvDtype dt, int batch, int context, int qo_len, const Device& dev, cudaStream_t stream, int reps) {
  const int qo_heads = 32;
  const KvShape shape{1, 8, 128, 16, dt};  // one layer of Llama-3-8B
  const KvLayout L = kvsched::make_kv_layout(shape);
  const int pages = static_cast<int>(kvsched::blocks_for_tokens(context, shape.block_size));
  const int blocks = batch * pages;
  DeviceMem pool(static_cast<std::size_t>(L.bytes_per_block()) * blocks);
  {  // finite values: bytes 0x3B give fp16 ~0.9 and bf16 ~0.003, bytes 0x3C give fp32 ~0.011
    const unsigned char byte = dt == KvDtype::kF32 ? 0x3C : 0x3B;
    KVSCHED_CUDA_CHECK(cudaMemset(pool.p, byte, static_cast<std::size_t>(L.bytes_per_block()) * blocks));
  }
  std::vector<kvsched::BlockId> ids(static_cast<std::size_t>(blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(3));
  kvsched::PagedKvTables t(shape.block_size);
  for (int b = 0; b < batch; ++b)
    t.add(std::span<const kvsched::BlockId>(ids).subspan(static_cast<std::size_t>(b * pages), static_cast<std::size_t>(pages)), context, qo_len);
  DeviceMem indptr(t.indptr().size() * 4), indices(t.indices().size() * 4), last(t.last_page_len().size() * 4), qo(t.qo_indptr().size() * 4);
  upload(indptr.p, t.indptr());
  upload(indices.p, t.indices());
  upload(last.p, t.last_page_len());
  upload(qo.p, t.qo_indptr());
  kvsched::AttentionBatch a = t.batch(qo_heads);
  a.kv.indptr = indptr.as<std::int32_t>();
  a.kv.indices = indices.as<kvsched::BlockId>();
  a.kv.last_page_len = last.as<std::int32_t>();
  a.qo_indptr = qo.as<std::int32_t>();
  const std::size_t qbytes = static_cast<std::size_t>(t.num_q_tokens()) * qo_heads * 128 * static_cast<std::size_t>(L.elem_bytes);
  DeviceMem q(qbytes), o(qbytes);
  KVSCHED_CUDA_CHECK(cudaMemset(q.p, 0x3B, qbytes));
  // K/V bytes a kernel must read at least once: every request's context, one layer.
  const double kv_bytes = static_cast<double>(batch) * context * static_cast<double>(shape.bytes_per_token());
  const double s = time_s(stream, reps, [&] { KVSCHED_CUDA_CHECK(kvsched::cuda::paged_attention(L, pool.p, 0, a, qo_len, q.p, o.p, stream)); });
  const int portable_reps = std::max(1, reps / 10);
  const double sp = time_s(stream, portable_reps, [&] {
    KVSCHED_CUDA_CHECK(kvsched::cuda::portable_path::paged_attention(L, pool.p, 0, a, t.num_q_tokens(), q.p, o.p, stream));
  });
  nlohmann::json j{{"dtype", kvsched::to_string(dt)}, {"batch", batch}, {"context", context}, {"qo_len", qo_len}};
  j["kernel_us"] = s * 1e6;
  j["kernel_tokens_per_s"] = t.num_q_tokens() / s;
  j["kernel_kv_GBs"] = kv_bytes / 1e9 / s;
  j["kernel_vs_peak"] = dev.peak_mem_gbs > 0 ? kv_bytes / 1e9 / s / dev.peak_mem_gbs : 0.0;
  j["kernel_vs_d2d"] = kv_bytes / 1e9 / s / dev.d2d_gbs;
  j["portable_us"] = sp * 1e6;
  j["portable_kv_GBs"] = kv_bytes / 1e9 / sp;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvsched-gpu-bench: CUDA backend swap and paged-attention bandwidth"};
  int reps = 20;
  std::string json_path;
  bool quick = false;
  app.add_option("--reps", reps, "timed repetitions per measurement")->check(CLI::PositiveNumber);
  app.add_option("--json", json_path, "also write every figure to this JSON file");
  app.add_flag("--quick", quick, "fewer, smaller cases");
  CLI11_PARSE(app, argc, argv);

  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("SKIPPED: no CUDA device: kvsched-gpu-bench needs a GPU\n");
    return 0;
  }
  cudaStream_t stream;
  KVSCHED_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  nlohmann::json report;
  const Device dev = probe(stream, reps);
  report["device"] = {{"name", dev.name}, {"peak_mem_GBs", dev.peak_mem_gbs}, {"d2d_GBs", dev.d2d_gbs},
                      {"h2d_GBs", dev.h2d_gbs}, {"d2h_GBs", dev.d2h_gbs}};
  fmt::print("{}: peak memory {:.0f} GB/s, device copy {:.0f} GB/s (read+write), host link H2D {:.1f} GB/s, D2H {:.1f} GB/s\n",
             dev.name, dev.peak_mem_gbs, dev.d2d_gbs, dev.h2d_gbs, dev.d2h_gbs);

  fmt::print("\nswap (GB/s; 'vs link' = kernel / one large pinned memcpy)\n");
  fmt::print("{:<12} {:>6} {:>5} | {:>9} {:>9} | {:>9} {:>9} | {:>9} {:>9} | {:>9} {:>9} | {:>7} {:>7}\n", "model", "MiB", "pairs",
             "kern out", "kern in", "batch out", "batch in", "blk out", "blk in", "layer out", "layer in", "out/lnk", "in/lnk");
  const std::vector<std::pair<std::string, KvShape>> models = {{"llama3_8b", {32, 8, 128, 16, KvDtype::kF16}},
                                                               {"llama2_7b", {32, 32, 128, 16, KvDtype::kF16}}};
  for (const auto& [name, shape] : models)
    for (int pairs : quick ? std::vector<int>{16} : std::vector<int>{4, 16, 64}) {
      const auto j = bench_swap(name, shape, pairs, dev, stream, reps);
      report["swap"].push_back(j);
      fmt::print("{:<12} {:>6.1f} {:>5} | {:>9.1f} {:>9.1f} | {:>9.1f} {:>9.1f} | {:>9.1f} {:>9.1f} | {:>9.1f} {:>9.1f} | {:>7.2f} {:>7.2f}\n",
                 name, j["block_MiB"].get<double>(), pairs, j["kernel_out_GBs"].get<double>(), j["kernel_in_GBs"].get<double>(),
                 j["batch_memcpy_out_GBs"].get<double>(), j["batch_memcpy_in_GBs"].get<double>(),
                 j["per_block_memcpy_out_GBs"].get<double>(), j["per_block_memcpy_in_GBs"].get<double>(),
                 j["layer_major_memcpy_out_GBs"].get<double>(), j["layer_major_memcpy_in_GBs"].get<double>(),
                 j["kernel_out_vs_link"].get<double>(), j["kernel_in_vs_link"].get<double>());
    }

  fmt::print("\npaged attention, one layer of Llama-3-8B (32 query heads, 8 KV heads, head_dim 128, block 16)\n");
  fmt::print("{:<5} {:>6} {:>7} {:>6} | {:>10} {:>12} {:>10} {:>8} {:>8} | {:>12} {:>10}\n", "dtype", "batch", "context", "qo",
             "kernel us", "tokens/s", "KV GB/s", "vs peak", "vs d2d", "portable us", "port GB/s");
  struct Case {
    int batch, context, qo;
  };
  const std::vector<Case> cases = quick ? std::vector<Case>{{64, 2048, 1}, {1, 2048, 512}}
                                        : std::vector<Case>{{32, 1024, 1}, {128, 1024, 1}, {64, 4096, 1}, {256, 2048, 1}, {1, 2048, 512}, {4, 4096, 512}};
  for (KvDtype dt : {KvDtype::kF16, KvDtype::kBF16, KvDtype::kF32})
    for (const Case& c : cases) {
      const auto j = bench_attention(dt, c.batch, c.context, c.qo, dev, stream, reps);
      report["attention"].push_back(j);
      fmt::print("{:<5} {:>6} {:>7} {:>6} | {:>10.1f} {:>12.4g} {:>10.1f} {:>8.2f} {:>8.2f} | {:>12.1f} {:>10.1f}\n", kvsched::to_string(dt),
                 c.batch, c.context, c.qo, j["kernel_us"].get<double>(), j["kernel_tokens_per_s"].get<double>(),
                 j["kernel_kv_GBs"].get<double>(), j["kernel_vs_peak"].get<double>(), j["kernel_vs_d2d"].get<double>(),
                 j["portable_us"].get<double>(), j["portable_kv_GBs"].get<double>());
    }
  KVSCHED_CUDA_CHECK(cudaStreamDestroy(stream));
  if (!json_path.empty()) {
    std::ofstream(json_path) << report.dump(2) << "\n";
    fmt::print("\nwrote {}\n", json_path);
  }
  return 0;
}
