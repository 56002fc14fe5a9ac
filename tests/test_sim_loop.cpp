// The event loop on a fake FCFS scheduler: exact token times by hand, preemption stalls,
// EOS from the true output length, swap time, stuck schedulers, determinism.
#include <catch2/catch.hpp>

#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/sim/report_json.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/simulator.hpp"
#include "support/fcfs_fake_scheduler.hpp"
#include "support/sim_fixtures.hpp"

using namespace kvsched;
using namespace kvsched::sim;
using kvsched::test::FcfsFakeScheduler;
using kvsched::test::toy_model;
using kvsched::test::toy_requests;

TEST_CASE("two requests: token times follow the latency model step by step") {
  FcfsFakeScheduler sched(1000, 100000);
  const auto reqs = toy_requests({{0.0, 100, 3}, {0.05, 50, 2}});
  const SimResult r = simulate(sched, reqs, toy_model());
  // step 1 [0, .11): R0 prefill 100       -> R0 token 1 at .11
  // step 2 [.11, .171): R0 decode + R1 prefill 50 (51 tokens) -> R0 token 2, R1 token 1
  // step 3 [.171, .183): two decodes      -> R0 token 3 (EOS), R1 token 2 (EOS)
  REQUIRE(r.outcomes.size() == 2);
  const auto& a = r.outcomes[0];
  const auto& b = r.outcomes[1];
  CHECK(a.state == RequestState::kFinished);
  CHECK(b.state == RequestState::kFinished);
  REQUIRE(a.token_times_s.size() == 3);
  REQUIRE(b.token_times_s.size() == 2);
  CHECK(a.token_times_s[0] == Approx(0.110));
  CHECK(a.token_times_s[1] == Approx(0.171));
  CHECK(a.token_times_s[2] == Approx(0.183));
  CHECK(b.token_times_s[0] == Approx(0.171));
  CHECK(b.token_times_s[1] == Approx(0.183));
  CHECK(b.ttft_s() == Approx(0.121));
  CHECK(a.queue_s() == 0.0);
  CHECK(b.queue_s() == Approx(0.06));
  CHECK(r.iterations == 3);
  CHECK(r.end_time_s == Approx(0.183));
  REQUIRE(r.kv_timeline.size() == 3);  // one sample per iteration: start time and duration
  CHECK(r.kv_timeline[1].t_s == Approx(0.110));
  CHECK(r.kv_timeline[1].dt_s == Approx(0.061));
  const Metrics m = compute_metrics(r.outcomes);
  CHECK(m.ttft_slo_attainment == 1.0);
  CHECK(m.tbt_slo_attainment == 0.5);  // R0's gap .061 > .05; R1's .012 is within
  CHECK(m.throughput_tok_s == Approx(5 / 0.183));
}

TEST_CASE("a recompute preemption shows as one long gap in the victim's token times") {
  FcfsFakeScheduler sched(100, 10);  // KV for 10 tokens
  const auto reqs = toy_requests({{0.0, 4, 5}, {0.0, 4, 5}});
  const SimResult r = simulate(sched, reqs, toy_model());
  // Steps (tokens): 8, 2, 1 (R1 preempted), 1, 1 (R0 ends), 6 (R1 re-prefills 4+2), 1, 1.
  const std::vector<double> r0{0.018, 0.030, 0.041, 0.052, 0.063};
  const std::vector<double> r1{0.018, 0.030, 0.079, 0.090, 0.101};
  REQUIRE(r.outcomes[0].token_times_s.size() == 5);
  REQUIRE(r.outcomes[1].token_times_s.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(r.outcomes[0].token_times_s[i] == Approx(r0[i]));
    CHECK(r.outcomes[1].token_times_s[i] == Approx(r1[i]));
  }
  CHECK(r.outcomes[1].tbt_max_s() == Approx(0.049));
  CHECK(r.outcomes[1].num_preemptions == 1);
  CHECK(r.stats.preemptions_recompute == 1);
  CHECK(r.stats.recomputed_tokens == 5);
  CHECK(r.iterations == 8);
}

TEST_CASE("EOS comes from the true output length when max_tokens is larger") {
  FcfsFakeScheduler sched(1000, 100000);
  auto reqs = toy_requests({{0.0, 10, 4}, {0.0, 10, 1}});
  for (auto& s : reqs.specs) s.max_tokens = 500;  // no client cap: only EOS can end them
  const SimResult r = simulate(sched, reqs, toy_model());
  CHECK(r.outcomes[0].generated() == 4);
  CHECK(r.outcomes[1].generated() == 1);
  CHECK(r.outcomes[0].finished());
}

TEST_CASE("idle gaps jump to the next arrival; rejected inputs become outcomes") {
  FcfsFakeScheduler sched(1000, 100000);
  auto reqs = toy_requests({{0.0, 10, 1}, {5.0, 10, 1}});
  reqs.rejected.push_back({2.0, 9000, 3, 0, 7});
  const SimResult r = simulate(sched, reqs, toy_model());
  REQUIRE(r.outcomes.size() == 3);
  CHECK(r.outcomes[1].token_times_s[0] == Approx(5.020));
  CHECK(r.outcomes[2].state == RequestState::kRejected);
  CHECK(r.outcomes[2].id == 2);
  CHECK(r.outcomes[2].arrival_s == 2.0);
  const Metrics m = compute_metrics(r.outcomes);
  CHECK(m.num_requests == 3);
  CHECK(m.num_rejected == 1);
  CHECK(m.ttft_slo_attainment == Approx(2.0 / 3));
}

TEST_CASE("swap transfers add their time to the iteration, or overlap it") {
  const LatencyModel lm = toy_model();
  SchedulePlan plan;
  plan.scheduled.push_back({0, 1, 99, false, true});
  plan.swap_out = {{0, 0}, {1, 1}};
  plan.swap_in = {{2, 2}};
  const std::int64_t block_bytes = 16 * 1000;
  const double compute = 0.011;
  const double swap = (0.0005 + 2 * block_bytes / 1.0e9) + (0.0005 + block_bytes / 1.0e9);
  CHECK(plan_time_s(plan, lm, block_bytes, false) == Approx(compute + swap));
  CHECK(plan_time_s(plan, lm, block_bytes, true) == Approx(std::max(compute, swap)));
  const BatchShape b = batch_shape_of(plan);
  CHECK(b.num_decodes == 1);
  CHECK(b.decode_context_tokens == 99);
}

namespace {
/// Admits nothing, ever.
class StuckScheduler : public FcfsFakeScheduler {
 public:
  StuckScheduler() : FcfsFakeScheduler(1000, 1000) {}
  const SchedulePlan& schedule(double now_s) override {
    plan_.now_s = now_s;
    return plan_;
  }

 private:
  SchedulePlan plan_;
};
}  // namespace

TEST_CASE("a scheduler that stops making progress ends the run with its requests aborted") {
  StuckScheduler sched;
  const auto reqs = toy_requests({{0.0, 10, 2}, {1.0, 10, 2}});
  const SimResult r = simulate(sched, reqs, toy_model());
  CHECK(r.num_stuck == 2);
  CHECK(r.outcomes[0].state == RequestState::kAborted);
  CHECK(r.outcomes[1].state == RequestState::kAborted);
  CHECK(r.end_time_s == 1.0);
}

TEST_CASE("same inputs, byte-identical JSON (wall time left out)") {
  BuildOptions o;
  o.num_requests = 300;
  o.max_model_len = 4096;
  const auto w = workload_from_traces(
      {kvsched::test::bundled_data_dir() / "azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv"},
      TraceFormat::kAuto);
  const SimRequests reqs = build_requests(w, o);
  auto run = [&] {
    FcfsFakeScheduler sched(4096, 60000);
    return run_to_json(simulate(sched, reqs, toy_model()), reqs, false).dump(1);
  };
  const std::string a = run();
  CHECK(a == run());
  CHECK(a.find("\"sim_wall_s\": null") != std::string::npos);
  CHECK(a.find("\"num_requests\": 300") != std::string::npos);
}
