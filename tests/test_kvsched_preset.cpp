// kvsched's flagship (presets::slo_fit, registered as "slo_fit" and "kvsched"): exact plans on
// small scenarios (fit admission without head-of-line blocking, late-last order, shortest
// predicted work first, the urgent band, lost-first victims), and that it reads no oracle
// information. Its block invariants under
// random load run in test_scheduler_invariants.cpp (every registered preset).
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "accelgen_test_util.hpp"
#include "kvsched/policy/batch/multi_resource_batch.hpp"
#include "kvsched/policy/queue/slo_slack_queue.hpp"
#include "kvsched/policy/victim/lost_first_victim.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/scheduler/scheduler.hpp"

using namespace kvsched;
using kvsched::testing::candidates;
using kvsched::testing::ViewFixture;
using kvsched::testing::ids;
using kvsched::testing::spec;

namespace {
std::vector<RequestId> scheduled_ids(const SchedulePlan& p) {
  std::vector<RequestId> out;
  for (const auto& s : p.scheduled) out.push_back(s.id);
  return out;
}
StepResult done_at(double t) {
  StepResult r;
  r.now_s = t;
  return r;
}
/// Arrival that puts a request's start deadline at `deadline` (TTFT 1 s, prompt `prompt`).
double arrival_for(const LatencyModel& lm, double deadline, std::int32_t prompt) { return deadline - 1.0 + lm.prefill_s(prompt, 0); }
}  // namespace

TEST_CASE("slo queue late_last: starved first, then on-time by slack, then late", "[kvsched][queue]") {
  ViewFixture f;
  SloSlackQueue q;
  q.config.late_last = true;
  q.config.starvation_s = 5.0;
  // Deadlines A 3, B 8, C 11, D 12; now 10: A is 7 s late (starved), B 2 s late, C and D on time.
  const double deadlines[] = {3.0, 8.0, 11.0, 12.0};
  for (RequestId i = 1; i <= 4; ++i)
    q.on_enqueue(f.add(spec(i, 100, 10, 1.0, 0.1, arrival_for(f.lm, deadlines[i - 1], 100)), RequestState::kWaiting), f.view());
  CHECK(candidates(q, f.view(10.0)) == std::vector<RequestId>{1, 3, 4, 2});
  SECTION("before any deadline passes, plain slack order") { CHECK(candidates(q, f.view(0.0)) == std::vector<RequestId>{1, 2, 3, 4}); }
  SECTION("off: most overdue first") {
    q.config.late_last = false;
    CHECK(candidates(q, f.view(10.0)) == std::vector<RequestId>{1, 2, 3, 4});
  }
  SECTION("a late request that is dequeued leaves every band") {
    q.on_dequeue(*f.waiting[1]);
    CHECK(candidates(q, f.view(10.0)) == std::vector<RequestId>{1, 3, 4});
  }
}

TEST_CASE("slo queue shortest_first: on-time requests by prompt + expected output, late ones after", "[kvsched][queue]") {
  ViewFixture f;
  SloSlackQueue q;
  q.config.late_last = true;
  q.config.shortest_first = true;
  // No estimator bound: the expected output is max_tokens. Work: 1 -> 410, 2 -> 110, 3 -> 230.
  q.on_enqueue(f.add(spec(1, 400, 10, 5.0, 0.1), RequestState::kWaiting), f.view());
  q.on_enqueue(f.add(spec(2, 100, 10, 5.0, 0.1), RequestState::kWaiting), f.view());
  q.on_enqueue(f.add(spec(3, 200, 30, 5.0, 0.1), RequestState::kWaiting), f.view());
  // A late one (deadline 0.5, now 1): after every on-time one.
  q.on_enqueue(f.add(spec(4, 10, 1, 1.0, 0.1, arrival_for(f.lm, 0.5, 10)), RequestState::kWaiting), f.view());
  CHECK(candidates(q, f.view(1.0)) == std::vector<RequestId>{2, 3, 1, 4});
}

TEST_CASE("slo queue urgent band: on-time requests short of slack first by deadline, unless there are too many",
          "[kvsched][queue]") {
  ViewFixture f;
  SloSlackQueue q;
  q.config.late_last = true;
  q.config.shortest_first = true;
  q.config.urgent_fraction = 0.5;
  // TTFT 4 s; at now = 10 a slack under 2 s is urgent. Deadlines C 11 (urgent), D 12, E 15;
  // work (prompt + max_tokens, no estimator bound) C 900, D 50, E 300.
  const auto add = [&](RequestId id, std::int32_t prompt, std::int32_t out, double deadline) {
    const double arrival = deadline - 4.0 + f.lm.prefill_s(prompt, 0);
    q.on_enqueue(f.add(spec(id, prompt, out, 4.0, 0.1, arrival), RequestState::kWaiting), f.view());
  };
  add(3, 800, 100, 11.0);
  add(4, 40, 10, 12.0);
  add(5, 200, 100, 15.0);
  CHECK(candidates(q, f.view(10.0)) == std::vector<RequestId>{3, 4, 5});
  SECTION("off: shortest first for every on-time request") {
    q.config.urgent_fraction = 0.0;
    CHECK(candidates(q, f.view(10.0)) == std::vector<RequestId>{4, 5, 3});
  }
  SECTION("more urgent requests than max_urgent is overload: shortest first for all") {
    q.config.max_urgent = 1;
    add(6, 600, 100, 11.5);  // urgent too (slack 1.5 s), work 700
    CHECK(candidates(q, f.view(10.0)) == std::vector<RequestId>{4, 5, 6, 3});
    q.config.max_urgent = 2;
    CHECK(candidates(q, f.view(10.0)) == std::vector<RequestId>{3, 6, 4, 5});
  }
}

TEST_CASE("multi-resource batch: an urgent anchor that does not fit the KV holds back the others", "[kvsched][batch]") {
  ViewFixture f{kvsched::testing::engine(/*blocks=*/21)};
  MultiResourceBatch b;
  b.config.subtract_running_growth = false;
  b.config.protect_overdue_anchor = true;
  f.add(spec(99, 8, 2, 4.0, 0.1), RequestState::kRunning, 8, 1, 0.0);
  REQUIRE(f.blocks.allocate_slots(99, 9));  // 20 blocks free
  // Anchor 1 (deadline 11, TTFT 4 s, so slack 1 s at now 10) needs 32 blocks; 2 needs 4.
  Request& a = f.add(spec(1, 500, 12, 4.0, 0.1, 11.0 - 4.0 + f.lm.prefill_s(500, 0)), RequestState::kWaiting);
  Request& c = f.add(spec(2, 60, 4, 4.0, 0.1), RequestState::kWaiting);
  const auto select = [&](double fraction) {
    b.config.protect_urgent_fraction = fraction;
    std::vector<Request*> cands{&a, &c};
    b.select(cands, f.view(10.0, 2048));
    return ids(cands);
  };
  CHECK(select(0.5) == std::vector<RequestId>{});   // slack 1 s < 0.5 x 4 s: nothing admitted
  CHECK(select(0.0) == std::vector<RequestId>{2});  // only an overdue anchor is protected
}

TEST_CASE("lost-first victim: the latest request past its TBT SLO, else the latest", "[kvsched][victim]") {
  ViewFixture f;
  // TBT SLO 0.1 s; now = 5. 1: a past gap of 0.3 s; 2: on track; 3: on track.
  Request& r1 = f.add(spec(1, 10, 50, 1.0, 0.1), RequestState::kRunning, 20, 10, 4.99);
  Request& r2 = f.add(spec(2, 10, 50, 1.0, 0.1), RequestState::kRunning, 20, 10, 4.99);
  Request& r3 = f.add(spec(3, 10, 50, 1.0, 0.1), RequestState::kRunning, 20, 10, 4.99);
  r1.max_token_gap_s = 0.3;
  r2.max_token_gap_s = r3.max_token_gap_s = 0.05;
  const LostFirstVictim v;
  const std::vector<Request*> all{&r1, &r2, &r3};
  CHECK(v.select(all, r3, f.view(5.0)) == &r1);
  SECTION("a gap open longer than the SLO counts too; the latest lost one goes") {
    r2.last_token_s = 4.8;
    CHECK(v.select(all, r3, f.view(5.0)) == &r2);
  }
  SECTION("none lost: vLLM v1's choice, the most recently admitted") {
    r1.max_token_gap_s = 0.05;
    CHECK(v.select(all, r3, f.view(5.0)) == &r3);
  }
  CHECK(v.select({}, r3, f.view(5.0)) == nullptr);
}

TEST_CASE("the scheduler records each request's largest gap between output tokens", "[kvsched][victim]") {
  EngineConfig e = kvsched::testing::engine(/*blocks=*/64, /*budget=*/256);
  e.max_model_len = 512;
  Scheduler<presets::slo_fit> s(e, LatencyModel(kvsched::testing::linear_coeffs()));
  s.add_request(spec(1, 16, 8, 1.0, 0.1));
  double now = 0.0;
  for (const double dt : {0.05, 0.02, 0.30, 0.04}) {
    (void)s.schedule(now);
    now += dt;
    s.on_step_done(done_at(now));
  }
  REQUIRE(s.find(1) != nullptr);
  CHECK(s.find(1)->num_generated == 4);
  CHECK(s.find(1)->max_token_gap_s == Approx(0.30));
}

TEST_CASE("slo_fit: a candidate whose prompt + expected output does not fit is skipped, the next one admitted",
          "[kvsched][admission]") {
  EngineConfig e = kvsched::testing::engine(/*blocks=*/24, /*budget=*/512);
  e.max_model_len = 384;
  const LatencyModel lm(kvsched::testing::linear_coeffs());
  // No SLO, so that the chunker never limits the chunks.
  const auto no_slo = [](RequestId id, std::int32_t prompt, std::int32_t out, double t) {
    return RequestSpec{.id = id, .arrival_s = t, .prompt_tokens = prompt, .max_tokens = out};
  };
  Scheduler<presets::slo_fit> s(e, lm);
  s.add_request(no_slo(1, 16, 64, 0.0));  // 5 blocks at its end (16 + 64 - 1 tokens)
  CHECK(scheduled_ids(s.schedule(0.0)) == std::vector<RequestId>{1});
  s.on_step_done(done_at(0.01));
  // 2: prompt 32 fits, but with its expected output (cold history: max_tokens 340) it needs
  // ceil(371 / 16) = 24 blocks of the at most 22 free (24, less the null block and request 1's).
  // 3: 32 + 32 tokens = 4 blocks.
  s.add_request(no_slo(2, 32, 340, 0.01));
  s.add_request(no_slo(3, 32, 32, 0.01));
  const SchedulePlan& p = s.schedule(0.01);
  CHECK(scheduled_ids(p) == std::vector<RequestId>{1, 3});
  REQUIRE(s.find(2) != nullptr);
  CHECK(s.find(2)->state == RequestState::kWaiting);

  SECTION("vllm_v1 admits by the prompt alone, in FCFS order") {
    Scheduler<presets::vllm_v1> v(e, lm);
    v.add_request(no_slo(1, 16, 64, 0.0));
    (void)v.schedule(0.0);
    v.on_step_done(done_at(0.01));
    v.add_request(no_slo(2, 32, 340, 0.01));
    v.add_request(no_slo(3, 32, 32, 0.01));
    CHECK(scheduled_ids(v.schedule(0.01)) == std::vector<RequestId>{1, 2, 3});
  }
}

TEST_CASE("kvsched is slo_fit under the registry, and reads no oracle output length", "[kvsched][registry]") {
  EngineConfig e = kvsched::testing::engine(/*blocks=*/64, /*budget=*/256);
  e.max_model_len = 1024;
  const LatencyModel lm(kvsched::testing::attention_coeffs());
  // The same requests with different true lengths must get the same plans, step after step.
  const auto plans = [&](std::int32_t oracle) {
    auto s = make_scheduler("kvsched", e, lm);
    CHECK(s->name() == "kvsched");
    std::vector<std::vector<RequestId>> out;
    for (RequestId i = 1; i <= 6; ++i)
      s->add_request({.id = i, .arrival_s = 0.0, .prompt_tokens = 100 + 40 * static_cast<std::int32_t>(i), .max_tokens = 200,
                      .slo = {1.0, 0.05}, .oracle_output_tokens = oracle});
    double now = 0.0;
    for (int step = 0; step < 30; ++step) {
      const SchedulePlan& p = s->schedule(now);
      out.push_back(scheduled_ids(p));
      now += 0.01;
      s->on_step_done(done_at(now));
    }
    return out;
  };
  CHECK(plans(5) == plans(150));
}
