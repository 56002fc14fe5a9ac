// tests/vllm_fixture.hpp: reads the vLLM scheduler fixtures of tests/fixtures/vllm_v1/ (format 1,
// docs/vllm_fixtures.md) and replays one through a kvsched Scheduler, step by step.
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <kvsched/kvsched.hpp>

namespace kvsched::test {

/// One request of a fixture (ids, lengths in tokens, arrival as a step index).
struct FixtureRequest {
  RequestId id = 0;
  std::int64_t arrival_step = 0;
  std::int32_t prompt_len = 0;
  std::vector<std::uint64_t> blocks;  // content id of each 16-token prompt block
  std::int32_t max_tokens = 0;
  bool rejected = false;
};

/// What one step decided (vLLM's record, or kvsched's in the same shape).
struct FixtureStep {
  std::vector<std::pair<RequestId, std::int32_t>> scheduled;  // s: (id, tokens), scheduling order
  std::vector<std::pair<RequestId, std::int32_t>> admitted;   // new: (id, prefix hit tokens)
  std::vector<std::pair<RequestId, std::int32_t>> resumed;    // res: (id, prefix hit tokens)
  std::vector<RequestId> preempted;                           // pre, in vLLM's order
  std::vector<RequestId> finished;                            // fin, in s order
  std::int32_t free_blocks = 0, running = 0, waiting = 0;     // after the step
  bool operator==(const FixtureStep&) const = default;
};

/// A whole fixture file.
struct VllmFixture {
  std::string name;
  std::int32_t block_size = 16, num_gpu_blocks = 0, max_model_len = 0, max_num_batched_tokens = 0, max_num_seqs = 0;
  bool prefix_caching = false, reserve_full_isl = true;
  double watermark = 0.0;
  std::vector<FixtureRequest> requests;
  std::vector<FixtureStep> steps;
};

inline std::vector<std::pair<RequestId, std::int32_t>> pairs_of(const nlohmann::json& a) {
  std::vector<std::pair<RequestId, std::int32_t>> out;
  for (const auto& p : a) out.emplace_back(p.at(0).get<RequestId>(), p.at(1).get<std::int32_t>());
  return out;
}

/// Parses a fixture file; throws std::runtime_error naming the file for a bad one.
inline VllmFixture read_vllm_fixture(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": cannot open");
  try {
    const auto j = nlohmann::json::parse(in);
    if (j.at("format").get<int>() != 1) throw std::runtime_error("format is not 1");
    VllmFixture f;
    f.name = j.at("name").get<std::string>();
    const auto& c = j.at("config");
    f.block_size = c.at("block_size");
    f.num_gpu_blocks = c.at("num_gpu_blocks");
    f.max_model_len = c.at("max_model_len");
    f.max_num_batched_tokens = c.at("max_num_batched_tokens");
    f.max_num_seqs = c.at("max_num_seqs");
    f.prefix_caching = c.at("enable_prefix_caching");
    f.reserve_full_isl = c.at("scheduler_reserve_full_isl");
    f.watermark = c.at("watermark");
    if (!c.at("enable_chunked_prefill").get<bool>() || c.at("long_prefill_token_threshold").get<int>() != 0 ||
        c.at("policy").get<std::string>() != "fcfs")
      throw std::runtime_error("config other than chunked prefill, no long-prefill threshold, fcfs");
    for (const auto& r : j.at("requests")) {
      FixtureRequest q;
      q.id = r.at("id");
      q.arrival_step = r.at("arrival_step");
      q.prompt_len = r.at("prompt_len");
      q.blocks = r.at("blocks").get<std::vector<std::uint64_t>>();
      q.max_tokens = r.at("max_tokens");
      q.rejected = r.at("rejected");
      f.requests.push_back(std::move(q));
    }
    for (const auto& s : j.at("steps")) {
      FixtureStep st;
      st.scheduled = pairs_of(s.at("s"));
      st.admitted = pairs_of(s.at("new"));
      st.resumed = pairs_of(s.at("res"));
      st.preempted = s.at("pre").get<std::vector<RequestId>>();
      st.finished = s.at("fin").get<std::vector<RequestId>>();
      st.free_blocks = s.at("free");
      st.running = s.at("run");
      st.waiting = s.at("wait");
      f.steps.push_back(std::move(st));
    }
    return f;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
}

/// The engine limits of a fixture, as kvsched names them (the pool counts vLLM's null block;
/// the vllm_v1 presets hold it out).
inline EngineConfig engine_of(const VllmFixture& f) {
  EngineConfig e;
  e.block_size = f.block_size;
  e.num_device_blocks = f.num_gpu_blocks;
  e.num_host_blocks = 0;
  e.max_num_seqs = f.max_num_seqs;
  e.max_num_batched_tokens = f.max_num_batched_tokens;
  e.max_model_len = f.max_model_len;
  e.enable_prefix_caching = f.prefix_caching;
  return e;
}

/// The request as kvsched sees it: prompt block k has content id blocks[k] (16-token blocks).
inline RequestSpec spec_of(const FixtureRequest& r, std::int32_t block_size) {
  RequestSpec s;
  s.id = r.id;
  s.arrival_s = static_cast<double>(r.arrival_step);
  s.prompt_tokens = r.prompt_len;
  s.max_tokens = r.max_tokens;
  s.content_ids = r.blocks;
  s.content_block_tokens = block_size;
  return s;
}

/// Outcome of a replay: steps that matched before the first divergence, and that divergence.
struct ReplayResult {
  std::size_t steps_matched = 0;
  std::optional<std::size_t> diverged_at;  // step index k of the first mismatch
  std::string what;                        // both records of that step
  std::set<RequestId> rejected;            // ids kvsched rejected
};

inline std::string to_text(const FixtureStep& s) {
  std::ostringstream o;
  auto pairs = [&o](const char* key, const auto& v) {
    o << ' ' << key << "=[";
    for (const auto& [a, b] : v) o << '[' << a << ',' << b << ']';
    o << ']';
  };
  auto ids = [&o](const char* key, const auto& v) {
    o << ' ' << key << "=[";
    for (auto a : v) o << a << ',';
    o << ']';
  };
  pairs("s", s.scheduled);
  pairs("new", s.admitted);
  pairs("res", s.resumed);
  ids("pre", s.preempted);
  ids("fin", s.finished);
  o << " free=" << s.free_blocks << " run=" << s.running << " wait=" << s.waiting;
  return o.str();
}

/// Replays fixture `f` through scheduler `s` (built over engine_of(f)): step k adds the requests
/// arriving at k, schedules at time k, records kvsched's decisions in the fixture's shape and
/// compares them with vLLM's; stops at the first step that differs.
template <class S>
ReplayResult replay(const VllmFixture& f, S& s) {
  ReplayResult out;
  std::size_t next = 0;
  for (std::size_t k = 0; k < f.steps.size(); ++k) {
    while (next < f.requests.size() && f.requests[next].arrival_step <= static_cast<std::int64_t>(k))
      s.add_request(spec_of(f.requests[next++], f.block_size));
    std::set<RequestId> was_running;
    for (const Request* r : s.running()) was_running.insert(r->id());
    const SchedulePlan& plan = s.schedule(static_cast<double>(k));
    for (const auto& rej : plan.rejected) out.rejected.insert(rej.id);
    FixtureStep got;
    for (const auto& sr : plan.scheduled) {
      got.scheduled.emplace_back(sr.id, sr.num_tokens);
      if (was_running.count(sr.id)) continue;
      const Request* r = s.find(sr.id);
      (r->num_preemptions > 0 ? got.resumed : got.admitted).emplace_back(sr.id, sr.num_computed_before);
    }
    for (const auto& p : plan.preempted) got.preempted.push_back(p.id);
    s.on_step_done(StepResult{static_cast<double>(k) + 0.5, {}});
    for (const Request& r : s.take_terminal())
      if (r.state == RequestState::kFinished) got.finished.push_back(r.id());
    got.free_blocks = s.block_manager().num_free_device();
    got.running = static_cast<std::int32_t>(s.running().size());
    got.waiting = static_cast<std::int32_t>(s.waiting().size());
    if (!(got == f.steps[k])) {
      out.diverged_at = k;
      out.what = std::string("vllm:   ") + to_text(f.steps[k]) + "\nkvsched:" + to_text(got);
      return out;
    }
    ++out.steps_matched;
  }
  return out;
}

}  // namespace kvsched::test
