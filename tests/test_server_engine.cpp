// The serving loop: scheduler -> plan -> executor -> StepResult, over the emulated GPU and the
// random tiny Llama (greedy output must not change when preemption, by swap or recompute,
// interrupts a request).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "server_test_util.hpp"
#include "source_dir.hpp"

using namespace kvsched;
using namespace kvsched::serve;
using kvsched::test::eventually;
using kvsched::test::wait_closed;

namespace {
Submission sub(std::vector<std::int32_t> prompt, std::int32_t max_tokens, double temperature = 0.0) {
  Submission s;
  s.prompt = std::move(prompt);
  s.max_tokens = max_tokens;
  s.sampling.temperature = temperature;
  s.ignore_eos = true;
  return s;
}
std::vector<std::int32_t> prompt_of(int i, int len) {
  std::vector<std::int32_t> p{256};
  for (int j = 0; j < len; ++j) p.push_back(32 + (i * 7 + j * 3) % 90);
  return p;
}
}  // namespace

TEST_CASE("server engine: emulated requests run to max_tokens or to a stop string", "[server][engine]") {
  auto engine = test::emulated_engine(0.0);
  std::vector<Submitted> subs;
  for (int i = 0; i < 3; ++i) subs.push_back(engine->submit(sub(std::vector<std::int32_t>(100 + i, 'a'), 20 + i)));
  Submission stop = sub(std::vector<std::int32_t>(10, 'a'), 100);
  stop.stop = {"che"};  // the placeholder text is "kvsched kvsched ..." (cycled from the prompt length)
  const Submitted st = engine->submit(stop);
  for (int i = 0; i < 3; ++i) {
    const auto snap = wait_closed(*subs[i].stream);
    CHECK(snap.finish == FinishReason::kLength);
    CHECK(snap.completion_tokens == 20 + i);
    CHECK(snap.text.size() == static_cast<std::size_t>(20 + i));
  }
  const auto snap = wait_closed(*st.stream);
  CHECK(snap.finish == FinishReason::kStop);
  CHECK(snap.text.find("che") == std::string::npos);
  CHECK(snap.completion_tokens < 100);
  CHECK(engine->stats().finished == 4);
  CHECK(eventually([&] { return engine->stats().free_blocks == engine->stats().total_blocks; }));
}

TEST_CASE("server engine: the queue bound gives 429, a stopped engine 503", "[server][engine]") {
  auto engine = test::emulated_engine(0.05, 256, /*max_queue=*/2);
  std::vector<Submitted> ok;
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    try {
      ok.push_back(engine->submit(sub(std::vector<std::int32_t>(16, 'a'), 4)));
    } catch (const ApiError& e) {
      CHECK(e.status() == 429);
      ++refused;
    }
  }
  CHECK(refused > 0);
  CHECK(ok.size() >= 2);
  engine->drain(std::chrono::milliseconds(5000));
  for (const auto& s : ok) CHECK(s.stream->closed());
  CHECK_THROWS_AS(engine->submit(sub({1, 2}, 2)), ApiError);
}

TEST_CASE("server engine: cancel aborts a running request and frees its blocks", "[server][engine]") {
  auto engine = test::emulated_engine(0.002);
  const Submitted s = engine->submit(sub(std::vector<std::int32_t>(64, 'a'), 1000));
  REQUIRE(eventually([&] { return s.stream->snapshot().completion_tokens > 2; }));
  engine->cancel(s.id);
  const auto snap = wait_closed(*s.stream);
  CHECK(snap.finish == FinishReason::kAbort);
  CHECK(engine->stats().aborted == 1);
  CHECK(eventually([&] { return engine->stats().free_blocks == engine->stats().total_blocks; }));
  CHECK(engine->metrics_text().find("vllm:num_requests_running{model_name=\"emu\"} 0") != std::string::npos);
}

TEST_CASE("server engine: time_scale 0 still gives ordered, non-negative latencies", "[server][engine]") {
  auto engine = test::emulated_engine(0.0);
  const Submitted s = engine->submit(sub(std::vector<std::int32_t>(32, 'a'), 8));
  (void)wait_closed(*s.stream);
  const std::string m = engine->metrics_text();
  CHECK(m.find("vllm:time_to_first_token_seconds_count{model_name=\"emu\"} 1") != std::string::npos);
  CHECK(m.find("vllm:time_to_first_token_seconds_sum{model_name=\"emu\"} -") == std::string::npos);
  CHECK(m.find("vllm:inter_token_latency_seconds_count{model_name=\"emu\"} 7") != std::string::npos);
}

TEST_CASE("server engine: greedy Llama output is the same with and without preemption", "[server][engine][model]") {
  // 8 requests of ~40 + 40 tokens need ~40 blocks of 16 tokens; 12 blocks force preemption.
  auto run = [](const std::string& policy, std::int32_t blocks) {
    auto engine = test::model_engine(policy, blocks, 128);
    std::vector<Submitted> subs;
    for (int i = 0; i < 8; ++i) subs.push_back(engine->submit(sub(prompt_of(i, 40), 40)));
    std::vector<std::string> texts;
    for (const auto& s : subs) {
      const auto snap = wait_closed(*s.stream);
      CHECK(snap.finish == FinishReason::kLength);
      texts.push_back(snap.text);
    }
    return std::make_pair(texts, engine->stats().preemptions);
  };
  for (const std::string policy : {"vllm_v1", "vllm_v0"}) {  // recompute, swap
    INFO(policy);
    const auto [roomy, p0] = run(policy, 256);
    const auto [tight, p1] = run(policy, 12);
    CHECK(p0 == 0);
    CHECK(p1 > 0);
    CHECK(tight == roomy);
  }
}

TEST_CASE("server engine: a seeded sample is reproducible, batch or not", "[server][engine][model]") {
  auto engine = test::model_engine("vllm_v1", 256, 128);
  Submission a = sub(prompt_of(1, 20), 24, 1.0);
  a.sampling.seed = 5;
  const auto alone = wait_closed(*engine->submit(a).stream).text;
  std::vector<Submitted> crowd;
  for (int i = 0; i < 4; ++i) crowd.push_back(engine->submit(sub(prompt_of(i + 3, 30), 30, 1.0)));
  const auto together = wait_closed(*engine->submit(a).stream).text;
  for (const auto& c : crowd) (void)wait_closed(*c.stream);
  CHECK(alone == together);
}

TEST_CASE("server engine: a Hugging Face folder with tokenizer.json is served through its BPE tokenizer", "[server][engine][model]") {
  namespace fs = std::filesystem;
  const fs::path fx = test::source_dir() / "tests" / "fixtures";
  const fs::path dir = fs::temp_directory_path() / ("kvsched_server_bpe_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors"}) fs::copy_file(fx / "llama_tiny" / f, dir / f, fs::copy_options::overwrite_existing);
  fs::copy_file(fx / "bpe_tiny" / "tokenizer.json", dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  auto m = ModelExecutor::from_dir(dir.string());
  const auto vocab = m.config().vocab_size;
  ModelTokenizer tok = ModelTokenizer::for_dir(dir.string(), vocab);
  CHECK(tok.is_bpe());
  const auto ids = tok.encode("hello hello world");
  CHECK(ids.front() == 1);                           // config.json bos_token_id
  CHECK(ids.size() < std::string("hello hello world").size());  // merged pieces, not bytes
  CHECK(tok.eos() == 2);
  EngineConfig e;
  e.num_device_blocks = 64;
  e.num_host_blocks = 64;
  e.max_model_len = 256;
  auto exec = std::make_unique<ModelExecutor>(std::move(m), "fixture", e.block_size, 64, 64, 256, std::move(tok));
  const std::vector<std::int32_t> prompt = exec->encode("hello world");
  LatencyCoeffs c;
  c.cpu_overhead_s = 0.001;
  ServingEngine engine(make_scheduler("vllm_v1", e, LatencyModel(c)), std::move(exec));
  Submission s = sub(prompt, 12);
  s.ignore_eos = false;
  const auto snap = wait_closed(*engine.submit(s).stream);
  CHECK((snap.finish == FinishReason::kLength || snap.finish == FinishReason::kStop));
  CHECK(snap.completion_tokens >= 1);
  fs::remove_all(dir);
}
