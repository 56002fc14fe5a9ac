// The portable Thrust path (kvsched/backend/portable/) run on the CPU through thrust::device,
// which this executable maps to Thrust's CPP or OMP system (THRUST_DEVICE_SYSTEM): the same
// functors the CUDA library runs on the GPU. Compared with the CPU reference and the dense one.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include <thrust/execution_policy.h>

#include "backend_test_util.hpp"
#include "kvsched/backend/portable/portable_ops.hpp"

using namespace kvsched;

namespace {

bool same_bytes(const KvPool& a, const KvPool& b) {
  return a.size_bytes() == b.size_bytes() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

void randomize(KvPool& pool, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (auto& b : pool.bytes()) b = static_cast<std::byte>(rng() & 0xFF);
}

}  // namespace

TEST_CASE("Thrust path: block copies equal the CPU reference bit for bit") {
  // Block sizes in bytes divisible by 8, by 4 only, and by 2 only (odd head_dim): all word paths.
  for (const KvShape& s : {KvShape{2, 2, 64, 16, KvDtype::kF16}, KvShape{1, 1, 3, 1, KvDtype::kF32}, KvShape{1, 1, 3, 1, KvDtype::kBF16}}) {
    const KvLayout L = make_kv_layout(s);
    KvPool dev_ref(L, 10), host_ref(L, 6), dev(L, 10), host(L, 6);
    randomize(dev_ref, 1);
    randomize(host_ref, 2);
    std::memcpy(dev.data(), dev_ref.data(), dev.size_bytes());
    std::memcpy(host.data(), host_ref.data(), host.size_bytes());
    const std::vector<BlockCopy> out{{3, 0}, {7, 5}, {1, 2}}, in{{4, 3}, {0, 9}}, cow{{9, 8}, {2, 6}};
    copy_blocks_cpu(dev_ref, host_ref, out, "swap_out");
    copy_blocks_cpu(host_ref, dev_ref, in, "swap_in");
    copy_blocks_cpu(dev_ref, dev_ref, cow, "copy");
    portable::copy_blocks(thrust::device, L, dev.data(), host.data(), out.data(), 3);
    portable::copy_blocks(thrust::device, L, host.data(), dev.data(), in.data(), 2);
    portable::copy_blocks(thrust::device, L, dev.data(), dev.data(), cow.data(), 2);
    CHECK(same_bytes(dev, dev_ref));
    CHECK(same_bytes(host, host_ref));
  }
}

TEST_CASE("Thrust path: write_kv equals the CPU reference, padding skipped") {
  const KvLayout L = make_kv_layout({3, 2, 16, 8, KvDtype::kBF16});
  KvPool ref(L, 5), pool(L, 5);
  ref.fill(std::byte{0xFF});
  pool.fill(std::byte{0xFF});
  const std::vector<std::int64_t> slots{0, 17, -1, 39, 8, -1, 22};
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  const std::size_t n = slots.size() * static_cast<std::size_t>(L.token_stride);
  for (std::int32_t layer = 0; layer < L.num_layers; ++layer) {
    std::vector<Eigen::bfloat16> k(n), v(n);
    for (auto& x : k) x = Eigen::bfloat16(uni(rng));
    for (auto& x : v) x = Eigen::bfloat16(uni(rng));
    write_kv_cpu<Eigen::bfloat16>(ref, layer, k, v, slots);
    portable::write_kv(thrust::device, L, pool.elements<Eigen::bfloat16>().data(), layer, k.data(), v.data(), slots.data(),
                       static_cast<std::int32_t>(slots.size()));
  }
  CHECK(same_bytes(pool, ref));
}

namespace {

template <class T>
void check_attention(double bound) {
  std::uint32_t seed = 500;
  double worst = 0;
  for (std::int32_t d : {64, 128})
    for (std::int32_t bs : {8, 16, 32}) {
      const KvShape shape{2, 2, d, bs, KvDtypeOf<T>::value};
      for (const test::AttnCase& c : {test::AttnCase{shape, 8, {1, 9, bs, 2 * bs + 3, 70}, {1, 1, 1, 1, 1}, 1, seed++},
                                      test::AttnCase{shape, 4, {6, 50, 33, 2 * bs}, {6, 17, 33, 1}, 0, seed++}}) {
        test::AttnFixture<T> f(c);
        const AttentionBatch batch = f.tables.batch(c.num_qo_heads);
        auto out = test::nan_vector<T>(f.q.size());
        portable::paged_attention(thrust::device, f.backend.layout(), f.backend.device_pool().template elements<T>().data(),
                                  c.layer, batch, f.tables.num_q_tokens(), f.q.data(), out.data());
        const double err = test::max_row_rel_error(out, test::dense_attention(c, f), d);
        INFO("head_dim " << d << " block_size " << bs << " seed " << c.seed << " error " << err);
        CHECK(err < bound);
        worst = std::max(worst, err);
      }
    }
  INFO("worst relative error " << worst);
  CHECK(worst < bound);
}

}  // namespace

// Same bounds as the CPU reference (tests/test_backend_cpu.cpp).
TEST_CASE("Thrust path: paged attention equals dense attention, fp32 (relative error < 1e-5)") { check_attention<float>(1e-5); }
TEST_CASE("Thrust path: paged attention equals dense attention, fp16 (relative error < 2e-3)") { check_attention<Eigen::half>(2e-3); }
TEST_CASE("Thrust path: paged attention equals dense attention, bf16 (relative error < 1.6e-2)") { check_attention<Eigen::bfloat16>(1.6e-2); }
