// The cluster simulation: router decisions on small scenarios (exact assignments), every
// request ends exactly once across replicas, one replica == simulate(), capacity search,
// the thread pool.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/latency/profile_fit.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/sim/capacity.hpp"
#include "kvsched/sim/cluster.hpp"
#include "kvsched/sim/cluster_json.hpp"
#include "kvsched/sim/parallel.hpp"
#include "kvsched/sim/report_json.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/router.hpp"
#include "kvsched/sim/simulator.hpp"
#include "support/fcfs_fake_scheduler.hpp"
#include "support/sim_fixtures.hpp"

using namespace kvsched;
using namespace kvsched::sim;
using kvsched::test::conv_slice;
using kvsched::test::FcfsFakeScheduler;
using kvsched::test::llama2_a100;
using kvsched::test::toy_model;
using kvsched::test::toy_requests;

namespace {
EngineConfig small_engine() {
  EngineConfig e;
  e.num_device_blocks = 600;
  e.num_host_blocks = 256;
  e.max_model_len = 4096;
  return e;
}
ClusterOptions cluster(std::size_t replicas, RouterKind router) {
  ClusterOptions c;
  c.replicas = replicas;
  c.router = router;
  return c;
}
std::vector<std::size_t> assignment(const ClusterResult& c, std::size_t n) {
  std::vector<std::size_t> a(n, 99);
  for (std::size_t r = 0; r < c.replicas.size(); ++r) {
    for (auto id : c.replicas[r].request_ids) a[id] = r;
  }
  return a;
}
std::vector<ReplicaState> loads(std::initializer_list<std::size_t> outstanding) {
  std::vector<ReplicaState> s;
  for (auto o : outstanding) s.push_back({o, 0, 0});
  return s;
}
}  // namespace

TEST_CASE("router names round-trip") {
  for (auto k : {RouterKind::kRoundRobin, RouterKind::kLeastLoaded, RouterKind::kKvAware, RouterKind::kPrefixAware}) {
    CHECK(parse_router(to_string(k)) == k);
  }
  CHECK_FALSE(parse_router("random").has_value());
}

TEST_CASE("choose_replica: each rule on hand-made replica states") {
  const RouterConfig cfg;
  std::size_t rr = 0;
  auto s = loads({5, 1, 1});
  CHECK(choose_replica(RouterKind::kRoundRobin, cfg, 100, s, rr) == 0);
  CHECK(choose_replica(RouterKind::kRoundRobin, cfg, 100, s, rr) == 1);
  CHECK(choose_replica(RouterKind::kRoundRobin, cfg, 100, s, rr) == 2);
  CHECK(choose_replica(RouterKind::kRoundRobin, cfg, 100, s, rr) == 0);
  // Least outstanding, ties to the lowest index (Vidur's min over the replica map).
  CHECK(choose_replica(RouterKind::kLeastLoaded, cfg, 100, s, rr) == 1);
  // Most free KV; ties to fewer outstanding.
  s[0].kv_free_blocks = 10;
  s[1].kv_free_blocks = 30;
  s[2].kv_free_blocks = 30;
  s[2].outstanding = 0;
  CHECK(choose_replica(RouterKind::kKvAware, cfg, 100, s, rr) == 2);
  s[0].kv_free_blocks = 31;
  CHECK(choose_replica(RouterKind::kKvAware, cfg, 100, s, rr) == 0);
  // Prefix: balanced loads, the longest cached prefix wins when it covers > half the prompt.
  auto p = loads({2, 3, 0});
  p[1].cached_prefix_tokens = 600;
  p[0].cached_prefix_tokens = 300;
  CHECK(choose_replica(RouterKind::kPrefixAware, cfg, 1000, p, rr) == 1);
  p[1].cached_prefix_tokens = 500;  // 50% is not > cache_threshold: least loaded
  CHECK(choose_replica(RouterKind::kPrefixAware, cfg, 1000, p, rr) == 2);
  // Imbalanced (max - min > 32 and max > 1.0001 x min): shortest queue whatever is cached.
  auto q = loads({40, 7});
  q[0].cached_prefix_tokens = 1000;
  CHECK(choose_replica(RouterKind::kPrefixAware, cfg, 1000, q, rr) == 1);
  q[0].outstanding = 39;  // difference 32: still balanced, the cache wins
  CHECK(choose_replica(RouterKind::kPrefixAware, cfg, 1000, q, rr) == 0);
}

TEST_CASE("cluster: round robin and least loaded assign exactly as their rules say") {
  const LatencyModel lm = toy_model();
  const ReplicaFactory make = [] { return std::make_unique<FcfsFakeScheduler>(1000, 100000); };
  // R0 and R1 run long; R2 arrives while both run; R3 after R1 has finished.
  const auto reqs = toy_requests({{0.0, 100, 200, {}}, {0.001, 100, 2, {}}, {0.002, 10, 2, {}}, {1.0, 10, 2, {}}});
  const auto rr = simulate_cluster(make, reqs, lm, cluster(3, RouterKind::kRoundRobin));
  CHECK(assignment(rr, 4) == std::vector<std::size_t>{0, 1, 2, 0});
  const auto ll = simulate_cluster(make, reqs, lm, cluster(2, RouterKind::kLeastLoaded));
  // R0 -> 0; R1 -> 1 (0 has one); R2: both have one -> 0; R3 at 1 s: 0 still runs R0 -> 1.
  CHECK(assignment(ll, 4) == std::vector<std::size_t>{0, 1, 0, 1});
  CHECK(rr.merged.outcomes[3].finished());
  CHECK(ll.merged.outcomes[0].generated() == 200);
}

TEST_CASE("cluster: kv_aware sends a request to the replica with the most free KV") {
  const LatencyModel lm = toy_model();
  EngineConfig e = small_engine();
  e.num_device_blocks = 64;
  e.max_model_len = 1024;
  const ReplicaFactory make = [&] { return make_scheduler("vllm_v1", e, lm); };
  // R0 (40 blocks of prompt) -> 0, R1 (8 blocks) -> 1; R2: replica 1 has more free -> 1;
  // R3 at 0.6 s: replica 0 (R0 still prefilling, 40 blocks) has 24 free, replica 1 about 50 -> 1,
  // where least_loaded would pick 0 (one outstanding against two).
  const auto reqs = toy_requests({{0.0, 640, 200, {}}, {0.0, 128, 200, {}}, {0.5, 16, 2, {}}, {0.6, 128, 2, {}}});
  const auto c = simulate_cluster(make, reqs, lm, cluster(2, RouterKind::kKvAware));
  CHECK(assignment(c, 4) == std::vector<std::size_t>{0, 1, 1, 1});
}

TEST_CASE("cluster: prefix_aware follows the cached prefix, least_loaded does not") {
  const LatencyModel lm = toy_model();
  EngineConfig e = small_engine();
  const ReplicaFactory make = [&] { return make_scheduler("vllm_v1", e, lm); };
  const std::vector<std::uint64_t> x{1, 2, 3, 4, 5, 6, 7, 8}, y{9, 10, 11, 12, 13, 14, 15, 16};
  // A (prefix x) -> 0, B (prefix y) -> 1; both finish; C (prefix y) arrives with both idle.
  const auto reqs = toy_requests({{0.0, 128, 2, x}, {0.0, 128, 2, y}, {5.0, 130, 2, y}});
  const auto pa = simulate_cluster(make, reqs, lm, cluster(2, RouterKind::kPrefixAware));
  CHECK(assignment(pa, 3) == std::vector<std::size_t>{0, 1, 1});
  CHECK(pa.merged.stats.prefix_cache_hit_tokens >= 112);
  const auto ll = simulate_cluster(make, reqs, lm, cluster(2, RouterKind::kLeastLoaded));
  CHECK(assignment(ll, 3) == std::vector<std::size_t>{0, 1, 0});
  CHECK(ll.merged.stats.prefix_cache_hit_tokens == 0);
}

TEST_CASE("cluster: every request ends exactly once across replicas, for every router") {
  const SimRequests reqs = conv_slice(200, 6.0);
  const EngineConfig e = small_engine();
  for (const std::string policy : {"vllm_v1", "sarathi", "cacheopt", "accelgen"}) {
    for (auto router : {RouterKind::kRoundRobin, RouterKind::kLeastLoaded, RouterKind::kKvAware, RouterKind::kPrefixAware}) {
      INFO(policy << " " << to_string(router));
      const ReplicaFactory make = [&] { return make_scheduler(policy, e, llama2_a100()); };
      const auto c = simulate_cluster(make, reqs, llama2_a100(), cluster(3, router), sim_options(e.block_size));
      std::multiset<RequestId> routed;
      std::size_t used = 0;
      for (const auto& r : c.replicas) {
        routed.insert(r.request_ids.begin(), r.request_ids.end());
        used += !r.request_ids.empty();
      }
      CHECK(used == 3);
      REQUIRE(routed.size() == reqs.specs.size());
      for (std::size_t i = 0; i < reqs.specs.size(); ++i) CHECK(routed.count(i) == 1);
      CHECK(c.merged.num_stuck == 0);
      for (std::size_t i = 0; i < reqs.specs.size(); ++i) {
        const auto& o = c.merged.outcomes[i];
        CHECK(o.id == i);
        CHECK((o.state == RequestState::kFinished || o.state == RequestState::kRejected));
        if (o.finished()) CHECK(o.generated() == reqs.output_tokens[i]);
      }
      // The replicas' requests partition the cluster's: per-replica counts add up.
      const auto j = cluster_run_to_json(c, reqs, false);
      std::size_t finished = 0;
      for (const auto& pr : j.at("per_replica")) finished += pr.at("metrics").at("num_finished").get<std::size_t>();
      CHECK(finished == j.at("metrics").at("num_finished").get<std::size_t>());
    }
  }
}

TEST_CASE("a one-replica cluster is the plain simulation") {
  const SimRequests reqs = conv_slice(150, 4.0);
  const EngineConfig e = small_engine();
  for (const std::string policy : {"vllm_v1", "vllm_v0", "sarathi", "cacheopt", "accelgen", "sglang"}) {
    INFO(policy);
    SimOptions so = sim_options(e.block_size);
    so.latency_noise_cv = policy == "vllm_v1" ? 0.3 : 0.0;  // the same noise stream as simulate()'s
    so.noise_seed = 5;
    auto s = make_scheduler(policy, e, llama2_a100());
    const SimResult plain = simulate(*s, reqs, llama2_a100(), so);
    const ReplicaFactory make = [&] { return make_scheduler(policy, e, llama2_a100()); };
    for (auto router : {RouterKind::kRoundRobin, RouterKind::kPrefixAware}) {
      const auto c = simulate_cluster(make, reqs, llama2_a100(), cluster(1, router), so);
      CHECK(cluster_run_to_json(c, reqs, false) == run_to_json(plain, reqs, false));
      CHECK(c.merged.kv_timeline.size() == plain.kv_timeline.size());
    }
  }
}

TEST_CASE("find_min_replicas gallops then bisects to the fewest sustaining size") {
  std::vector<std::size_t> asked;
  const auto probe = [&](std::size_t r) {
    asked.push_back(r);
    const double a = r >= 11 ? 0.95 : 0.5;
    return CapacityProbe{r, a, 0.99, a, 1.0};
  };
  std::vector<CapacityProbe> probes;
  CHECK(find_min_replicas(probe, 64, &probes) == 11);
  CHECK(asked == std::vector<std::size_t>{1, 2, 4, 8, 16, 12, 10, 11});
  REQUIRE(probes.size() == asked.size());
  CHECK(std::is_sorted(probes.begin(), probes.end(), [](auto& a, auto& b) { return a.replicas < b.replicas; }));
  asked.clear();
  CHECK_FALSE(find_min_replicas(probe, 6, &probes).has_value());
  CHECK(asked == std::vector<std::size_t>{1, 2, 4, 6});
  CHECK(find_min_replicas([](std::size_t r) { return CapacityProbe{r, 1.0, 1.0, 1.0, 1.0}; }, 8) == 1);
  CHECK_THROWS_AS(find_min_replicas(probe, 0), std::invalid_argument);
}

TEST_CASE("parallel_for runs every index once and rethrows the lowest failing one") {
  for (std::size_t threads : {1, 2, 7}) {
    std::vector<int> hits(100, 0);
    parallel_for(hits.size(), threads, [&](std::size_t i) { hits[i] += 1; });
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
  }
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH(parallel_for(4, 1,
                                 [&](std::size_t i) {
                                   ++ran;
                                   if (i >= 2) throw std::runtime_error("task " + std::to_string(i));
                                 }),
                    "task 2");
  CHECK(ran == 3);
}

TEST_CASE("cluster runs give the same JSON on one thread and on two") {
  const SimRequests reqs = conv_slice(120, 6.0);
  const EngineConfig e = small_engine();
  const std::vector<std::string> policies{"vllm_v1", "sarathi", "cacheopt"};
  const auto run_all = [&](std::size_t threads) {
    std::vector<nlohmann::json> out(policies.size());
    parallel_for(policies.size(), threads, [&](std::size_t i) {
      const ReplicaFactory make = [&] { return make_scheduler(policies[i], e, llama2_a100()); };
      out[i] = cluster_run_to_json(simulate_cluster(make, reqs, llama2_a100(), cluster(2, RouterKind::kLeastLoaded),
                                                    sim_options(e.block_size)),
                                   reqs, false);
    });
    return nlohmann::json(out).dump();
  };
  CHECK(run_all(1) == run_all(2));
}

TEST_CASE("replicas advanced on 1, 2 or 3 threads give the same cluster, for every router") {
  const SimRequests reqs = conv_slice(300, 12.0);
  const EngineConfig e = small_engine();
  SimOptions so = sim_options(e.block_size);
  so.latency_noise_cv = 0.1;  // every replica its own noise stream
  so.noise_seed = 3;
  for (const std::string policy : {"vllm_v1", "cacheopt"}) {
    const ReplicaFactory make = [&] { return make_scheduler(policy, e, llama2_a100()); };
    for (auto router : {RouterKind::kRoundRobin, RouterKind::kLeastLoaded, RouterKind::kKvAware, RouterKind::kPrefixAware}) {
      INFO(policy << " " << to_string(router));
      ClusterOptions c = cluster(5, router);
      const auto one = cluster_run_to_json(simulate_cluster(make, reqs, llama2_a100(), c, so), reqs, false);
      CHECK(one.at("metrics").at("num_finished").get<std::size_t>() > 0);
      for (std::size_t threads : {2, 3}) {
        c.threads = threads;
        std::vector<std::size_t> seen;
        SimOptions sp = so;
        sp.progress = [&](std::size_t done, std::size_t) { seen.push_back(done); };
        CHECK(cluster_run_to_json(simulate_cluster(make, reqs, llama2_a100(), c, sp), reqs, false) == one);
        CHECK(std::is_sorted(seen.begin(), seen.end()));
        REQUIRE_FALSE(seen.empty());
        CHECK(seen.back() == reqs.specs.size() + reqs.rejected.size());
      }
    }
  }
}

TEST_CASE("LockstepTeam runs every member once per phase and rethrows the lowest member's error") {
  for (std::size_t threads : {1, 2, 4}) {
    LockstepTeam team(threads);
    REQUIRE(team.size() == threads);
    std::vector<int> hits(threads, 0);
    const std::function<void(std::size_t)> count = [&](std::size_t k) { hits[k] += 1; };
    for (int phase = 0; phase < 200; ++phase) team.run(count);
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 200; }));
    const std::function<void(std::size_t)> fail = [&](std::size_t k) {
      if (k + 1 == threads || k == 1) throw std::runtime_error("member " + std::to_string(k));
    };
    CHECK_THROWS_WITH(team.run(fail), threads == 1 ? "member 0" : "member 1");
    team.run(count);  // the team still works after a failed phase
    CHECK(hits.front() == 201);
  }
}
