// CPU backend: layout, block swap/copy, KV write and paged attention against a dense reference.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>
#include <random>

#include "backend_test_util.hpp"
#include "kvsched/backend/cpu_backend.hpp"

using namespace kvsched;

namespace {

// Fills every block of `pool` with random bytes.
void randomize(KvPool& pool, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (auto& b : pool.bytes()) b = static_cast<std::byte>(rng() & 0xFF);
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

const KvShape kSmall{2, 2, 8, 4, KvDtype::kF32};  // 2 layers, 2 KV heads, head_dim 8, 4 tokens per block

}  // namespace

TEST_CASE("KvLayout: block-major offsets, strides and sizes") {
  const KvLayout L = make_kv_layout(kSmall);
  CHECK(L.token_stride == 16);
  CHECK(L.kv_stride == 64);
  CHECK(L.layer_stride == 128);
  CHECK(L.block_stride == 256);
  CHECK(L.bytes_per_block() == 1024);
  // block 3, layer 1, V, token 2, head 1
  CHECK(L.offset(3, 1, 1, 2, 1) == 3 * 256 + 128 + 64 + 2 * 16 + 8);
  CHECK(L.slot_offset(3 * 4 + 2, 1, 1, 1) == L.offset(3, 1, 1, 2, 1));
  // docs/design.md section 4: Llama-2-7B fp16 512 KiB per token, Llama-3-8B 128 KiB.
  CHECK(KvShape{32, 32, 128, 16, KvDtype::kF16}.bytes_per_token() == 512 * 1024);
  CHECK(KvShape{32, 8, 128, 16, KvDtype::kF16}.bytes_per_token() == 128 * 1024);
  CHECK(make_kv_layout({32, 8, 128, 16, KvDtype::kF16}).bytes_per_block() == 16 * 128 * 1024);
  CHECK_THROWS_WITH(make_kv_layout({2, 0, 8, 4, KvDtype::kF32}), Catch::Contains("KvShape.num_kv_heads"));
  CHECK(parse_kv_dtype("bf16") == KvDtype::kBF16);
  CHECK_THROWS_WITH(parse_kv_dtype("int8"), Catch::Contains("int8"));
}

TEST_CASE("CpuBackend: swap out then in is bit-exact") {
  for (KvDtype dt : {KvDtype::kF32, KvDtype::kF16, KvDtype::kBF16}) {
    CpuBackend be({3, 2, 64, 16, dt}, 12, 8);
    randomize(be.device_pool(), 7);
    const std::vector<std::byte> before(be.device_pool().bytes().begin(), be.device_pool().bytes().end());
    const std::vector<BlockCopy> out{{1, 5}, {4, 0}, {9, 7}};
    be.swap_out(out);
    for (auto c : out) CHECK(same_bytes(be.host_pool().block_bytes(c.dst), be.device_pool().block_bytes(c.src)));
    be.device_pool().fill(std::byte{0xFF});  // the device blocks are reused by others meanwhile
    const std::vector<BlockCopy> in{{5, 11}, {0, 2}, {7, 3}};  // back into different device blocks
    be.swap_in(in);
    const auto bpb = static_cast<std::size_t>(be.layout().bytes_per_block());
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::span<const std::byte> orig(before.data() + static_cast<std::size_t>(out[i].src) * bpb, bpb);
      CHECK(same_bytes(be.device_pool().block_bytes(in[i].dst), orig));
    }
  }
}

TEST_CASE("CpuBackend: copy-on-write copies the block and leaves the source intact") {
  CpuBackend be(kSmall, 6, 0);
  randomize(be.device_pool(), 3);
  const std::vector<std::byte> before(be.device_pool().bytes().begin(), be.device_pool().bytes().end());
  be.copy(std::vector<BlockCopy>{{2, 4}, {0, 1}});
  const auto bpb = static_cast<std::size_t>(be.layout().bytes_per_block());
  auto orig = [&](BlockId b) { return std::span<const std::byte>(before.data() + static_cast<std::size_t>(b) * bpb, bpb); };
  CHECK(same_bytes(be.device_pool().block_bytes(4), orig(2)));
  CHECK(same_bytes(be.device_pool().block_bytes(1), orig(0)));
  for (BlockId b : {0, 2, 3, 5}) CHECK(same_bytes(be.device_pool().block_bytes(b), orig(b)));
}

TEST_CASE("CpuBackend: apply() runs swap_out, then swap_in, then copy") {
  CpuBackend be(kSmall, 4, 4);
  randomize(be.device_pool(), 11);
  randomize(be.host_pool(), 12);
  const std::vector<std::byte> dev0(be.device_pool().bytes().begin(), be.device_pool().bytes().end());
  const std::vector<std::byte> host0(be.host_pool().bytes().begin(), be.host_pool().bytes().end());
  const auto bpb = static_cast<std::size_t>(be.layout().bytes_per_block());
  auto blk = [&](const std::vector<std::byte>& v, BlockId b) { return std::span<const std::byte>(v.data() + static_cast<std::size_t>(b) * bpb, bpb); };
  // Device block 1 goes out to host 3; host 0 comes into the freed device block 1; device 1
  // (now host 0's data) is copied to device 2. Only the plan order gives these results.
  SchedulePlan plan;
  plan.swap_out = {{1, 3}};
  plan.swap_in = {{0, 1}};
  plan.copy = {{1, 2}};
  be.apply(plan);
  CHECK(same_bytes(be.host_pool().block_bytes(3), blk(dev0, 1)));
  CHECK(same_bytes(be.device_pool().block_bytes(1), blk(host0, 0)));
  CHECK(same_bytes(be.device_pool().block_bytes(2), blk(host0, 0)));
  CHECK(same_bytes(be.device_pool().block_bytes(0), blk(dev0, 0)));
  CHECK(same_bytes(be.device_pool().block_bytes(3), blk(dev0, 3)));
}

TEST_CASE("CpuBackend: a bad block id throws, names the list and copies nothing") {
  CpuBackend be(kSmall, 4, 2);
  randomize(be.device_pool(), 5);
  const std::vector<std::byte> host0(be.host_pool().bytes().begin(), be.host_pool().bytes().end());
  CHECK_THROWS_WITH(be.swap_out(std::vector<BlockCopy>{{0, 1}, {1, 2}}), Catch::Contains("swap_out[1].dst = 2"));
  CHECK(same_bytes(be.host_pool().bytes(), host0));  // pair 0 was not applied either
  CHECK_THROWS_AS(be.swap_in(std::vector<BlockCopy>{{-1, 0}}), std::out_of_range);
  CHECK_THROWS_WITH(be.copy(std::vector<BlockCopy>{{4, 0}}), Catch::Contains("copy[0].src = 4"));
}

TEST_CASE("CpuBackend: write_kv writes each token's heads at its slot and skips padding (-1)") {
  CpuBackend be(kSmall, 3, 0);
  const KvLayout& L = be.layout();
  be.device_pool().fill(std::byte{0xFF});
  const std::size_t row = static_cast<std::size_t>(L.token_stride);
  const std::vector<std::int64_t> slots{9, -1, 2, 7};  // block 2 off 1, padding, block 0 off 2, block 1 off 3
  std::vector<float> k(slots.size() * row), v(slots.size() * row);
  for (std::size_t i = 0; i < k.size(); ++i) {
    k[i] = static_cast<float>(i);
    v[i] = -static_cast<float>(i) - 1.0f;
  }
  be.write_kv<float>(1, k, v, slots);
  const auto pool = be.device_pool().elements<float>();
  std::size_t written = 0;
  for (std::size_t t = 0; t < slots.size(); ++t) {
    if (slots[t] < 0) continue;
    for (std::int32_t h = 0; h < L.num_kv_heads; ++h)
      for (std::int32_t d = 0; d < L.head_dim; ++d) {
        const std::size_t src = t * row + static_cast<std::size_t>(h * L.head_dim + d);
        CHECK(pool[static_cast<std::size_t>(L.slot_offset(slots[t], 1, 0, h) + d)] == k[src]);
        CHECK(pool[static_cast<std::size_t>(L.slot_offset(slots[t], 1, 1, h) + d)] == v[src]);
        written += 2;
      }
  }
  std::size_t finite = 0;
  for (float x : pool) finite += std::isnan(x) ? 0 : 1;
  CHECK(finite == written);  // nothing else touched: padding and layer 0 stay poisoned
  CHECK_THROWS_WITH(be.write_kv<float>(1, k, v, std::vector<std::int64_t>{0, 1, 2, 12}), Catch::Contains("slot_mapping[3] = 12"));
  CHECK_THROWS_WITH(be.write_kv<float>(2, k, v, slots), Catch::Contains("layer 2"));
  std::vector<Eigen::half> kh(k.size());
  CHECK_THROWS_WITH(be.write_kv<Eigen::half>(0, kh, kh, slots), Catch::Contains("element type of fp16"));
}

namespace {

// Ragged scenarios: decode batches and chunked prefills (first chunks, later chunks, and a mix).
std::vector<test::AttnCase> attention_cases(KvDtype dt, std::int32_t head_dim) {
  std::vector<test::AttnCase> cases;
  std::uint32_t seed = 100;
  for (std::int32_t bs : {8, 16, 32}) {
    for (auto [hk, hq] : {std::pair{2, 2}, std::pair{2, 8}}) {  // MHA and GQA (group of 4)
      const KvShape shape{2, hk, head_dim, bs, dt};
      // decode: one query per request, ragged contexts (1 token, partial and full blocks)
      cases.push_back({shape, hq, {1, 7, bs, bs + 1, 3 * bs - 1, 131}, {1, 1, 1, 1, 1, 1}, 1, seed++});
      // prefill: whole prompts (qo == kv), later chunks after a cached prefix, and decodes mixed in
      cases.push_back({shape, hq, {5, 2 * bs, 77, 40, 90, 9}, {5, 2 * bs, 77, 13, 70, 1}, 0, seed++});
    }
  }
  return cases;
}

template <class T>
double worst_attention_error(std::int32_t head_dim) {
  double worst = 0;
  for (const auto& c : attention_cases(KvDtypeOf<T>::value, head_dim)) {
    test::AttnFixture<T> f(c);
    auto out = test::nan_vector<T>(f.q.size());
    f.backend.template paged_attention<T>(c.layer, f.tables.batch(c.num_qo_heads), f.q, out);
    const double err = test::max_row_rel_error(out, test::dense_attention(c, f), head_dim);
    INFO("block_size " << c.shape.block_size << " kv_heads " << c.shape.num_kv_heads << " qo_heads " << c.num_qo_heads
                       << " seed " << c.seed << " error " << err);
    CHECK(err < 1.0);  // per-case sanity; the bound per dtype is checked by the caller
    worst = std::max(worst, err);
  }
  return worst;
}

}  // namespace

TEST_CASE("CpuBackend: paged attention equals dense attention, fp32 (relative error < 1e-5)") {
  for (std::int32_t d : {64, 128}) {
    const double err = worst_attention_error<float>(d);
    INFO("head_dim " << d << " worst relative error " << err);
    CHECK(err < 1e-5);
  }
}

// Bounds measured on these cases (max over rows of max|out - ref| / max|ref|), with margin:
// the output is rounded to the element type once, so the error is about one unit in the
// last place: fp16 2^-11 = 4.9e-4, bf16 2^-8 = 3.9e-3.
TEST_CASE("CpuBackend: paged attention equals dense attention, fp16 (relative error < 2e-3)") {
  for (std::int32_t d : {64, 128}) {
    const double err = worst_attention_error<Eigen::half>(d);
    INFO("head_dim " << d << " worst relative error " << err);
    CHECK(err < 2e-3);
  }
}

TEST_CASE("CpuBackend: paged attention equals dense attention, bf16 (relative error < 1.6e-2)") {
  for (std::int32_t d : {64, 128}) {
    const double err = worst_attention_error<Eigen::bfloat16>(d);
    INFO("head_dim " << d << " worst relative error " << err);
    CHECK(err < 1.6e-2);
  }
}

TEST_CASE("CpuBackend: paged attention rejects bad calls with the field named") {
  const test::AttnCase c{{2, 2, 64, 16, KvDtype::kF32}, 4, {20, 3}, {1, 1}, 0, 9};
  test::AttnFixture<float> f(c);
  auto out = test::nan_vector<float>(f.q.size());
  CHECK_THROWS_WITH(f.backend.paged_attention<float>(0, f.tables.batch(3), f.q, out), Catch::Contains("num_qo_heads 3"));
  CHECK_THROWS_WITH(f.backend.paged_attention<float>(5, f.tables.batch(4), f.q, out), Catch::Contains("layer 5"));
  std::vector<float> short_q(f.q.begin(), f.q.end() - 1);
  CHECK_THROWS_WITH(f.backend.paged_attention<float>(0, f.tables.batch(4), short_q, out), Catch::Contains("q/out hold"));
  auto bad = f.tables.batch(4);
  const std::vector<BlockId> idx{0, 99, 1};
  bad.kv.indices = idx.data();
  CHECK_THROWS_WITH(f.backend.paged_attention<float>(0, bad, f.q, out), Catch::Contains("block 99"));
  PagedKvTables t(16);
  CHECK_THROWS_WITH(t.add(std::vector<BlockId>{0}, 17), Catch::Contains("2 needed for 17 tokens"));
  CHECK_THROWS_WITH(t.add(std::vector<BlockId>{0}, 4, 5), Catch::Contains("qo_len 5"));
}
