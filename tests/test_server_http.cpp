// The server's HTTP API on a loopback ephemeral port, in process: OpenAI shapes, errors,
// streaming, 429, clients that disconnect (streaming or not), slow and idle connections.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <kvsched/serve/http_server.hpp>

#include "server_test_util.hpp"

using namespace kvsched;
using namespace kvsched::serve;
using kvsched::test::eventually;
using nlohmann::json;

namespace {
/// An engine plus its HTTP server listening on 127.0.0.1:<ephemeral>.
struct Harness {
  std::unique_ptr<ServingEngine> engine;
  std::unique_ptr<HttpServer> http;
  std::thread listener;
  int port = 0;
  explicit Harness(std::unique_ptr<ServingEngine> e, HttpOptions o = {}) : engine(std::move(e)) {
    http = std::make_unique<HttpServer>(*engine, o);
    port = http->bind("127.0.0.1", 0);
    listener = std::thread([this] { http->run(); });
    REQUIRE(eventually([&] { return http->is_running(); }));
  }
  ~Harness() {
    engine->drain(std::chrono::milliseconds(0));
    http->stop();
    listener.join();
  }
  [[nodiscard]] httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(20, 0);
    return c;
  }
  [[nodiscard]] std::string metric(const std::string& name) {
    auto res = client().Get("/metrics");
    REQUIRE(res);
    const auto at = res->body.find("\n" + name + "{");
    if (at == std::string::npos) return "";
    const auto sp = res->body.find("} ", at);
    return res->body.substr(sp + 2, res->body.find('\n', sp) - sp - 2);
  }
};

/// A raw TCP connection to 127.0.0.1:port (or -1).
int connect_raw(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
void send_all(int fd, const std::string& s) { (void)!::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

void check_error_body(const httplib::Result& res, int status, const std::string& param) {
  REQUIRE(res);
  CHECK(res->status == status);
  const json j = json::parse(res->body);
  REQUIRE(j.contains("error"));
  for (const char* k : {"message", "type", "param", "code"}) CHECK(j["error"].contains(k));
  if (!param.empty()) CHECK(j["error"]["param"] == param);
}
}  // namespace

TEST_CASE("server http: completions and chat in OpenAI's shapes, streaming and not", "[server][http]") {
  Harness h(test::model_engine("vllm_v1", 256, 256));
  auto c = h.client();
  SECTION("a whole completion with usage") {
    auto res = c.Post("/v1/completions", R"({"prompt": "Hello", "max_tokens": 8, "ignore_eos": true})", "application/json");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    const json j = json::parse(res->body);
    CHECK(j["object"] == "text_completion");
    CHECK(j["model"] == "tiny");
    CHECK(j["choices"][0]["finish_reason"] == "length");
    CHECK(j["usage"]["completion_tokens"] == 8);
    CHECK(j["usage"]["prompt_tokens"] == 6);  // <bos> + 5 bytes
    CHECK(j["usage"]["total_tokens"] == 14);
  }
  SECTION("a chat completion, greedy twice gives the same text") {
    const std::string body = R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 12, "temperature": 0, "ignore_eos": true})";
    auto a = c.Post("/v1/chat/completions", body, "application/json");
    auto b = c.Post("/v1/chat/completions", body, "application/json");
    REQUIRE(a);
    REQUIRE(b);
    const json ja = json::parse(a->body), jb = json::parse(b->body);
    CHECK(ja["object"] == "chat.completion");
    CHECK(ja["choices"][0]["message"]["role"] == "assistant");
    CHECK(ja["choices"][0]["message"]["content"] == jb["choices"][0]["message"]["content"]);
  }
  SECTION("a streamed chat: role first, content deltas, finish, usage, [DONE]") {
    auto res = c.Post("/v1/chat/completions",
                      R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 6, "stream": true,
                          "stream_options": {"include_usage": true}, "ignore_eos": true})",
                      "application/json");
    REQUIRE(res);
    CHECK(res->get_header_value("Content-Type") == "text/event-stream");
    std::vector<json> events;
    bool done = false;
    for (std::size_t p = 0; (p = res->body.find("data: ", p)) != std::string::npos; p += 6) {
      const std::string line = res->body.substr(p + 6, res->body.find('\n', p) - p - 6);
      if (line == "[DONE]") done = true;
      else events.push_back(json::parse(line));
    }
    CHECK(done);
    REQUIRE(events.size() >= 3);
    CHECK(events.front()["choices"][0]["delta"]["role"] == "assistant");
    CHECK(events[events.size() - 2]["choices"][0]["finish_reason"] == "length");
    CHECK(events.back()["usage"]["completion_tokens"] == 6);
    for (const auto& e : events) CHECK(e["object"] == "chat.completion.chunk");
  }
  SECTION("/v1/models, /health, /metrics") {
    auto m = c.Get("/v1/models");
    REQUIRE(m);
    CHECK(json::parse(m->body)["data"][0]["id"] == "tiny");
    auto hl = c.Get("/health");
    REQUIRE(hl);
    CHECK(hl->status == 200);
    (void)c.Post("/v1/completions", R"({"prompt": "x", "max_tokens": 3, "ignore_eos": true})", "application/json");
    for (const char* name : {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                             "vllm:num_preemptions_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                             "vllm:time_to_first_token_seconds_count", "vllm:inter_token_latency_seconds_count",
                             "vllm:e2e_request_latency_seconds_count"})
      CHECK_FALSE(h.metric(name).empty());
    CHECK(h.metric("vllm:generation_tokens_total") == "3");
  }
}

TEST_CASE("server http: bad input gets 400 (or 404) with OpenAI's error body", "[server][http]") {
  Harness h(test::model_engine("vllm_v1", 64, 256));
  auto c = h.client();
  check_error_body(c.Post("/v1/completions", "{not json", "application/json"), 400, "");
  check_error_body(c.Post("/v1/completions", R"({"prompt": "x", "stream": "yes"})", "application/json"), 400, "stream");
  check_error_body(c.Post("/v1/completions", "{\"prompt\": \"\xc3\x28\"}", "application/json"), 400, "");
  check_error_body(c.Post("/v1/completions", R"({"prompt": "x", "max_tokens": 0})", "application/json"), 400, "max_tokens");
  check_error_body(c.Post("/v1/completions", R"({"prompt": "x", "max_tokens": 255})", "application/json"), 400, "max_tokens");
  check_error_body(c.Post("/v1/completions", json{{"prompt", std::string(300, 'a')}}.dump(), "application/json"), 400, "prompt");
  check_error_body(c.Post("/v1/completions", R"({"prompt": [1, 99999]})", "application/json"), 400, "prompt");
  check_error_body(c.Post("/v1/chat/completions", R"({"messages": "hi"})", "application/json"), 400, "messages");
  check_error_body(c.Post("/v1/completions", R"({"prompt": "x", "model": "gpt-9"})", "application/json"), 404, "model");
  check_error_body(c.Get("/v2/nothing"), 404, "");
}

TEST_CASE("server http: a burst beyond --max-queue gets 429, the rest are served", "[server][http]") {
  Harness h(test::emulated_engine(0.02, 256, /*max_queue=*/4));
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::mutex mu;
  std::string unexpected;
  std::vector<std::thread> clients;
  for (int i = 0; i < 24; ++i)
    clients.emplace_back([&] {
      auto c = h.client();
      auto res = c.Post("/v1/completions", R"({"prompt": "abc", "max_tokens": 3})", "application/json");
      if (res && res->status == 200) ++ok;
      else if (res && res->status == 429 && json::parse(res->body)["error"]["type"] == "rate_limit_error") ++busy;
      else {
        ++other;
        std::lock_guard lock(mu);
        unexpected += (res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error())) + "\n";
      }
    });
  for (auto& t : clients) t.join();
  INFO(unexpected);
  CHECK(busy > 0);
  CHECK(ok > 0);
  CHECK(other == 0);
}

TEST_CASE("server http: clients that disconnect have their requests aborted, the pool returns to idle", "[server][http]") {
  Harness h(test::emulated_engine(0.005));
  SECTION("mid-stream") {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = R"({"prompt": "abc", "max_tokens": 2000, "stream": true})";
    req.set_header("Content-Type", "application/json");
    int chunks = 0;
    req.content_receiver = [&](const char*, std::size_t, std::uint64_t, std::uint64_t) { return ++chunks < 3; };
    auto c = h.client();
    CHECK_FALSE(c.send(req));  // we hung up
  }
  SECTION("waiting for a whole (non-streamed) answer") {
    const int fd = connect_raw(h.port);
    REQUIRE(fd >= 0);
    const std::string body = R"({"prompt": "abc", "max_tokens": 2000})";
    send_all(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
    REQUIRE(eventually([&] { return h.metric("vllm:num_requests_running") == "1"; }));
    ::close(fd);
  }
  CHECK(eventually([&] { return h.engine->stats().aborted == 1; }));
  CHECK(eventually([&] { return h.metric("vllm:num_requests_running") == "0"; }));
  CHECK(h.metric("vllm:kv_cache_usage_perc") == "0");
  CHECK(h.engine->stats().free_blocks == h.engine->stats().total_blocks);
}

TEST_CASE("server http: slow and idle connections do not starve other clients", "[server][http]") {
  HttpOptions o;
  o.idle_limit = std::chrono::milliseconds(1500);
  o.keep_alive_timeout_s = 1;
  Harness h(test::emulated_engine(0.005), o);
  std::vector<int> slow;
  for (int i = 0; i < 24; ++i) {  // 24 > httplib's default 8 threads
    const int fd = connect_raw(h.port);
    REQUIRE(fd >= 0);
    send_all(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\n");  // headers never finish
    slow.push_back(fd);
  }
  std::vector<std::thread> streams;  // more concurrent streams than httplib's default threads
  std::atomic<int> streamed{0};
  for (int i = 0; i < 16; ++i)
    streams.emplace_back([&] {
      auto c = h.client();
      auto res = c.Post("/v1/completions", R"({"prompt": "abc", "max_tokens": 50, "stream": true})", "application/json");
      if (res && res->body.find("[DONE]") != std::string::npos) ++streamed;
      else std::fprintf(stderr, "stream failed: %s\n", res ? (std::to_string(res->status) + " " + res->body).c_str() : httplib::to_string(res.error()).c_str());
    });
  auto health = h.client().Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  for (auto& t : streams) t.join();
  CHECK(streamed == 16);
  // The watch shuts the slow connections down: reading them ends (0 or an error), not blocks.
  for (const int fd : slow) {
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    CHECK(n <= 0);
    ::close(fd);
  }
}

TEST_CASE("server http: a port in use and a port out of range are errors", "[server][http]") {
  Harness h(test::emulated_engine(0.0));
  auto engine = test::emulated_engine(0.0);
  HttpServer second(*engine, {});
  CHECK_THROWS_AS(second.bind("127.0.0.1", h.port), std::runtime_error);
  CHECK_THROWS_AS(second.bind("127.0.0.1", 99999), std::invalid_argument);
  engine->stop();
}

TEST_CASE("server http: the task queue starts threads for a burst even while some are idle", "[server][http]") {
  GrowingTaskQueue q(16);
  std::mutex mu;
  std::condition_variable cv;
  int running = 0, done = 0;
  q.enqueue([&] { std::lock_guard l(mu); ++done; cv.notify_all(); });
  {
    std::unique_lock l(mu);
    REQUIRE(cv.wait_for(l, std::chrono::seconds(10), [&] { return done == 1; }));  // one thread, now idle
  }
  bool all_together = false;
  for (int i = 0; i < 6; ++i)
    q.enqueue([&] {  // each job waits until all 6 run at once: needs 6 threads
      std::unique_lock l(mu);
      ++running;
      cv.notify_all();
      if (cv.wait_for(l, std::chrono::seconds(10), [&] { return running == 6; })) all_together = true;
    });
  q.shutdown();
  CHECK(all_together);
  CHECK(q.num_threads() >= 6);
}
