// The server's request parser, stop strings / UTF-8 holdback of the text output, and the sampler.
#include <catch2/catch.hpp>

#include <kvsched/serve/completion_request.hpp>
#include <kvsched/serve/sampler.hpp>
#include <kvsched/serve/text_output.hpp>

using namespace kvsched::serve;

namespace {
/// The `param` of the ApiError that parsing `body` throws ("" when it throws none).
std::string bad_param(const std::string& body, bool chat = false) {
  try {
    (void)parse_completion_request(body, chat);
  } catch (const ApiError& e) {
    CHECK(e.status() == 400);
    CHECK(e.body()["error"]["type"] == "invalid_request_error");
    return e.param().empty() ? "<none>" : e.param();
  }
  return "";
}
}  // namespace

TEST_CASE("server parser: each bad field is a 400 naming it", "[server][parse]") {
  CHECK(bad_param("{") == "<none>");
  CHECK(bad_param("[1]") == "<none>");
  CHECK(bad_param("{\"prompt\": \"\xff\xfe\"}") == "<none>");  // invalid UTF-8
  CHECK(bad_param(R"({"max_tokens": 4})") == "prompt");
  CHECK(bad_param(R"({"prompt": 5})") == "prompt");
  CHECK(bad_param(R"({"prompt": "x", "max_tokens": 0})") == "max_tokens");
  CHECK(bad_param(R"({"prompt": "x", "max_tokens": -3})") == "max_tokens");
  CHECK(bad_param(R"({"prompt": "x", "max_tokens": "8"})") == "max_tokens");
  CHECK(bad_param(R"({"prompt": "x", "stream": "yes"})") == "stream");
  CHECK(bad_param(R"({"prompt": "x", "stream": 1})") == "stream");
  CHECK(bad_param(R"({"prompt": "x", "temperature": -1})") == "temperature");
  CHECK(bad_param(R"({"prompt": "x", "top_p": 0})") == "top_p");
  CHECK(bad_param(R"({"prompt": "x", "seed": 1.5})") == "seed");
  CHECK(bad_param(R"({"prompt": "x", "stop": 3})") == "stop");
  CHECK(bad_param(R"({"prompt": "x", "stop": ["a","b","c","d","e"]})") == "stop");
  CHECK(bad_param(R"({"prompt": "x", "n": 2})") == "n");
  CHECK(bad_param(R"({"prompt": "x", "stream_options": {"include_usage": true}})") == "stream_options");
  CHECK(bad_param(R"({"prompt": "x", "model": 7})") == "model");
  CHECK(bad_param(R"({"prompt": "x"})", true) == "messages");
  CHECK(bad_param(R"({"messages": []})", true) == "messages");
  CHECK(bad_param(R"({"messages": [{"role": "user"}]})", true) == "messages[0].content");
  CHECK(bad_param(R"({"messages": [{"role": "wizard", "content": "x"}]})", true) == "messages[0].role");
  CHECK(bad_param(R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0})", true) == "max_completion_tokens");
  CHECK(bad_param(R"({"prompt": "x", "max_tokens": null, "stop": null})").empty());  // null = absent, as OpenAI
}

TEST_CASE("server parser: fields land where the engine reads them", "[server][parse]") {
  const auto r = parse_completion_request(
      R"({"model": "m", "prompt": ["hi"], "max_tokens": 7, "temperature": 0, "top_p": 0.5, "seed": 42, "stop": "\n",
          "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true, "slo": {"ttft_s": 0.5}})",
      false);
  CHECK(r.model == "m");
  CHECK(r.prompt_text == "hi");
  CHECK(r.max_tokens == 7);
  CHECK(r.sampling.temperature == 0.0);
  CHECK(r.sampling.top_p == 0.5);
  CHECK(r.sampling.seed == 42u);
  CHECK(r.stop == std::vector<std::string>{"\n"});
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.ignore_eos);
  CHECK(r.slo.ttft_s == 0.5);
  const auto ids = parse_completion_request(R"({"prompt": [1, 2, 3]})", false);
  REQUIRE(ids.prompt_ids);
  CHECK(*ids.prompt_ids == std::vector<std::int32_t>{1, 2, 3});
  CHECK_FALSE(ids.max_tokens);
  const auto c = parse_completion_request(
      R"({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}]})", true);
  CHECK(c.prompt_text == "<|system|>\nbe brief\n<|user|>\nhi\n<|assistant|>\n");
}

TEST_CASE("server text output: stop strings spanning tokens are cut, and never published early", "[server][parse]") {
  TextOutput t({"END"});
  CHECK_FALSE(t.append("ab"));
  CHECK(t.publishable(false) == 0);  // holds back size("END") - 1 bytes
  CHECK_FALSE(t.append("cE"));
  CHECK(t.text().substr(0, t.publishable(false)) == "ab");
  CHECK_FALSE(t.append("N"));
  CHECK(t.append("Dzz"));
  CHECK(t.stopped());
  CHECK(t.text() == "abc");
  CHECK(t.publishable(false) == 3);
  TextOutput u;
  u.append("a\xe2\x82");  // "a" then 2 of the 3 bytes of the euro sign
  CHECK(u.publishable(false) == 1);
  u.append("\xac");
  CHECK(u.publishable(false) == 4);
  CHECK(complete_utf8_prefix("\xf0\x9f\x98") == 0);
  CHECK(complete_utf8_prefix("x\x80") == 2);  // a stray continuation byte is not held
}

TEST_CASE("server sampler: greedy, seeded, and top-p", "[server][parse]") {
  const std::vector<float> logits{0.1f, 2.0f, 1.9f, -1.0f};
  Sampler greedy({0.0, 1.0, std::nullopt}, 1);
  CHECK(greedy.sample(logits) == 1);
  Sampler a({1.0, 1.0, 7}, 1), b({1.0, 1.0, 7}, 999);
  std::vector<std::int32_t> sa, sb;
  for (int i = 0; i < 64; ++i) {
    sa.push_back(a.sample(logits));
    sb.push_back(b.sample(logits));
  }
  CHECK(sa == sb);  // the request's seed wins over the fallback
  CHECK(std::count(sa.begin(), sa.end(), 1) < 64);  // temperature 1 does not always pick the top
  Sampler nucleus({1.0, 0.01, 3}, 1);
  for (int i = 0; i < 32; ++i) CHECK(nucleus.sample(logits) == 1);  // top_p tiny keeps only the top token
}
