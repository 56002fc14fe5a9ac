// Bad input at the simulator's boundaries fails with a clear error instead of hanging or
// giving silently wrong results (issue 14): arrival rates and CVs, workload shares, SLO class
// count, JSON numbers out of range, endless and binary inputs, latency coefficients, pool
// sizes; a plan that only rejects is progress; the CacheOPT reserve on a pool of one context.
#include <catch2/catch.hpp>

#include <limits>
#include <stdexcept>
#include <string>

#include <kvsched/kvsched.hpp>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/latency/latency_json.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/simulator.hpp"
#include "kvsched/sim/workload_file.hpp"
#include "support/sim_test_util.hpp"

using namespace kvsched;
using namespace kvsched::sim;
using kvsched::test::TempDir;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

/// A length-only trace of n rows (prompt 8, output 4).
std::filesystem::path lengths_trace(const TempDir& d, int n, const std::string& name = "lengths.csv") {
  std::string t = "num_prefill_tokens,num_decode_tokens\n";
  for (int i = 0; i < n; ++i) t += "8,4\n";
  return d.write(name, t);
}
Workload one_source(const std::filesystem::path& trace, ArrivalKind kind = ArrivalKind::kPoisson, double cv = 1.0) {
  Workload w = workload_from_traces({trace}, TraceFormat::kAuto);
  w.sources[0].arrival = {kind, 1.0, cv};
  return w;
}
}  // namespace

TEST_CASE("gamma arrivals with an extreme cv are rejected, not turned into NaN times", "[reliability][sim]") {
  TempDir d;
  const auto trace = lengths_trace(d, 100);
  BuildOptions o;
  o.rate_rps = 1.0;
  for (double cv : {1e-200, 1e200, 0.0, kInf}) {
    INFO("cv " << cv);
    CHECK_THROWS_AS(build_requests(one_source(trace, ArrivalKind::kGamma, cv), o), std::invalid_argument);
  }
  const SimRequests ok = build_requests(one_source(trace, ArrivalKind::kGamma, 2.0), o);
  for (const auto& s : ok.specs) CHECK(std::isfinite(s.arrival_s));
}

TEST_CASE("rates of 1e-320, 1e-310 or inf, and extreme shares, are rejected", "[reliability][sim]") {
  TempDir d;
  const auto trace = lengths_trace(d, 50);
  const auto timed = d.write("vidur.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,8,4\n1,8,4\n2,8,4\n");
  for (double rate : {1e-320, 1e-310, kInf, std::numeric_limits<double>::quiet_NaN()}) {
    INFO("rate " << rate);
    BuildOptions o;
    o.rate_rps = rate;
    CHECK_THROWS_AS(build_requests(one_source(trace), o), std::invalid_argument);
    CHECK_THROWS_AS(build_requests(one_source(timed), o), std::invalid_argument);
  }
  BuildOptions scale;
  scale.rate_scale = 1e-310;
  CHECK_THROWS_AS(build_requests(one_source(timed), scale), std::invalid_argument);
  // Shares of 1e-300 beside 1e300: the small source's rate underflows.
  Workload w = workload_from_traces({trace, lengths_trace(d, 50, "b.csv")}, TraceFormat::kAuto);
  w.sources[0].share = 1e-300;
  w.sources[1].share = 1e300;
  BuildOptions o;
  o.rate_rps = 1.0;
  CHECK_THROWS_AS(build_requests(w, o), std::invalid_argument);
}

TEST_CASE("more than 65,535 SLO classes is an error, not a wrapped class id", "[reliability][sim]") {
  TempDir d;
  const auto trace = lengths_trace(d, 1);
  Workload w;
  for (int i = 0; i < 65536; ++i) {
    std::string name = "c";  // appended: GCC 12 warns (-Wrestrict) on "c" + std::string
    name += std::to_string(i);
    w.classes[name] = Slo{1.0, 0.1};
    WorkloadSource s;
    s.trace = trace;
    s.slo_class = name;
    s.rate_rps = 1.0;
    w.sources.push_back(s);
  }
  CHECK_THROWS_WITH(build_requests(w, {}), Catch::Contains("SLO classes"));
  w.sources.pop_back();  // 65,535 classes: ids 0..65534, each distinct
  const SimRequests r = build_requests(w, {});
  CHECK(r.class_names.size() == 65535);
  CHECK(r.specs.back().class_id != r.specs.front().class_id);
}

TEST_CASE("a JSON number out of range names the file and is an InputError", "[reliability][sim]") {
  TempDir d;
  const auto wl = d.write("w.json", R"({"rate": 1e999, "sources": [{"trace": "x.csv"}]})");
  CHECK_THROWS_AS(load_workload_file(wl, d.path()), io::InputError);
  CHECK_THROWS_WITH(load_workload_file(wl, d.path()), Catch::Contains("w.json"));
  const auto lj = d.write("l.json", R"({"cpu_overhead_s": 1e999})");
  CHECK_THROWS_AS(read_latency_coeffs_json(lj), std::invalid_argument);
  CHECK_THROWS_WITH(read_latency_coeffs_json(lj), Catch::Contains("l.json"));
}

TEST_CASE("TOML inf and nan in a workload are rejected", "[reliability][sim]") {
  TempDir d;
  const auto wl = d.write("w.toml", "rate = inf\n[[sources]]\ntrace = \"x.csv\"\n");
  CHECK_THROWS_AS(load_workload_file(wl, d.path()), io::InputError);
  const auto wl2 = d.write("w2.toml", "[[sources]]\ntrace = \"x.csv\"\nshare = nan\n");
  CHECK_THROWS_AS(load_workload_file(wl2, d.path()), io::InputError);
}

TEST_CASE("negative latency coefficients are rejected", "[reliability][sim]") {
  CHECK_THROWS_AS(latency_coeffs_from_json(nlohmann::json{{"linear_base_s", -0.01}}), std::invalid_argument);
  CHECK_THROWS_AS(latency_coeffs_from_json(nlohmann::json{{"cpu_overhead_s", -1e-9}}), std::invalid_argument);
  CHECK_NOTHROW(latency_coeffs_from_json(nlohmann::json{{"cpu_overhead_s", 0.0}}));
}

TEST_CASE("an endless input without newlines fails instead of exhausting memory", "[reliability][sim]") {
  if (!std::filesystem::exists("/dev/zero")) return;
  CHECK_THROWS_AS(detect_trace_format("/dev/zero"), io::InputError);
  CHECK_THROWS_AS(read_trace("/dev/zero", TraceFormat::kLengths), io::InputError);
  CHECK_THROWS_WITH(io::read_file_text("/dev/zero"), Catch::Contains("line longer than"));
  TempDir d;
  const auto small = d.write("long.csv", std::string(100, 'x'));
  CHECK_THROWS_AS(io::read_file_text(small, 64), io::InputError);
  CHECK(io::read_file_text(small, 100).size() == 100);
}

TEST_CASE("binary input does not cut the error message at a NUL", "[reliability][sim]") {
  TempDir d;
  const auto bin = d.write("bin.csv", std::string("num_prefill_tokens,num_decode_tokens\nab\0cd,4\n", 45));
  try {
    (void)read_trace(bin, TraceFormat::kLengths);
    FAIL("no error");
  } catch (const io::InputError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK_THAT(what, Catch::Contains("\\x00cd"));
  }
  const io::InputError e("f", 1, "a\nb", std::string("x\0y", 3));
  CHECK(std::string(e.what()) == "f:1: field 'a\\x0ab': x\\x00y");
}

TEST_CASE("pool sizes are checked in 64 bits before anything is allocated", "[reliability][sim]") {
  const ModelSpec m = model_preset("llama2-7b");
  const GpuSpec g = gpu_preset("h100-80g");
  CHECK_THROWS_WITH(host_pool_blocks(m, 1e12 * 1073741824.0, 16, EngineConfig::kMaxPoolBlocks), Catch::Contains("host blocks"));
  CHECK(host_pool_blocks(m, 4.0 * 1073741824.0, 16, EngineConfig::kMaxPoolBlocks) == 512);
  CHECK_THROWS_WITH(check_device_pool_fits(m, g, 2147483647, 16), Catch::Contains("exceeds"));
  CHECK_NOTHROW(check_device_pool_fits(m, g, 7000, 16));
  EngineConfig e;
  e.num_device_blocks = 2147483647;
  CHECK_THROWS_AS(e.validate(), std::invalid_argument);
  e.num_device_blocks = 100;
  e.num_host_blocks = EngineConfig::kMaxPoolBlocks + 1;
  CHECK_THROWS_AS(e.validate(), std::invalid_argument);
}

namespace {
/// A scheduler whose plans, after the last arrival, only reject one request at a time.
class RejectOneAtATime final : public AnyScheduler {
 public:
  explicit RejectOneAtATime(const EngineConfig& e) : inner_(make_scheduler("vllm_v1", e, LatencyModel{})) {}
  const std::string& name() const override { return name_; }
  void add_request(RequestSpec s) override {
    pending_.push_back(s.id);
    specs_.push_back(s);
  }
  void abort(RequestId id) override { aborted_.push_back(id); }
  const SchedulePlan& schedule(double now) override {
    plan_ = SchedulePlan{};
    plan_.now_s = now;
    if (!pending_.empty()) {
      plan_.rejected.push_back({pending_.front(), "test"});
      done_.push_back(pending_.front());
      pending_.erase(pending_.begin());
    }
    return plan_;
  }
  void on_step_done(const StepResult&) override {}
  std::vector<Request> take_terminal() override {
    std::vector<Request> out;
    for (RequestId id : done_) {
      Request r;
      r.spec = specs_[id];
      r.state = RequestState::kRejected;
      out.push_back(r);
    }
    for (RequestId id : aborted_) {
      Request r;
      r.spec = specs_[id];
      r.state = RequestState::kAborted;
      out.push_back(r);
    }
    done_.clear();
    aborted_.clear();
    return out;
  }
  const Request* find(RequestId id) const override {
    static Request r;
    return std::find(pending_.begin(), pending_.end(), id) != pending_.end() ? &r : nullptr;
  }
  std::size_t num_unfinished() const override { return pending_.size(); }
  const BlockManager& block_manager() const override { return inner_->block_manager(); }
  const SchedulerStats& stats() const override { return inner_->stats(); }
  const EngineConfig& engine() const override { return inner_->engine(); }
  EngineDefaults engine_defaults() const override { return inner_->engine_defaults(); }

 private:
  std::string name_ = "reject-one";
  std::unique_ptr<AnyScheduler> inner_;
  std::vector<RequestId> pending_, done_, aborted_;
  std::vector<RequestSpec> specs_;
  SchedulePlan plan_;
};
}  // namespace

TEST_CASE("a plan that only rejects is progress: no request is aborted as stuck", "[reliability][sim]") {
  TempDir d;
  BuildOptions o;
  o.rate_rps = 100.0;
  const SimRequests reqs = build_requests(one_source(lengths_trace(d, 5)), o);
  EngineConfig e;
  e.num_device_blocks = 64;
  e.max_model_len = 1024;
  RejectOneAtATime s(e);
  const SimResult r = simulate(s, reqs, LatencyModel{});
  CHECK(r.num_stuck == 0);
  for (const auto& out : r.outcomes) CHECK(out.state == RequestState::kRejected);
}

TEST_CASE("the issue's repro: cacheopt_accelgen on a tiny budget accounts for every request", "[reliability][sim]") {
  const auto data = kvsched::test::bundled_data_dir();
  BuildOptions o;
  o.num_requests = 60;
  const Workload w = workload_from_traces({data / "azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv"}, TraceFormat::kAuto);
  const SimRequests reqs = build_requests(w, o);
  EngineConfig e;
  e.num_device_blocks = 256;
  e.max_num_batched_tokens = 17;
  e.max_num_seqs = 2;
  LatencyCoeffs c;
  c.cpu_overhead_s = 0.001;
  c.linear_s_per_token = 1e-5;
  const LatencyModel lm(c);
  for (const std::string p : {"cacheopt_accelgen", "accelgen", "cacheopt"}) {
    INFO(p);
    auto s = make_scheduler(p, e, lm);
    const SimResult r = simulate(*s, reqs, lm, sim_options(e.block_size));
    CHECK(r.num_stuck == 0);
    std::size_t accounted = 0;
    for (const auto& out : r.outcomes) accounted += out.state == RequestState::kFinished || out.state == RequestState::kRejected;
    CHECK(accounted == reqs.num_requests());
  }
}

TEST_CASE("cacheopt presets serve a full-context request when the pool equals max_model_len", "[reliability][cacheopt]") {
  EngineConfig e;
  e.block_size = 16;
  e.num_device_blocks = 256;
  e.max_model_len = 4096;  // = the pool
  for (const std::string& name : preset_names()) {
    INFO(name);
    auto s = make_scheduler(name, e, LatencyModel{});
    if (s->block_manager().null_block() != kNoBlock) {  // vLLM v1 holds one block out: usable pool = max_model_len
      EngineConfig e1 = e;
      e1.num_device_blocks += 1;
      s = make_scheduler(name, e1, LatencyModel{});
    }
    RequestSpec r;
    r.id = 1;
    r.prompt_tokens = 4000;
    r.max_tokens = 96;
    r.oracle_output_tokens = 96;
    s->add_request(r);
    double t = 0;
    int steps = 0;
    while (s->num_unfinished() > 0 && steps++ < 10000) {
      const SchedulePlan& p = s->schedule(t);
      CHECK(p.rejected.empty());
      t += 0.01;
      s->on_step_done({t, {}});
    }
    const auto done = s->take_terminal();
    REQUIRE(done.size() == 1);
    CHECK(done[0].state == RequestState::kFinished);
    CHECK(done[0].num_generated == 96);
  }
}

TEST_CASE("fuzz findings: Azure timestamps and spans beyond int64 nanoseconds, TOML code points toml++ mishandles", "[reliability][sim]") {
  CHECK_FALSE(parse_azure_timestamp_ns("4046-11-16 18:15:46.6805900").has_value());  // overflowed: UB
  CHECK(parse_azure_timestamp_ns("2023-11-16 18:15:46.6805900").has_value());
  TempDir d;
  // Both ends fit int64 nanoseconds but their span does not: an error naming the row, not UB.
  const auto far = d.write("far.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n1678-01-01 00:00:00,5,5\n2261-01-01 00:00:00,5,5\n");
  CHECK_THROWS_WITH(read_azure_trace(far), Catch::Contains("far.csv:3") && Catch::Contains("too far after the first row"));
  const auto wl = d.write("w.toml", "# caf\xc3\xa9\n[[sources]]\ntrace = \"x.csv\"\n");  // U+00E9: toml++ 3.3 hits unreachable
  CHECK_THROWS_WITH(load_workload_file(wl, d.path()), Catch::Contains("U+00E9"));
  // The other two ranges where toml++ 3.3 reaches unreachable (3-byte UTF-8), on line 2.
  CHECK_THROWS_WITH(load_workload_file(d.write("w2.toml", "\n# \xe3\x80\x81\n"), d.path()), Catch::Contains("w2.toml:2:") && Catch::Contains("U+3001"));
  CHECK_THROWS_WITH(load_workload_file(d.write("w3.toml", "# \xef\xb8\xb0\n"), d.path()), Catch::Contains("U+FE30"));
  using kvsched::sim::detail::toml_unreachable_code_point;
  CHECK(toml_unreachable_code_point(0x2C5E));
  CHECK(toml_unreachable_code_point(0xFEFE));
  CHECK_FALSE(toml_unreachable_code_point(0x3000));  // ideographic space: toml++ handles it
  CHECK_FALSE(toml_unreachable_code_point(0x2C5D));
  CHECK_FALSE(toml_unreachable_code_point(0xFEFF));
}
