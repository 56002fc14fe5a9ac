// tests/support/fcfs_fake_scheduler.hpp: a tiny FCFS AnyScheduler for simulator tests only
// (not shipped). Its behaviour is simple enough to compute token times by hand:
//   - running requests first: each decodes 1 token (or re-prefills after a preemption);
//   - then waiting requests in arrival order, whole prompt in one step, while the token budget,
//     max_seqs and the KV capacity (tokens) allow; head-of-line blocking;
//   - a decode that does not fit the KV capacity preempts the last admitted request by
//     recompute (it goes back to the head of the waiting queue);
//   - a prompt longer than the token budget or the KV capacity is rejected.
#pragma once
#include <algorithm>
#include <deque>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/engine_config.hpp"
#include "kvsched/scheduler/any_scheduler.hpp"

namespace kvsched::test {

class FcfsFakeScheduler : public AnyScheduler {
 public:
  FcfsFakeScheduler(std::int32_t token_budget, std::int32_t kv_capacity_tokens, std::int32_t max_seqs = 256)
      : budget_(token_budget), capacity_(kv_capacity_tokens), max_seqs_(max_seqs),
        bm_(16, std::max(1, kv_capacity_tokens / 16), 0, false) {}

  const std::string& name() const override { return name_; }
  void add_request(RequestSpec spec) override {
    if (spec.prompt_tokens < 1 || spec.max_tokens < 1) throw std::invalid_argument("bad spec");
    if (reqs_.count(spec.id)) throw std::invalid_argument("duplicate id");
    const auto id = spec.id;
    Request r;
    r.spec = std::move(spec);
    reqs_.emplace(id, std::move(r));
    waiting_.push_back(id);
  }
  void abort(RequestId id) override {
    auto it = reqs_.find(id);
    if (it == reqs_.end() || is_terminal(it->second.state)) throw std::out_of_range("unknown id");
    drop(id);
    it->second.state = RequestState::kAborted;
    terminal_.push_back(id);
  }
  const SchedulePlan& schedule(double now_s) override {
    plan_ = SchedulePlan{};
    plan_.now_s = now_s;
    std::int32_t budget = budget_;
    // Running requests: one token each (a full re-prefill never happens here: they are running).
    for (std::size_t i = 0; i < running_.size();) {
      Request& r = reqs_.at(running_[i]);
      if (kv_used() + 1 > capacity_) {  // preempt the last admitted (maybe r itself)
        const RequestId victim = running_.back();
        Request& v = reqs_.at(victim);
        plan_.preempted.push_back({victim, PreemptionMode::kRecompute, v.num_computed_tokens});
        stats_.preemptions_recompute += 1;
        stats_.recomputed_tokens += v.num_computed_tokens;
        v.num_computed_tokens = 0;
        v.num_preemptions += 1;
        v.state = RequestState::kPreempted;
        running_.pop_back();
        waiting_.push_front(victim);
        continue;
      }
      if (budget < 1) break;
      plan_.scheduled.push_back({r.id(), 1, r.num_computed_tokens, false, true});
      budget -= 1;
      pending_ += 1;
      ++i;
    }
    // Waiting requests, FCFS, whole prompt (+ generated tokens after a preemption).
    while (!waiting_.empty()) {
      Request& r = reqs_.at(waiting_.front());
      const std::int32_t need = r.num_tokens();
      if (need > budget_ || need > capacity_) {
        waiting_.pop_front();
        r.state = RequestState::kRejected;
        r.reject_reason = "too long";
        stats_.rejected += 1;
        plan_.rejected.push_back({r.id(), r.reject_reason});
        terminal_.push_back(r.id());
        continue;
      }
      if (need > budget || kv_used() + need > capacity_ || static_cast<std::int32_t>(running_.size()) >= max_seqs_) break;
      waiting_.pop_front();
      r.state = RequestState::kRunning;
      r.admitted_s = now_s;
      running_.push_back(r.id());
      plan_.scheduled.push_back({r.id(), need, 0, true, true});
      budget -= need;
      pending_ += need;
    }
    if (!plan_.scheduled.empty()) stats_.iterations += 1;
    return plan_;
  }
  void on_step_done(const StepResult& result) override {
    pending_ = 0;
    for (const auto& s : plan_.scheduled) {
      Request& r = reqs_.at(s.id);
      r.num_computed_tokens += s.num_tokens;
      r.num_generated += 1;
      r.token_times_s.push_back(result.now_s);
      r.last_token_s = result.now_s;
      bool eos = r.num_generated >= r.spec.max_tokens;
      for (const auto& o : result.outputs) eos = eos || (o.id == s.id && o.eos);
      if (eos) {
        drop(s.id);
        r.state = RequestState::kFinished;
        terminal_.push_back(s.id);
        plan_.finished.push_back(s.id);
      }
    }
  }
  const Request* find(RequestId id) const override {
    auto it = reqs_.find(id);
    return it == reqs_.end() ? nullptr : &it->second;
  }
  std::size_t num_unfinished() const override { return running_.size() + waiting_.size(); }
  std::vector<Request> take_terminal() override {
    std::vector<Request> out;
    for (auto id : terminal_) {
      out.push_back(std::move(reqs_.at(id)));
      reqs_.erase(id);
    }
    terminal_.clear();
    return out;
  }
  const SchedulerStats& stats() const override { return stats_; }
  /// An idle pool of kv_capacity_tokens / 16 blocks: the fake counts tokens, not blocks.
  const BlockManager& block_manager() const override { return bm_; }
  const EngineConfig& engine() const override { return engine_; }
  EngineDefaults engine_defaults() const override { return {}; }

 private:
  std::int32_t kv_used() const {
    std::int32_t used = pending_;
    for (auto id : running_) used += reqs_.at(id).num_computed_tokens;
    return used;
  }
  void drop(RequestId id) {
    running_.erase(std::remove(running_.begin(), running_.end(), id), running_.end());
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
  }

  std::string name_ = "fcfs_fake";
  std::int32_t budget_, capacity_, max_seqs_;
  std::int32_t pending_ = 0;  // tokens scheduled in the current plan (KV they will occupy)
  std::map<RequestId, Request> reqs_;
  std::deque<RequestId> waiting_;
  std::vector<RequestId> running_;
  std::vector<RequestId> terminal_;
  SchedulePlan plan_;
  SchedulerStats stats_;
  BlockManager bm_;
  EngineConfig engine_{};
};

}  // namespace kvsched::test
