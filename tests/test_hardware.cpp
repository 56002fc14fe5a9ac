// Model and GPU presets, KV bytes per token and KV pool sizing (kvsched/hardware/hardware.hpp).
#include <algorithm>
#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/io/csv_table.hpp"
#include "source_dir.hpp"

using kvsched::gpu_preset;
using kvsched::kv_pool_blocks;
using kvsched::model_preset;

namespace {
/// what() of the std::invalid_argument that `f` throws; the test fails when it throws none.
template <class F>
std::string invalid_argument_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("no std::invalid_argument");
  return {};
}
}  // namespace

TEST_CASE("KV bytes per token of the model presets") {
  CHECK(model_preset("llama2-7b").kv_bytes_per_token() == 512 * 1024);  // 2 x 32 x 32 x 128 x 2
  CHECK(model_preset("llama3-8b").kv_bytes_per_token() == 128 * 1024);  // 2 x 32 x 8 x 128 x 2
}

TEST_CASE("weight bytes of the model presets equal the parameter count of their geometry") {
  for (const auto& name : kvsched::model_preset_names()) {
    const auto m = model_preset(name);
    INFO(name);
    CHECK(m.hidden == m.num_q_heads * m.head_dim);
    CHECK(m.weight_bytes == m.llama_param_count() * m.dtype_bytes);
  }
  CHECK(model_preset("llama2-7b").llama_param_count() == 6'738'415'616);
  CHECK(model_preset("llama3-8b").llama_param_count() == 8'030'261'248);
}

TEST_CASE("model presets match the geometry columns of their Vidur mlp profile") {
  for (const auto& name : kvsched::model_preset_names()) {
    const auto m = model_preset(name);
    const auto t =
        kvsched::io::CsvTable::read(kvsched::test::data_dir() / "vidur_profiling" / "a100" / m.vidur_dir / "mlp.csv");
    INFO(name);
    REQUIRE(t.num_rows() > 0);
    CHECK(t.integer(0, t.column("n_head")) == m.num_q_heads);
    CHECK(t.integer(0, t.column("n_kv_head")) == m.num_kv_heads);
    CHECK(t.integer(0, t.column("n_embd")) == m.hidden);
    CHECK(t.integer(0, t.column("n_expanded_embd")) == m.ffn_hidden);
  }
}

TEST_CASE("unknown presets throw and list the known names") {
  CHECK_THAT(invalid_argument_of([] { (void)model_preset("llama-13b"); }),
             Catch::Contains("llama-13b") && Catch::Contains("llama2-7b") && Catch::Contains("llama3-8b"));
  CHECK_THAT(invalid_argument_of([] { (void)gpu_preset("v100"); }),
             Catch::Contains("v100") && Catch::Contains("a100-40g") && Catch::Contains("h100-80g"));
  for (const auto& n : kvsched::gpu_preset_names()) CHECK(gpu_preset(n).name == n);
  for (const auto& n : kvsched::model_preset_names()) CHECK(model_preset(n).name == n);
}

TEST_CASE("KV pool size: exact arithmetic on a small config") {
  kvsched::ModelSpec m;
  m.name = "tiny";
  m.num_layers = 1;
  m.num_kv_heads = 1;
  m.head_dim = 64;
  m.dtype_bytes = 2;  // 256 B per token, 4096 B per 16-token block
  m.weight_bytes = 1 << 20;
  kvsched::GpuSpec g;
  g.name = "toy";
  g.memory_bytes = std::int64_t{1} << 30;
  // (1 GiB x 0.5 - 1 MiB - 1 MiB) / 4096 B = 130560 blocks.
  CHECK(kv_pool_blocks(m, g, 0.5, 16, 1 << 20) == 130560);
  // A partial block is not counted: one byte short of 130560 blocks gives 130559.
  m.weight_bytes += 1;
  CHECK(kv_pool_blocks(m, g, 0.5, 16, 1 << 20) == 130559);
}

TEST_CASE("KV pool size of Llama-2-7B on A100-80GB is within 0.1% of vLLM's reported 7351 blocks") {
  const int blocks = kv_pool_blocks(model_preset("llama2-7b"), gpu_preset("a100-80g"));  // 0.9, block 16, 2 GiB
  CHECK(blocks == 7353);  // floor((81920 MiB x 0.9 - 13476831232 B - 2 GiB) / 8 MiB)
  CHECK(std::abs(blocks - 7351) <= 0.001 * 7351);
  CHECK(kv_pool_blocks(model_preset("llama3-8b"), gpu_preset("a100-40g")) == 9749);
  // Bigger blocks: a quarter as many 64-token blocks (floor of the same bytes).
  CHECK(kv_pool_blocks(model_preset("llama2-7b"), gpu_preset("a100-80g"), 0.9, 64) == 7353 / 4);
}

TEST_CASE("an impossible KV pool config throws with the numbers") {
  // Llama-3-8B weights (16.06 GB) do not fit in 40% of an A100-40GB (17.18 GB) with 2 GiB activations.
  CHECK_THAT(invalid_argument_of([] { (void)kv_pool_blocks(model_preset("llama3-8b"), gpu_preset("a100-40g"), 0.4); }),
             Catch::Contains("llama3-8b") && Catch::Contains("a100-40g") && Catch::Contains("no room"));
  CHECK_THROWS_AS(kv_pool_blocks(model_preset("llama2-7b"), gpu_preset("a100-80g"), 0.0), std::invalid_argument);
  CHECK_THROWS_AS(kv_pool_blocks(model_preset("llama2-7b"), gpu_preset("a100-80g"), 1.5), std::invalid_argument);
  CHECK_THROWS_AS(kv_pool_blocks(model_preset("llama2-7b"), gpu_preset("a100-80g"), 0.9, 0), std::invalid_argument);
  CHECK_THROWS_AS(kv_pool_blocks(model_preset("llama2-7b"), gpu_preset("a100-80g"), 0.9, 16, -1),
                  std::invalid_argument);
}

TEST_CASE("GPU host-link numbers are the ones in the bundled PCIe reports") {
  const auto t =
      kvsched::io::CsvTable::read(kvsched::test::data_dir() / "pcie_hostdevice_reported" / "host_device_copy_reported.csv");
  const auto url = t.column("source_url"), dir = t.column("direction"), bw = t.column("bandwidth_GBps"),
             lat = t.column("latency_us"), desc = t.column("transfer_desc");
  double a100_h2d = 0, h100_h2d = 0, h100_d2h = 0, copy_latency_us = 0;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    const std::string u(t.cell(r, url));
    if (u.ends_with("nvbandwidth/issues/42") && t.cell(r, desc) == "single buffer 1 GiB") a100_h2d = t.number(r, bw);
    if (u.ends_with("nvbandwidth/issues/24") && t.cell(r, dir) == "H2D") h100_h2d = t.number(r, bw);
    if (u.ends_with("nvbandwidth/issues/24") && t.cell(r, dir) == "D2H") h100_d2h = t.number(r, bw);
    if (u.ends_with("imp/pull/1357") && t.cell(r, dir) == "D2H") copy_latency_us = t.number(r, lat);
  }
  CHECK(gpu_preset("a100-40g").host_link_bytes_per_s == Approx(a100_h2d * 1e9));
  CHECK(gpu_preset("a100-80g").host_link_bytes_per_s == Approx(a100_h2d * 1e9));
  CHECK(gpu_preset("h100-80g").host_link_bytes_per_s == Approx(std::min(h100_h2d, h100_d2h) * 1e9));
  for (const auto& n : kvsched::gpu_preset_names())
    CHECK(gpu_preset(n).host_copy_latency_s == Approx(copy_latency_us * 1e-6));
}
