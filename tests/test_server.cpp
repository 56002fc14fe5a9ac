// The minimal server: request parsing, the engine thread, and the HTTP API on loopback,
// including a client that disconnects mid-stream (its request is aborted, blocks freed).
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include <kvsched/kvsched.hpp>
#include <kvsched/serve/http_routes.hpp>

using namespace kvsched;
using namespace kvsched::serve;

namespace {
std::unique_ptr<ServingEngine> make_engine(double min_step_s) {
  EngineConfig e;
  e.num_device_blocks = 256;
  e.num_host_blocks = 64;
  e.max_model_len = 2048;
  LatencyCoeffs c;
  c.cpu_overhead_s = 0.001;
  return std::make_unique<ServingEngine>(make_scheduler("vllm_v1", e, LatencyModel(c)), LatencyModel(c), /*time_scale=*/0.0,
                                         min_step_s);
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}
}  // namespace

TEST_CASE("server: completion requests are validated field by field", "[server]") {
  bool stream = false;
  CHECK_THROWS_WITH(parse_completion_request("{", &stream), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(parse_completion_request(R"({"max_tokens": 4})", &stream), Catch::Contains("prompt_tokens"));
  CHECK_THROWS_WITH(parse_completion_request(R"({"prompt_tokens": 0, "max_tokens": 4})", &stream), Catch::Contains("prompt_tokens"));
  CHECK_THROWS_WITH(parse_completion_request(R"({"prompt_tokens": 4, "max_tokens": "x"})", &stream), Catch::Contains("max_tokens"));
  CHECK_THROWS_WITH(parse_completion_request(R"({"prompt_tokens": 4, "max_tokens": 2, "slo": {"tbt_s": "x"}})", &stream),
                    Catch::Contains("slo.tbt_s"));
  const RequestSpec s = parse_completion_request(R"({"prompt": "one two three", "max_tokens": 5, "stream": true, "slo": {"tbt_s": 0.1}})", &stream);
  CHECK(s.prompt_tokens == 3);
  CHECK(s.max_tokens == 5);
  CHECK(stream);
  CHECK(s.slo.tbt_s == Approx(0.1));
}

TEST_CASE("server: the engine thread streams every token and closes finished requests", "[server]") {
  auto engine = make_engine(0.0);
  std::vector<std::shared_ptr<TokenStream>> streams;
  for (int i = 0; i < 3; ++i) {
    RequestSpec s;
    s.prompt_tokens = 100 + i;
    s.max_tokens = 20 + i;
    streams.push_back(engine->submit(s));
  }
  for (std::size_t i = 0; i < streams.size(); ++i) {
    REQUIRE(eventually([&] { return streams[i]->closed(); }));
    CHECK(streams[i]->state() == RequestState::kFinished);
    CHECK(streams[i]->size() == 20 + i);
  }
  CHECK(engine->stats().finished == 3);
  CHECK(engine->stats().tokens == 63);
}

TEST_CASE("server: HTTP completions, errors, streaming and a client that disconnects", "[server][http]") {
  auto engine = make_engine(0.002);
  httplib::Server server;
  add_routes(server, *engine);
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread listener([&] { server.listen_after_bind(); });
  REQUIRE(eventually([&] { return server.is_running(); }));
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);

  SECTION("a whole completion") {
    auto res = client.Post("/v1/completions", R"({"prompt_tokens": 64, "max_tokens": 8})", "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);
    const auto j = nlohmann::json::parse(res->body);
    CHECK(j["num_tokens"] == 8);
    CHECK(j["state"] == "finished");
    CHECK(j["ttft_s"].get<double>() <= j["e2e_s"].get<double>());
  }
  SECTION("bad input and a prompt that can never fit") {
    auto bad = client.Post("/v1/completions", R"({"prompt_tokens": 64})", "application/json");
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK(bad->body.find("max_tokens") != std::string::npos);
    auto huge = client.Post("/v1/completions", R"({"prompt_tokens": 5000, "max_tokens": 8})", "application/json");
    REQUIRE(huge);
    CHECK(huge->status == 422);
    CHECK(huge->body.find("max_model_len") != std::string::npos);
  }
  SECTION("a streamed completion sends one event per token, then the end") {
    std::string body;
    auto res = client.Post("/v1/completions", R"({"prompt_tokens": 32, "max_tokens": 6, "stream": true})", "application/json");
    REQUIRE(res);
    body = res->body;
    std::size_t events = 0;
    for (std::size_t p = body.find("\"index\""); p != std::string::npos; p = body.find("\"index\"", p + 1)) ++events;
    CHECK(events == 6);
    CHECK(body.find("[DONE]") != std::string::npos);
    CHECK(body.find("\"finished\"") != std::string::npos);
  }
  SECTION("a client that disconnects mid-stream has its request aborted") {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = R"({"prompt_tokens": 32, "max_tokens": 1000, "stream": true})";
    req.set_header("Content-Type", "application/json");
    int chunks = 0;
    req.content_receiver = [&](const char*, std::size_t, std::uint64_t, std::uint64_t) { return ++chunks < 3; };
    auto res = client.send(req);
    CHECK_FALSE(res);  // we hung up
    CHECK(eventually([&] { return engine->stats().aborted == 1; }));
    CHECK(engine->stats().running == 0);
  }
  server.stop();
  listener.join();
  engine->stop();
}
