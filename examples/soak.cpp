// kvsched-soak: long-run check of every preset (scripts/soak.sh; not in CI). Drives each
// scheduler like an engine for N iterations with random arrivals, EOS and aborts, and measures
// what must stay flat or zero: resident memory (sampled at intervals from /proc/self/statm)
// and invariant violations (BlockManager::check_invariants, request accounting, plan caps).
//
//   kvsched-soak [--iterations N] [--presets a,b] [--seed S] [--check-every K] [--samples M]
// Exit: 0 all presets clean; 1 a violation or memory growth; 2 bad arguments.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <kvsched/kvsched.hpp>

namespace {

using namespace kvsched;

/// Resident set size now (MiB), from /proc/self/statm; 0 where unavailable.
double rss_mib() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  if (!(in >> pages >> resident)) return 0.0;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

struct Args {
  std::int64_t iterations = 10'000'000;
  std::vector<std::string> presets;
  std::uint64_t seed = 1;
  std::int64_t check_every = 100'000;  // full invariant check period (iterations)
  int samples = 20;                    // RSS samples per preset
};

struct Report {
  std::int64_t iterations = 0, added = 0, finished = 0, aborted = 0, rejected = 0, violations = 0;
  std::vector<double> rss;  // MiB at each sample
  double wall_s = 0.0;
  std::string first_violation;
};

Report soak(const std::string& preset, const Args& a) {
  EngineConfig e;
  e.block_size = 16;
  e.num_device_blocks = 1024;  // 16k tokens: contended, with preemptions
  e.num_host_blocks = 256;
  e.max_model_len = 4096;
  e.max_num_seqs = 64;
  e.max_num_batched_tokens = 1024;
  LatencyCoeffs c;
  c.cpu_overhead_s = 0.002;
  c.linear_base_s = 0.004;
  c.linear_s_per_token = 2e-5;
  c.decode_attn_s_per_ctx_token = 2e-7;
  c.kv_bytes_per_token = 128 * 1024;
  c.swap_bytes_per_s = 25e9;
  const LatencyModel lm(c);
  auto s = make_scheduler(preset, e, lm);
  std::mt19937_64 rng(a.seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::set<RequestId> live;
  RequestId next = 0;
  double t = 0.0;
  Report rep;
  const std::int64_t sample_every = std::max<std::int64_t>(1, a.iterations / a.samples);
  auto violation = [&](const std::string& what) {
    if (rep.violations++ == 0) rep.first_violation = "iteration " + std::to_string(rep.iterations) + ": " + what;
  };
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t it = 0; it < a.iterations; ++it) {
    // Arrivals (bursty: 0-3 per iteration) while the queue is not absurdly long.
    if (s->num_unfinished() < 4u * static_cast<unsigned>(e.max_num_seqs)) {
      for (int k = static_cast<int>(u(rng) * 4.0 * u(rng)); k > 0; --k) {
        RequestSpec r;
        r.id = next++;
        r.arrival_s = t;
        r.prompt_tokens = 1 + static_cast<std::int32_t>(u(rng) * u(rng) * 3000);
        r.max_tokens = 1 + static_cast<std::int32_t>(u(rng) * 600);
        r.oracle_output_tokens = 1 + static_cast<std::int32_t>(u(rng) * r.max_tokens);
        r.slo = {0.2 + u(rng), 0.05 + 0.1 * u(rng)};
        if (u(rng) < 0.3) {  // shared system prompts
          r.content_block_tokens = 16;
          r.content_ids = {r.id % 8, r.id};
        }
        s->add_request(r);
        live.insert(r.id);
        ++rep.added;
      }
    }
    if (!live.empty() && u(rng) < 0.01) {
      auto pick = live.begin();
      std::advance(pick, static_cast<long>(u(rng) * static_cast<double>(live.size())) % static_cast<long>(live.size()));
      const Request* r = s->find(*pick);
      if (r && !is_terminal(r->state)) s->abort(*pick);
    }
    const SchedulePlan& p = s->schedule(t);
    if (static_cast<std::int32_t>(p.scheduled.size()) > e.max_num_seqs) violation("batch above max_num_seqs");
    if (p.num_batched_tokens() > std::max(e.max_num_batched_tokens, e.max_model_len)) violation("batch above the token budget");
    StepResult res;
    for (const auto& sr : p.scheduled) {
      const Request* r = s->find(sr.id);
      if (r == nullptr || r->state != RequestState::kRunning) {
        violation("scheduled request not running");
        continue;
      }
      if (sr.samples_token && r->num_generated + 1 >= *r->spec.oracle_output_tokens) res.outputs.push_back({sr.id, true});
    }
    t += std::max(1e-4, plan_time_s(p, lm, e.block_size * c.kv_bytes_per_token, false));
    res.now_s = t;
    s->on_step_done(res);
    for (const Request& r : s->take_terminal()) {
      if (!live.erase(r.id())) violation("terminal request " + std::to_string(r.id()) + " was not live");
      if (r.state == RequestState::kFinished) ++rep.finished;
      else if (r.state == RequestState::kAborted) ++rep.aborted;
      else if (r.state == RequestState::kRejected) ++rep.rejected;
      else violation("take_terminal returned a live request");
      if (r.num_generated > r.spec.max_tokens) violation("generated beyond max_tokens");
    }
    if (s->num_unfinished() != live.size()) violation("live count disagrees with num_unfinished");
    if ((it + 1) % a.check_every == 0) {
      try {
        s->block_manager().check_invariants();
      } catch (const std::logic_error& ex) {
        violation(ex.what());
      }
    }
    if (it % sample_every == 0) rep.rss.push_back(rss_mib());
    ++rep.iterations;
  }
  rep.rss.push_back(rss_mib());
  rep.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rep;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    auto c = s.find(',', pos);
    if (c == std::string::npos) c = s.size();
    if (c > pos) out.push_back(s.substr(pos, c - pos));
    pos = c + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      const std::string v = argv[++i];
      if (k == "--iterations") a.iterations = std::stoll(v);
      else if (k == "--presets") a.presets = split(v);
      else if (k == "--seed") a.seed = std::stoull(v);
      else if (k == "--check-every") a.check_every = std::stoll(v);
      else if (k == "--samples") a.samples = std::stoi(v);
      else throw std::invalid_argument("unknown option " + k);
    }
    if (a.iterations < 1 || a.check_every < 1 || a.samples < 2) throw std::invalid_argument("values must be positive (samples >= 2)");
    const auto known = preset_names();
    if (a.presets.empty()) a.presets = known;
    for (const auto& p : a.presets)
      if (std::find(known.begin(), known.end(), p) == known.end()) throw std::invalid_argument("unknown preset " + p);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "kvsched-soak: error: %s\n", ex.what());
    return 2;
  }
  int rc = 0;
  std::printf("%-28s %10s %9s %9s %8s %8s %6s %9s %9s %9s %8s\n", "preset", "iterations", "requests", "finished", "aborted",
              "rejected", "viol", "rss@10%", "rss_end", "rss_max", "wall_s");
  for (const auto& p : a.presets) {
    const Report r = soak(p, a);
    const double early = r.rss[std::min<std::size_t>(r.rss.size() - 1, r.rss.size() / 10)];
    const double end = r.rss.back(), mx = *std::max_element(r.rss.begin(), r.rss.end());
    std::printf("%-28s %10lld %9lld %9lld %8lld %8lld %6lld %9.1f %9.1f %9.1f %8.1f\n", p.c_str(), static_cast<long long>(r.iterations),
                static_cast<long long>(r.added), static_cast<long long>(r.finished), static_cast<long long>(r.aborted),
                static_cast<long long>(r.rejected), static_cast<long long>(r.violations), early, end, mx, r.wall_s);
    std::printf("  rss MiB:");
    for (double x : r.rss) std::printf(" %.1f", x);
    std::printf("\n");
    if (r.violations > 0) {
      std::printf("  FIRST VIOLATION: %s\n", r.first_violation.c_str());
      rc = 1;
    }
    // Flat: after warm-up (10% of the run) memory may not grow by more than 25% + 8 MiB.
    if (end > early * 1.25 + 8.0) {
      std::printf("  MEMORY GROWTH: %.1f MiB at 10%% -> %.1f MiB at the end\n", early, end);
      rc = 1;
    }
    std::fflush(stdout);
  }
  return rc;
}
