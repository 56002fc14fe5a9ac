// Iteration-level SLO-based prioritisation (docs/design.md section 3.3.2): slack order and
// similar-SLO grouping on crafted queues; the incremental structure agrees with a full sort.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "accelgen_test_util.hpp"
#include "kvsched/policy/queue/slo_slack_queue.hpp"

using namespace kvsched;
using kvsched::testing::candidates;
using kvsched::testing::ViewFixture;
using kvsched::testing::ids;
using kvsched::testing::spec;

namespace {
std::vector<RequestId> full_order(const SloSlackQueue& q, std::vector<Request*> reqs, const SchedulerView& v) {
  q.order_waiting(reqs, v);
  return ids(reqs);
}
}  // namespace

TEST_CASE("slo queue: the anchor's similar-SLO group first, then looser, then tighter, each by slack") {
  ViewFixture f;
  SloSlackQueue q;
  // Same prompt (same predicted prefill), deadlines rise with the TTFT: A < B < C < D < E.
  //   id  TTFT  TBT
  //   1 A  1.0  0.10   anchor (most urgent)
  //   2 B  2.0  0.50   looser (> 0.15)
  //   3 C  3.0  0.12   similar
  //   4 D  4.0  0.05   tighter (< 0.0667)
  //   5 E  5.0  0.11   similar
  const double tbt[] = {0.10, 0.50, 0.12, 0.05, 0.11};
  for (RequestId i = 1; i <= 5; ++i) q.on_enqueue(f.add(spec(i, 100, 10, static_cast<double>(i), tbt[i - 1]), RequestState::kWaiting), f.view());
  CHECK(q.size() == 5);
  CHECK(candidates(q, f.view()) == std::vector<RequestId>{1, 3, 5, 2, 4});
  CHECK(full_order(q, f.waiting, f.view()) == std::vector<RequestId>{1, 3, 5, 2, 4});

  SECTION("when the anchor leaves, the next most urgent fixes the group") {
    q.on_dequeue(*f.waiting[0]);
    // Anchor B (0.50): similar = [0.333, 0.75] -> B alone; no looser; tighter C, D, E by slack.
    CHECK(candidates(q, f.view()) == std::vector<RequestId>{2, 3, 4, 5});
  }
  SECTION("a tight request that becomes the most urgent takes the lead with its own group") {
    Request& g = f.add(spec(6, 100, 10, 0.5, 0.04), RequestState::kWaiting);
    q.on_enqueue(g, f.view());
    // Anchor G (0.04): similar [0.0267, 0.06] = G, D; looser A, B, C, E by slack.
    CHECK(candidates(q, f.view()) == std::vector<RequestId>{6, 4, 1, 2, 3, 5});
  }
  SECTION("bounded: at most max_candidates") {
    q.config.max_candidates = 2;
    CHECK(candidates(q, f.view()) == std::vector<RequestId>{1, 3});
  }
  SECTION("bounded by free seats: candidates_per_free_seat per seat under max_num_seqs, at least one") {
    q.config.candidates_per_free_seat = 2;
    f.eng.max_num_seqs = 3;
    CHECK(candidates(q, f.view()) == std::vector<RequestId>{1, 3, 5, 2, 4});  // 3 seats: 6 >= 5 waiting
    f.add(spec(10, 100, 10, 1.0, 0.1), RequestState::kRunning);
    CHECK(candidates(q, f.view()) == std::vector<RequestId>{1, 3, 5, 2});  // 2 seats
    f.add(spec(11, 100, 10, 1.0, 0.1), RequestState::kSwapped);  // a swapped request holds a seat too
    CHECK(candidates(q, f.view()) == std::vector<RequestId>{1, 3});
    f.add(spec(12, 100, 10, 1.0, 0.1), RequestState::kRunning);
    CHECK(candidates(q, f.view()) == std::vector<RequestId>{1});  // no seat: the anchor alone
    q.config.max_candidates = 0;
    CHECK(candidates(q, f.view()).empty());
  }
}

TEST_CASE("slo queue: slack counts the predicted prefill, returning requests use their TBT") {
  ViewFixture f;
  SloSlackQueue q;
  // Same arrival and TTFT; the longer prompt needs more prefill time, so it is more urgent.
  Request& shrt = f.add(spec(1, 100, 10, 1.0, 0.1), RequestState::kWaiting);
  Request& lng = f.add(spec(2, 3000, 10, 1.0, 0.1), RequestState::kWaiting);
  // Preempted after 5 tokens, last one at t = 0.2: deadline 0.2 + 0.1 - prefill(105).
  Request& back = f.add(spec(3, 100, 10, 1.0, 0.1), RequestState::kPreempted, 0, 5, 0.2);
  // No SLO: after everyone with one.
  Request& none = f.add(spec(4, 100, 10, 0.0, 0.0), RequestState::kWaiting);
  for (Request* r : {&shrt, &lng, &back, &none}) q.on_enqueue(*r, f.view());
  CHECK(start_deadline_s(back, f.lm) == Approx(0.3 - f.lm.prefill_s(105)));
  CHECK(candidates(q, f.view()) == std::vector<RequestId>{3, 2, 1, 4});
  CHECK(full_order(q, f.waiting, f.view()) == std::vector<RequestId>{3, 2, 1, 4});
}

TEST_CASE("slo queue: returning requests go first even when new ones are more overdue") {
  ViewFixture f;
  SloSlackQueue q;
  // Under overload new requests wait past their deadlines; a request preempted just now (last
  // token at t = 50) has a later deadline than all of them but goes first.
  Request& old1 = f.add(spec(1, 100, 10, 0.5, 0.1, 1.0), RequestState::kWaiting);
  Request& old2 = f.add(spec(2, 100, 10, 0.5, 0.25, 2.0), RequestState::kWaiting);
  Request& back = f.add(spec(3, 100, 10, 0.5, 0.25, 0.0), RequestState::kPreempted, 0, 40, 50.0);
  for (Request* r : {&old1, &old2, &back}) q.on_enqueue(*r, f.view(60.0));
  CHECK(candidates(q, f.view(60.0)) == std::vector<RequestId>{3, 1, 2});
  CHECK(full_order(q, f.waiting, f.view(60.0)) == std::vector<RequestId>{3, 1, 2});
  SECTION("slack order alone when returning_first is off") {
    SloSlackQueue plain;
    plain.config.returning_first = false;
    for (Request* r : {&old1, &old2, &back}) plain.on_enqueue(*r, f.view(60.0));
    CHECK(candidates(plain, f.view(60.0)) == std::vector<RequestId>{1, 2, 3});
  }
}

TEST_CASE("slo queue: incremental candidates equal a full sort under random enqueue and dequeue") {
  ViewFixture f;
  SloSlackQueue q;
  q.config.max_candidates = 1000;
  std::mt19937_64 rng(7);
  const double tbts[] = {0.03, 0.04, 0.05, 0.1, 0.15, 0.2, 0.0};
  std::vector<Request*> live;
  for (int round = 0; round < 400; ++round) {
    if (live.empty() || rng() % 3 != 0) {
      const auto id = static_cast<RequestId>(round);
      const double tbt = tbts[rng() % 7];
      auto s = spec(id, 1 + static_cast<std::int32_t>(rng() % 4000), 10, tbt > 0 ? 0.1 + (rng() % 100) * 0.05 : 0.0, tbt,
                    (rng() % 1000) * 0.01);
      const bool returning = rng() % 5 == 0;  // preempted after some output
      Request& r = returning ? f.add(s, RequestState::kPreempted, 0, 1 + static_cast<std::int32_t>(rng() % 9), (rng() % 1000) * 0.01)
                             : f.add(s, RequestState::kWaiting);
      q.on_enqueue(r, f.view());
      live.push_back(&r);
    } else {
      const std::size_t k = rng() % live.size();
      q.on_dequeue(*live[k]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
    REQUIRE(q.size() == live.size());
    if (round % 20 == 0) REQUIRE(candidates(q, f.view()) == full_order(q, live, f.view()));
  }
  // Bounded lists are prefixes of the full order.
  q.config.max_candidates = 10;
  const auto full = full_order(q, live, f.view());
  CHECK(candidates(q, f.view()) == std::vector<RequestId>(full.begin(), full.begin() + 10));
}

TEST_CASE("slo queue: running order puts decodes first, prefills by slack") {
  ViewFixture f;
  SloSlackQueue q;
  f.add(spec(1, 3000, 10, 9.0, 0.1), RequestState::kRunning, 1000, 0);       // long prefill, loose TTFT
  f.add(spec(2, 100, 10, 1.0, 0.1), RequestState::kRunning, 102, 3, 0.05);   // decode, deadline 0.15
  f.add(spec(3, 400, 10, 0.5, 0.1), RequestState::kRunning, 200, 0);        // short prefill, tight TTFT
  f.add(spec(4, 100, 10, 1.0, 0.05), RequestState::kRunning, 102, 3, 0.05);  // decode, deadline 0.10
  std::vector<Request*> order = f.running;
  SECTION("every decode fits: admission order kept among decodes") {
    q.order_running(order, f.view(0.1, 1000));
    CHECK(ids(order) == std::vector<RequestId>{2, 4, 3, 1});
  }
  SECTION("decodes that cannot all run are ordered by slack too") {
    q.order_running(order, f.view(0.1, 1));
    CHECK(ids(order) == std::vector<RequestId>{4, 2, 3, 1});
  }
}
