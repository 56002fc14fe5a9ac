// The Llama forward over the CPU backend's paged KV cache (random tiny model): paged
// attention over shuffled block tables equals the dense contiguous-KV forward, chunked
// prefill equals whole-prompt prefill, prefill chunks and decodes mix in one batch.
// Run with: ctest -R test_model_forward
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "kvsched/model/llama_model.hpp"
#include "kvsched/model/plan_batch.hpp"
#include "kvsched/model/tokenizer.hpp"

using namespace kvsched;
using namespace kvsched::model;

namespace {

const LlamaModel& tiny_model() {
  static const LlamaModel m(LlamaConfig::random_tiny(), random_weights(LlamaConfig::random_tiny(), 7));
  return m;
}

std::vector<std::int32_t> random_tokens(std::size_t n, std::uint64_t seed, std::int32_t vocab) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> u(0, vocab - 1);
  std::vector<std::int32_t> t(n);
  for (auto& x : t) x = u(rng);
  return t;
}

/// Hands out the blocks of a pool in a random order, so block tables are not contiguous.
struct ShuffledBlocks {
  std::vector<BlockId> free;
  ShuffledBlocks(std::int32_t n, std::uint64_t seed) : free(static_cast<std::size_t>(n)) {
    std::iota(free.begin(), free.end(), 0);
    std::mt19937_64 rng(seed);
    std::shuffle(free.begin(), free.end(), rng);
  }
  std::vector<BlockId> take(std::int64_t k) {
    REQUIRE(static_cast<std::int64_t>(free.size()) >= k);
    std::vector<BlockId> t(free.end() - k, free.end());
    free.resize(free.size() - static_cast<std::size_t>(k));
    return t;
  }
};

double max_abs_diff(const Mat& a, const Mat& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return static_cast<double>((a - b).cwiseAbs().maxCoeff());
}

}  // namespace

TEST_CASE("model: paged forward over shuffled block tables equals the dense forward (whole prompts, fp32 KV)") {
  const LlamaModel& m = tiny_model();
  constexpr std::int32_t kBs = 16;
  CpuBackend backend(m.kv_shape(kBs), 64, 0);
  backend.device_pool().fill(std::byte{0xFF});  // NaN where nothing was written
  ShuffledBlocks blocks(64, 3);
  const std::vector<std::size_t> lens{1, 17, 50, 64};
  std::vector<std::vector<std::int32_t>> prompts;
  std::vector<std::vector<BlockId>> tables;
  std::vector<SequenceStep> batch;
  for (std::size_t i = 0; i < lens.size(); ++i) {
    prompts.push_back(random_tokens(lens[i], 100 + i, m.config().vocab_size));
    tables.push_back(blocks.take(blocks_for_tokens(static_cast<std::int64_t>(lens[i]), kBs)));
  }
  for (std::size_t i = 0; i < lens.size(); ++i) batch.push_back({i, prompts[i], 0, tables[i]});
  const ForwardOutput out = m.forward(batch, backend, true);
  REQUIRE(out.all_logits.rows() == 1 + 17 + 50 + 64);
  REQUIRE(out.last_logits.rows() == 4);
  Eigen::Index row = 0;
  double worst = 0;
  for (std::size_t i = 0; i < lens.size(); ++i) {
    const Mat dense = m.forward_dense(prompts[i]);
    const Mat paged = out.all_logits.middleRows(row, dense.rows());
    worst = std::max(worst, max_abs_diff(paged, dense));
    CHECK(max_abs_diff(out.last_logits.row(static_cast<Eigen::Index>(i)), paged.bottomRows(1)) == 0.0);
    row += dense.rows();
  }
  INFO("max |paged - dense| = " << worst);
  CHECK(worst < 1e-5);
  CHECK(out.all_logits.allFinite());
}

TEST_CASE("model: chunked prefill (several chunk sizes) and decode equal the whole-prompt forward") {
  const LlamaModel& m = tiny_model();
  constexpr std::int32_t kBs = 16;
  const auto prompt = random_tokens(75, 11, m.config().vocab_size);
  const Mat dense = m.forward_dense(prompt);
  for (std::int32_t chunk : {1, 7, 16, 32, 75}) {
    CpuBackend backend(m.kv_shape(kBs), 12, 0);
    backend.device_pool().fill(std::byte{0xFF});
    ShuffledBlocks blocks(12, static_cast<std::uint64_t>(chunk));
    const auto table = blocks.take(blocks_for_tokens(75, kBs));
    double worst = 0;
    for (std::int32_t start = 0; start < 75; start += chunk) {
      const std::int32_t n = std::min(chunk, 75 - start);
      const SequenceStep s{1, std::span(prompt).subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(n)), start, table};
      const ForwardOutput out = m.forward(std::span(&s, 1), backend, true);
      worst = std::max(worst, max_abs_diff(out.all_logits, dense.middleRows(start, n)));
    }
    INFO("chunk " << chunk << ": max |chunked - dense| = " << worst);
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("model: one batch mixes a prefill chunk continuing a partial prompt with decodes") {
  const LlamaModel& m = tiny_model();
  constexpr std::int32_t kBs = 8;
  CpuBackend backend(m.kv_shape(kBs), 40, 0);
  backend.device_pool().fill(std::byte{0xFF});
  ShuffledBlocks blocks(40, 5);
  const auto a = random_tokens(40, 21, m.config().vocab_size), b = random_tokens(30, 22, m.config().vocab_size),
             c = random_tokens(25, 23, m.config().vocab_size);
  const auto ta = blocks.take(5), tb = blocks.take(4), tc = blocks.take(4);
  // Step 1: a's first 20 tokens, b's first 29, c whole but one token.
  {
    const std::vector<SequenceStep> s{{1, std::span(a).first(20), 0, ta}, {2, std::span(b).first(29), 0, tb}, {3, std::span(c).first(24), 0, tc}};
    (void)m.forward(s, backend);
  }
  // Step 2: a continues with 20 more (chunked prefill), b and c decode their last token.
  const std::vector<SequenceStep> s{{1, std::span(a).subspan(20), 20, ta}, {2, std::span(b).subspan(29), 29, tb}, {3, std::span(c).subspan(24), 24, tc}};
  const ForwardOutput out = m.forward(s, backend, true);
  REQUIRE(out.all_logits.rows() == 22);
  CHECK(max_abs_diff(out.all_logits.topRows(20), m.forward_dense(a).bottomRows(20)) < 1e-5);
  CHECK(max_abs_diff(out.last_logits.row(1), m.forward_dense(b).bottomRows(1)) < 1e-5);
  CHECK(max_abs_diff(out.last_logits.row(2), m.forward_dense(c).bottomRows(1)) < 1e-5);
}

TEST_CASE("model: fp16 and bf16 KV caches stay close to the fp32 forward") {
  const LlamaModel& m = tiny_model();
  const auto prompt = random_tokens(40, 31, m.config().vocab_size);
  const Mat dense = m.forward_dense(prompt);
  for (KvDtype d : {KvDtype::kF16, KvDtype::kBF16}) {
    CpuBackend backend(m.kv_shape(16, d), 4, 0);
    const std::vector<BlockId> table{2, 0, 3};
    const SequenceStep s{1, prompt, 0, table};
    const double err = max_abs_diff(m.forward(std::span(&s, 1), backend, true).all_logits, dense);
    const double spread = static_cast<double>(dense.cwiseAbs().maxCoeff());
    INFO(to_string(d) << ": max |logit error| " << err << " of max |logit| " << spread);
    CHECK(err > 0.0);  // rounding did happen (the cache is not fp32 in disguise)
    CHECK(err < (d == KvDtype::kF16 ? 1e-2 : 5e-2) * spread);
  }
}

TEST_CASE("model: bad batches fail with the request named") {
  const LlamaModel& m = tiny_model();
  CpuBackend backend(m.kv_shape(16), 4, 0);
  const std::vector<std::int32_t> toks(20, 1);
  const std::vector<BlockId> one{0};
  SequenceStep s{42, toks, 0, one};
  CHECK_THROWS_WITH(m.forward(std::span(&s, 1), backend), Catch::Contains("request 42") && Catch::Contains("2 needed"));
  const std::vector<std::int32_t> bad_tok{1, 9999};
  s = {43, bad_tok, 0, one};
  CHECK_THROWS_WITH(m.forward(std::span(&s, 1), backend), Catch::Contains("token id 9999"));
  CpuBackend wrong(KvShape{2, 2, 64, 16, KvDtype::kF32}, 4, 0);
  s = {44, std::span(toks).first(3), 0, one};
  CHECK_THROWS_WITH(m.forward(std::span(&s, 1), wrong), Catch::Contains("not the model's"));
}

TEST_CASE("model: byte tokenizer round-trips bytes and reserves bos/eos") {
  const ByteTokenizer tok(512);
  const std::string text("h\xC3\xA9llo \x00\xFF", 9);
  const auto ids = tok.encode(text);
  REQUIRE(ids.size() == text.size() + 1);
  CHECK(ids.front() == ByteTokenizer::kBos);
  CHECK(tok.decode(ids) == text);
  CHECK(tok.decode({ByteTokenizer::kEos, 'a', 300}) == "a");
  CHECK_THROWS_WITH(ByteTokenizer(100), Catch::Contains("vocab_size 100"));
}
