// GPU tests of the CUDA backend: kernels and the portable Thrust path on the GPU against the CPU
// reference (bit-exact block copies and KV writes) and the dense attention reference.
// Without a CUDA device the program prints "SKIPPED: no CUDA device" and exits 0.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <cuda_runtime_api.h>

#include "backend_test_util.hpp"
#include "device_buffer.hpp"
#include "kvsched/cuda/check.hpp"
#include "kvsched/cuda/cuda_backend.hpp"
#include "kvsched/cuda/kernels.hpp"

using namespace kvsched;
using kvsched::test::DeviceBuffer;

namespace {

void randomize(KvPool& pool, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (auto& b : pool.bytes()) b = static_cast<std::byte>(rng() & 0xFF);
}

std::vector<std::byte> device_bytes(const void* p, std::size_t n) {
  std::vector<std::byte> v(n);
  KVSCHED_CUDA_CHECK(cudaMemcpy(v.data(), p, n, cudaMemcpyDeviceToHost));
  return v;
}

bool equal(const std::vector<std::byte>& a, const KvPool& b) {
  return a.size() == b.size_bytes() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

TEST_CASE("CUDA: CudaBackend::apply is bit-exact with the CPU backend (swap out, swap in, copy-on-write)") {
  for (KvDtype dt : {KvDtype::kF16, KvDtype::kF32}) {
    const KvShape shape{4, 2, 64, 16, dt};
    CpuBackend ref(shape, 16, 8);
    cuda::CudaBackend gpu(shape, 16, 8);
    randomize(ref.device_pool(), 1);
    randomize(ref.host_pool(), 2);
    KVSCHED_CUDA_CHECK(cudaMemcpy(gpu.device_pool(), ref.device_pool().data(), ref.device_pool().size_bytes(), cudaMemcpyHostToDevice));
    std::memcpy(gpu.host_pool(), ref.host_pool().data(), ref.host_pool().size_bytes());
    SchedulePlan plan;
    plan.swap_out = {{3, 0}, {9, 5}, {1, 7}};
    plan.swap_in = {{2, 3}, {4, 9}};  // into device blocks freed by the swap out
    plan.copy = {{12, 14}, {3, 15}};  // copy-on-write, including a block just swapped in
    for (int step = 0; step < 2; ++step) {  // twice: the staging buffer is reused
      ref.apply(plan);
      gpu.apply(plan);
      gpu.synchronize();
      CHECK(equal(device_bytes(gpu.device_pool(), ref.device_pool().size_bytes()), ref.device_pool()));
      CHECK(std::memcmp(gpu.host_pool(), ref.host_pool().data(), ref.host_pool().size_bytes()) == 0);
    }
    SchedulePlan bad;
    bad.swap_in = {{8, 0}};
    CHECK_THROWS_WITH(gpu.apply(bad), Catch::Contains("swap_in[0].src = 8"));
  }
}

TEST_CASE("CUDA: cudaMemcpyBatchAsync and the portable path copy blocks like the kernel") {
  const KvShape shape{2, 2, 64, 16, KvDtype::kBF16};
  const KvLayout L = make_kv_layout(shape);
  KvPool src(L, 10), dst_ref(L, 6);
  randomize(src, 3);
  randomize(dst_ref, 4);
  const std::vector<BlockCopy> pairs{{0, 5}, {7, 0}, {9, 2}};
  const std::size_t n_src = src.size_bytes(), n_dst = dst_ref.size_bytes();
  DeviceBuffer<std::byte> dsrc(n_src), ddst(n_dst);
  DeviceBuffer<BlockCopy> dpairs(pairs);
  cudaStream_t stream;
  KVSCHED_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  dsrc.upload(src.data());
  const std::vector<std::byte> dst0(dst_ref.bytes().begin(), dst_ref.bytes().end());
  copy_blocks_cpu(src, dst_ref, pairs);
  for (int variant = 0; variant < 3; ++variant) {
    ddst.upload(dst0.data());
    if (variant == 0) KVSCHED_CUDA_CHECK(cuda::copy_blocks(L, dsrc.get(), ddst.get(), dpairs.get(), 3, stream));
    if (variant == 1) KVSCHED_CUDA_CHECK(cuda::copy_blocks_memcpy_batch(L, dsrc.get(), ddst.get(), pairs.data(), 3, stream));
    if (variant == 2) KVSCHED_CUDA_CHECK(cuda::portable_path::copy_blocks(L, dsrc.get(), ddst.get(), dpairs.get(), 3, stream));
    KVSCHED_CUDA_CHECK(cudaStreamSynchronize(stream));
    INFO("variant " << variant);
    CHECK(equal(ddst.download(), dst_ref));
  }
  KVSCHED_CUDA_CHECK(cudaStreamDestroy(stream));
}

namespace {

template <class T>
void check_write_kv() {
  const KvLayout L = make_kv_layout({3, 2, 64, 8, KvDtypeOf<T>::value});
  KvPool ref(L, 6);
  ref.fill(std::byte{0xFF});
  const std::vector<std::int64_t> slots{0, 17, -1, 47, 8, -1, 22, 9};
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  const std::size_t n = slots.size() * static_cast<std::size_t>(L.token_stride);
  DeviceBuffer<std::byte> pool_kernel(ref.size_bytes()), pool_portable(ref.size_bytes());
  pool_kernel.upload(ref.data());
  pool_portable.upload(ref.data());
  DeviceBuffer<std::int64_t> dslots(slots);
  for (std::int32_t layer = 0; layer < L.num_layers; ++layer) {
    std::vector<T> k(n), v(n);
    for (auto& x : k) x = from_float<T>(uni(rng));
    for (auto& x : v) x = from_float<T>(uni(rng));
    write_kv_cpu<T>(ref, layer, k, v, slots);
    DeviceBuffer<T> dk(k), dv(v);
    const auto nt = static_cast<std::int32_t>(slots.size());
    KVSCHED_CUDA_CHECK(cuda::write_kv(L, pool_kernel.get(), layer, dk.get(), dv.get(), dslots.get(), nt));
    KVSCHED_CUDA_CHECK(cuda::portable_path::write_kv(L, pool_portable.get(), layer, dk.get(), dv.get(), dslots.get(), nt));
    KVSCHED_CUDA_CHECK(cudaDeviceSynchronize());
  }
  CHECK(equal(pool_kernel.download(), ref));
  CHECK(equal(pool_portable.download(), ref));
}

// Runs the kernel and the portable path on one AttnCase; returns their errors against dense.
template <class T>
std::pair<double, double> gpu_attention_errors(const test::AttnCase& c) {
  test::AttnFixture<T> f(c);
  const KvLayout& L = f.backend.layout();
  const KvPool& pool = f.backend.device_pool();
  DeviceBuffer<std::byte> dpool(pool.size_bytes());
  dpool.upload(pool.data());
  DeviceBuffer<std::int32_t> indptr(f.tables.indptr()), last(f.tables.last_page_len()), qo(f.tables.qo_indptr());
  DeviceBuffer<BlockId> indices(f.tables.indices());
  DeviceBuffer<T> dq(f.q);
  AttentionBatch batch = f.tables.batch(c.num_qo_heads);
  batch.kv.indptr = indptr.get();
  batch.kv.indices = indices.get();
  batch.kv.last_page_len = last.get();
  batch.qo_indptr = qo.get();
  const std::int32_t max_qo = *std::max_element(c.qo_lens.begin(), c.qo_lens.end());
  const auto ref = test::dense_attention(c, f);
  std::pair<double, double> err;
  for (int variant = 0; variant < 2; ++variant) {
    DeviceBuffer<T> dout(test::nan_vector<T>(f.q.size()));  // poisoned
    if (variant == 0) KVSCHED_CUDA_CHECK(cuda::paged_attention(L, dpool.get(), c.layer, batch, max_qo, dq.get(), dout.get()));
    else KVSCHED_CUDA_CHECK(cuda::portable_path::paged_attention(L, dpool.get(), c.layer, batch, f.tables.num_q_tokens(), dq.get(), dout.get()));
    KVSCHED_CUDA_CHECK(cudaDeviceSynchronize());
    (variant == 0 ? err.first : err.second) = test::max_row_rel_error(dout.download(), ref, c.shape.head_dim);
  }
  return err;
}

template <class T>
void check_attention(double bound) {
  std::uint32_t seed = 900;
  for (std::int32_t d : {64, 128})
    for (std::int32_t bs : {8, 16, 32})
      for (auto [hk, hq] : {std::pair{2, 2}, std::pair{2, 8}, std::pair{1, 12}}) {  // MHA, GQA 4, GQA 12
        const KvShape shape{2, hk, d, bs, KvDtypeOf<T>::value};
        for (const test::AttnCase& c :
             {test::AttnCase{shape, hq, {1, 7, bs, bs + 1, 3 * bs - 1, 300}, {1, 1, 1, 1, 1, 1}, 1, seed++},
              test::AttnCase{shape, hq, {5, 2 * bs, 77, 40, 700, 9}, {5, 2 * bs, 77, 13, 100, 1}, 0, seed++}}) {
          const auto [kernel, portable] = gpu_attention_errors<T>(c);
          INFO("head_dim " << d << " block_size " << bs << " heads " << hk << "/" << hq << " seed " << c.seed << " kernel error "
                           << kernel << " portable error " << portable);
          CHECK(kernel < bound);
          CHECK(portable < bound);
        }
      }
}

}  // namespace

TEST_CASE("CUDA: write_kv (kernel and portable path) is bit-exact with the CPU reference") {
  check_write_kv<float>();
  check_write_kv<Eigen::half>();
  check_write_kv<Eigen::bfloat16>();
}

// Bounds as for the CPU reference (tests/test_backend_cpu.cpp).
TEST_CASE("CUDA: paged attention equals dense attention, fp32 (relative error < 1e-5)") { check_attention<float>(1e-5); }
TEST_CASE("CUDA: paged attention equals dense attention, fp16 (relative error < 2e-3)") { check_attention<Eigen::half>(2e-3); }
TEST_CASE("CUDA: paged attention equals dense attention, bf16 (relative error < 1.6e-2)") { check_attention<Eigen::bfloat16>(1.6e-2); }

TEST_CASE("CUDA: launchers reject what they cannot take") {
  const KvLayout L = make_kv_layout({1, 2, 96, 16, KvDtype::kF16});  // head_dim 96: no kernel
  AttentionBatch batch{};
  batch.kv.batch_size = 1;
  batch.kv.block_size = 16;
  batch.num_qo_heads = 2;
  CHECK(cuda::paged_attention(L, nullptr, 0, batch, 1, nullptr, nullptr) == cudaErrorInvalidValue);
  batch.num_qo_heads = 3;
  CHECK(cuda::portable_path::paged_attention(L, nullptr, 0, batch, 1, nullptr, nullptr) == cudaErrorInvalidValue);
  CHECK(cuda::copy_blocks_memcpy_batch(L, nullptr, nullptr, nullptr, 1, nullptr) == cudaErrorInvalidValue);
}

int main(int argc, char** argv) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    std::printf("SKIPPED: no CUDA device (%s): the CUDA backend tests need a GPU\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return 0;
  }
  return Catch::Session().run(argc, argv);
}
