// Workload files (JSON and TOML) and request building: rate scaling, rates on timed and
// untimed traces, mixing by share, limits, context clipping and rejection, SLO classes.
#include <catch2/catch.hpp>

#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/workload_file.hpp"
#include "support/sim_test_util.hpp"

using namespace kvsched::sim;
using kvsched::io::InputError;
using kvsched::test::TempDir;

namespace {
const char* kTimed =
    "arrived_at,num_prefill_tokens,num_decode_tokens\n"
    "0.0,10,5\n"
    "1.0,20,6\n"
    "2.0,30,7\n"
    "4.0,40,8\n";
const char* kLengths =
    "num_prefill_tokens,num_decode_tokens\n"
    "11,1\n12,2\n13,3\n14,4\n15,5\n16,6\n";

std::vector<double> arrivals(const SimRequests& r) {
  std::vector<double> t;
  for (const auto& s : r.specs) t.push_back(s.arrival_s);
  return t;
}
InputError workload_error(const TempDir& d, const std::string& name, const std::string& text) {
  const auto p = d.write(name, text);
  try {
    (void)load_workload_file(p, d.path());
  } catch (const InputError& e) {
    CHECK(e.file() == p);
    return e;
  }
  FAIL("no InputError");
  throw std::logic_error("unreachable");
}
}  // namespace

TEST_CASE("workload JSON and TOML forms give the same workload") {
  TempDir d;
  d.write("t.csv", kTimed);
  const auto j = d.write("w.json", R"({
    "rate": 4.0, "duration_s": 60, "num_requests": 100,
    "classes": {"interactive": {"ttft_s": 0.5, "tbt_s": 0.05}},
    "sources": [
      {"trace": "t.csv", "share": 3, "class": "interactive"},
      {"trace": "@data/l.csv", "format": "lengths", "share": 1, "class": "summarization",
       "arrival": "gamma", "cv": 2.0, "skip": 1, "num_requests": 3}
    ]})");
  const auto t = d.write("w.toml", R"(rate = 4.0
duration_s = 60
num_requests = 100
[classes.interactive]
ttft_s = 0.5
tbt_s = 0.05
[[sources]]
trace = "t.csv"
share = 3
class = "interactive"
[[sources]]
trace = "@data/l.csv"
format = "lengths"
share = 1
class = "summarization"
arrival = "gamma"
cv = 2.0
skip = 1
num_requests = 3
)");
  const auto data = d.path() / "datadir";
  for (const auto& path : {j, t}) {
    const Workload w = load_workload_file(path, data);
    INFO(path);
    CHECK(w.rate_rps == 4.0);
    CHECK(w.duration_s == 60.0);
    CHECK(w.num_requests == 100u);
    REQUIRE(w.sources.size() == 2);
    CHECK(w.sources[0].trace == d.path() / "t.csv");
    CHECK(w.sources[0].share == 3.0);
    CHECK(w.sources[0].slo_class == "interactive");
    CHECK(w.sources[1].trace == data / "l.csv");
    CHECK(w.sources[1].format == TraceFormat::kLengths);
    CHECK(w.sources[1].arrival.kind == ArrivalKind::kGamma);
    CHECK(w.sources[1].arrival.cv == 2.0);
    CHECK(w.sources[1].skip == 1u);
    CHECK(w.sources[1].num_requests == 3u);
    CHECK(w.find_class("interactive")->tbt_s == 0.05);
    CHECK(w.find_class("summarization")->ttft_s == 15.0);
    CHECK_FALSE(w.find_class("nope"));
  }
}

TEST_CASE("workload errors name the file and the key") {
  TempDir d;
  auto e = workload_error(d, "w.json", R"({"sources": [{"trace": "x.csv", "shares": 1}]})");
  CHECK(e.field() == "sources[0].shares");
  CHECK_THAT(e.what(), Catch::Contains("unknown key"));
  e = workload_error(d, "w.json", R"({"sources": [{"trace": "x.csv", "class": "gold"}]})");
  CHECK(e.field() == "sources[0].class");
  CHECK_THAT(e.what(), Catch::Contains("unknown SLO class 'gold'"));
  e = workload_error(d, "w.json", R"({"rate": -1, "sources": [{"trace": "x.csv"}]})");
  CHECK(e.field() == "rate");
  e = workload_error(d, "w.json", R"({"rate": 2})");
  CHECK(e.field() == "sources");
  e = workload_error(d, "w.json", R"({"sources": [{"trace": 3}]})");
  CHECK(e.field() == "sources[0].trace");
  e = workload_error(d, "w.json", "{\n  \"rate\": 2,\n  \"sources\": [\n}");
  CHECK(e.line() == 4);
  CHECK_THAT(e.what(), Catch::Contains("JSON syntax error"));
  e = workload_error(d, "w.toml", "rate = 2\n[[sources]\ntrace = 'x'\n");
  CHECK(e.line() == 2);
  CHECK_THAT(e.what(), Catch::Contains("TOML syntax error"));
  e = workload_error(d, "w.toml", "[classes.x]\nttft_s = 'fast'\n[[sources]]\ntrace = 'x'\n");
  CHECK(e.field() == "classes.x.ttft_s");
}

TEST_CASE("rate scaling replays a timed trace k times faster") {
  TempDir d;
  const Workload w = workload_from_traces({d.write("t.csv", kTimed)}, TraceFormat::kAuto);
  BuildOptions o;
  CHECK(arrivals(build_requests(w, o)) == std::vector<double>{0.0, 1.0, 2.0, 4.0});
  o.rate_scale = 2.0;
  CHECK(arrivals(build_requests(w, o)) == std::vector<double>{0.0, 0.5, 1.0, 2.0});
  // A rate on a timed trace rescales it: native rate (n - 1) / span = 3 / 4.
  o.rate_scale = 1.0;
  o.rate_rps = 1.5;
  CHECK(arrivals(build_requests(w, o)) == std::vector<double>{0.0, 0.5, 1.0, 2.0});
  o.rate_scale = 0.0;
  CHECK_THROWS_AS(build_requests(w, o), std::invalid_argument);
}

TEST_CASE("length-only traces need a rate and get seeded Poisson or Gamma arrivals") {
  TempDir d;
  Workload w = workload_from_traces({d.write("l.csv", kLengths)}, TraceFormat::kAuto);
  BuildOptions o;
  o.seed = 5;
  try {
    (void)build_requests(w, o);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("needs an arrival rate"));
  }
  o.rate_rps = 3.0;
  const auto r = build_requests(w, o);
  CHECK(arrivals(r) == generate_arrival_times({ArrivalKind::kPoisson, 3.0, 1.0}, 6, derive_seed(5, 0)));
  CHECK(arrivals(build_requests(w, o)) == arrivals(r));
  o.seed = 6;
  CHECK(arrivals(build_requests(w, o)) != arrivals(r));
  w.sources[0].arrival = {ArrivalKind::kGamma, 1.0, 3.0};
  CHECK(arrivals(build_requests(w, o)) == generate_arrival_times({ArrivalKind::kGamma, 3.0, 3.0}, 6, derive_seed(6, 0)));
  CHECK(r.specs[2].prompt_tokens == 13);
  CHECK(r.output_tokens[2] == 3);
}

TEST_CASE("sources mix by share with their own SLO classes; limits cut the merged stream") {
  TempDir d;
  const auto timed = d.write("t.csv", kTimed);
  const auto lengths = d.write("l.csv", kLengths);
  Workload w;
  w.classes["gold"] = {0.1, 0.01};
  WorkloadSource a;
  a.trace = timed;
  a.share = 3.0;
  a.slo_class = "gold";
  WorkloadSource b;
  b.trace = lengths;
  b.share = 1.0;
  b.slo_class = "summarization";
  w.sources = {a, b};
  w.rate_rps = 4.0;  // a at 3 req/s (its own times x 1/4), b Poisson at 1 req/s
  BuildOptions o;
  o.seed = 1;
  const auto r = build_requests(w, o);
  REQUIRE(r.specs.size() == 10);
  CHECK(r.class_names == std::vector<std::string>{"gold", "summarization"});
  CHECK(r.class_slos[0].ttft_s == 0.1);
  CHECK(r.class_slos[1].ttft_s == 15.0);
  const auto b_times = generate_arrival_times({ArrivalKind::kPoisson, 1.0, 1.0}, 6, derive_seed(1, 1));
  std::vector<double> a_seen, b_seen;
  for (std::size_t i = 0; i < r.specs.size(); ++i) {
    CHECK(r.specs[i].id == i);
    if (i > 0) CHECK(r.specs[i].arrival_s >= r.specs[i - 1].arrival_s);
    (r.specs[i].class_id == 0 ? a_seen : b_seen).push_back(r.specs[i].arrival_s);
    CHECK(r.specs[i].slo.ttft_s == r.class_slos[r.specs[i].class_id].ttft_s);
  }
  CHECK(a_seen == std::vector<double>{0.0, 0.25, 0.5, 1.0});
  CHECK(b_seen == b_times);
  // Limits: the first 3 requests; arrivals before 0.6 s.
  o.num_requests = 3;
  CHECK(build_requests(w, o).specs.size() == 3);
  o.num_requests.reset();
  o.duration_s = 0.6;
  std::size_t expect = 3;  // a's first three
  for (double t : b_times) expect += t < 0.6;
  CHECK(build_requests(w, o).specs.size() == expect);
  // SLO overrides apply to every class.
  o.slo_ttft_s = 2.0;
  o.slo_tbt_s = 0.2;
  const auto r2 = build_requests(w, o);
  for (const auto& s : r2.class_slos) {
    CHECK(s.ttft_s == 2.0);
    CHECK(s.tbt_s == 0.2);
  }
}

TEST_CASE("prompts beyond the context are clipped or rejected and counted; max_tokens modes") {
  TempDir d;
  const auto p = d.write("t.csv",
                         "arrived_at,num_prefill_tokens,num_decode_tokens\n"
                         "0,150,10\n"   // prompt too long
                         "1,95,10\n"    // output cut to 5
                         "2,99,10\n"    // fits with 1 output token
                         "3,20,10\n"    // fits
                         "4,100,200\n");  // too long, and the output alone exceeds the context
  const Workload w = workload_from_traces({p}, TraceFormat::kAuto);
  BuildOptions o;
  o.max_model_len = 100;
  auto r = build_requests(w, o);
  REQUIRE(r.specs.size() == 5);
  CHECK(r.num_clipped_prompt == 2);
  CHECK(r.num_clipped_output == 3);
  CHECK(r.specs[0].prompt_tokens == 90);
  CHECK(r.output_tokens[0] == 10);
  CHECK(r.specs[1].prompt_tokens == 95);
  CHECK(r.output_tokens[1] == 5);
  CHECK(r.output_tokens[2] == 1);
  CHECK(r.specs[4].prompt_tokens == 1);
  CHECK(r.output_tokens[4] == 99);
  for (std::size_t i = 0; i < r.specs.size(); ++i) {
    CHECK(r.specs[i].max_tokens == r.output_tokens[i]);  // kTrace
    CHECK(r.specs[i].oracle_output_tokens == r.output_tokens[i]);
    CHECK(r.specs[i].prompt_tokens + r.output_tokens[i] <= 100);
  }
  o.overflow = ContextOverflow::kReject;
  r = build_requests(w, o);
  CHECK(r.specs.size() == 3);
  REQUIRE(r.rejected.size() == 2);
  CHECK(r.rejected[0].line == 2);
  CHECK(r.rejected[1].line == 6);
  CHECK(r.num_requests() == 5);
  CHECK(r.specs[0].prompt_tokens == 95);
  o.max_tokens_mode = MaxTokensMode::kModelLen;
  r = build_requests(w, o);
  CHECK(r.specs[2].max_tokens == 80);
  CHECK(r.output_tokens[2] == 10);
  o.max_tokens_mode = MaxTokensMode::kCap;
  o.max_tokens_cap = 8;
  r = build_requests(w, o);
  CHECK(r.specs[2].max_tokens == 8);
  CHECK(r.output_tokens[2] == 8);  // the cap stops generation first
  CHECK(r.specs[0].max_tokens == 5);
}

TEST_CASE("mooncake content ids follow the (clipped) prompt") {
  TempDir d;
  const auto p = d.write("m.jsonl",
                         "{\"timestamp\": 0, \"input_length\": 1500, \"output_length\": 4, \"hash_ids\": [7, 8, 9]}\n");
  BuildOptions o;
  o.max_model_len = 4096;
  auto r = build_requests(workload_from_traces({p}, TraceFormat::kAuto), o);
  CHECK(r.specs[0].content_ids == std::vector<std::uint64_t>{7, 8, 9});
  CHECK(r.specs[0].content_block_tokens == 512);
  o.max_model_len = 1004;  // prompt clipped to 1000 tokens: 2 blocks of 512
  r = build_requests(workload_from_traces({p}, TraceFormat::kAuto), o);
  CHECK(r.specs[0].prompt_tokens == 1000);
  CHECK(r.specs[0].content_ids == std::vector<std::uint64_t>{7, 8});
}

TEST_CASE("repeat_requests lays copies end to end with fresh ids") {
  TempDir d;
  const auto r = build_requests(workload_from_traces({d.write("t.csv", kTimed)}, TraceFormat::kAuto), BuildOptions{});
  const auto x3 = repeat_requests(r, 3);
  REQUIRE(x3.specs.size() == 12);
  // span 4 s, mean gap 4/3 s: period 16/3 s
  CHECK(arrivals(x3)[4] == Approx(16.0 / 3));
  CHECK(arrivals(x3)[11] == Approx(2 * 16.0 / 3 + 4.0));
  CHECK(x3.last_arrival_s == Approx(2 * 16.0 / 3 + 4.0));
  for (std::size_t i = 0; i < 12; ++i) {
    CHECK(x3.specs[i].id == i);
    CHECK(x3.output_tokens[i] == r.output_tokens[i % 4]);
  }
  CHECK_THROWS_AS(repeat_requests(r, 0), std::invalid_argument);
}
