// kvsched/policy/allocator/embedding_allocator.hpp: CacheOPT's allocation of the padded
// estimated demand with reuse of allocated-but-unused reservations ("embedding"),
// docs/design.md sections 3.2.2 and 3.2.3.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "kvsched/policy/allocator/embedding_host_index.hpp"
#include "kvsched/policy/allocator/estimated_demand_allocator.hpp"
#include "kvsched/policy/common/global_reserve.hpp"
#include "kvsched/policy/common/slo_slack.hpp"
#include "kvsched/policy/concepts.hpp"

namespace kvsched {

/// When a guest is preempted to give its host's lent region back.
enum class ReclaimRule : std::uint8_t {
  kWhenPoolShort,          // the host outgrew its own reservation and available() cannot
                           // cover its next step (ours, default: free blocks are used first)
  kWhenHostReachesRegion,  // as soon as the host outgrows its own reservation (the paper's
                           // physical view: the host's next token lands in the guest's region)
};

struct EmbeddingAllocatorConfig {
  bool reuse = true;                    // false: plain estimated-demand reservations (ablation)
  std::int32_t buffer_tokens = 0;       // b in the embedding condition; 0 = one block (ours)
  bool host_must_outlive_guest = true;  // host's predicted remaining output >= guest's s_o (ours)
  ReclaimRule reclaim = ReclaimRule::kWhenPoolShort;
  std::int32_t max_host_probes = 32;    // hosts examined per search, 0 = all (ours)
};

/// Allocator of CacheOPT (sections 3.2.2-3.2.3 of docs/design.md).
///
/// Admission of request i, in order of attempts:
///  1. plain: promise its padded estimated demand D_i = estimated_demand_blocks() if that fits
///     in the free unreserved blocks beyond the global reserve G: available() - D_i >= G;
///  2. embedding: run inside the unused reservation of a running host j. With, in blocks,
///       a_j - u_j = unused reservation of j   (promised, not materialised)
///       g_j       = blocks j grows by over the guest's lifetime of s_o_i tokens:
///                   ceil((len_j + s_o_i) / bs) - held_j   (both grow one token per iteration)
///       l_i       = D_i - blocks of i's prompt already in the prefix cache (s_p_i + s_o_i)
///     the paper's condition a_j - (u_j + s_o_i) - (s_p_i + s_o_i) >= b reads
///       (a_j - u_j) - g_j - l_i >= b       (b = buffer, default one block)
///     Among feasible hosts take the best fit: least unused reservation. (ours: also require
///     the host's predicted remaining output >= s_o_i; one guest per host; a guest hosts
///     nobody.) The grant moves l_i blocks of j's promise to i (transfer_reservation);
///  3. else the plain grant is returned and the reserver refuses it: the request waits.
/// When the guest leaves (finish, abort, preemption), the lent blocks return to the host's
/// reservation at the start of the next step (up to the host's reservation before lending).
/// If the host outgrows its own reservation while the guest runs, the guest is preempted at
/// the start of the next step (ReclaimRule).
///
/// Hooks used: admit (const; builds the host index lazily, once per step: EmbeddingHostIndex),
/// on_admit (records the link), on_release, begin_step (returns and reclaims).
class EmbeddingAllocator {
 public:
  EmbeddingAllocatorConfig config{};

  EmbeddingAllocator() = default;
  explicit EmbeddingAllocator(EmbeddingAllocatorConfig c) : config(c) {}

  [[nodiscard]] std::optional<AdmissionGrant> admit(const Request& r, std::int32_t blocks_now, const LengthEstimate& est,
                                                    const SchedulerView& v) const {
    const BlockManager& bm = *v.blocks;
    const std::int32_t demand = std::max(blocks_now, estimated_demand_blocks(r, est, v, v.rules().critical));
    const AdmissionGrant plain{demand, std::nullopt, 0};
    if (!config.reuse) return plain;
    const PrefixHit hit = bm.prefix_caching() ? bm.probe_prefix(r.spec, r.num_tokens()) : PrefixHit{};
    const std::int32_t plain_new = demand - hit.blocks + hit.free_blocks;
    if (bm.available() - plain_new >= global_reserve_blocks(v)) return plain;
    const std::int32_t lent = demand - hit.blocks;
    if (lent <= 0) return plain;
    const EmbeddingHost* host = find_host(r, lent, est, v);
    if (host == nullptr) return plain;
    return AdmissionGrant{demand, host->request->id(), lent};
  }

  /// Best-fit host for a guest `r` that needs `lent` blocks and will produce est.upper -
  /// generated more tokens, nullptr when none is feasible. See the class comment.
  [[nodiscard]] const EmbeddingHost* find_host(const Request& r, std::int32_t lent, const LengthEstimate& est,
                                               const SchedulerView& v) const {
    const std::int32_t bs = v.blocks->block_size();
    const std::int32_t b = buffer_blocks(bs);
    if (!index_valid_) {
      index_.build(v.running, *v.blocks, b + 1, [](const Request&) { return true; });
      index_valid_ = true;
    }
    const std::int64_t s_o = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(est.upper)) - r.num_generated);
    const auto min_unused = static_cast<std::int32_t>(lent + b + s_o / bs);
    return index_.best_fit(
        min_unused,
        [&](const EmbeddingHost& h) {
          const Request& host = *h.request;
          if (&host == &r || host.state != RequestState::kRunning) return false;
          if (is_guest(host.id()) || is_host(host.id())) return false;  // one guest per host, guests host nobody
          const auto grows = static_cast<std::int32_t>(
              std::max<std::int64_t>(0, blocks_for_tokens(host.num_tokens() + s_o, bs) - h.held_blocks));
          if (h.unused_blocks - grows - lent < b) return false;
          if (config.host_must_outlive_guest && v.estimate(host).point - host.num_generated < static_cast<double>(s_o)) return false;
          return true;
        },
        config.max_host_probes);
  }

  /// Records an embedding (the scheduler has moved the lent blocks already).
  void on_admit(Request& r, const AdmissionGrant& g, const LengthEstimate&, const SchedulerView& v) {
    if (!g.host) return;
    const EmbeddingHost* h = nullptr;
    for (const EmbeddingHost& e : index_.hosts())
      if (e.request->id() == *g.host) h = &e;
    if (h == nullptr) return;  // not found through admit(): nothing to track
    const Request* host = h->request;
    links_[r.id()] = Link{host, &r, g.lent_blocks, v.blocks->reservation(*g.host) + g.lent_blocks};
    guest_of_[*g.host] = r.id();
    index_.erase(*g.host);
  }

  /// Called before `r`'s blocks are freed or swapped out: a leaving guest's lent blocks are
  /// queued for return to its host; a leaving host frees its guest from the link.
  void on_release(const Request& r, BlockManager&) {
    index_valid_ = false;
    std::erase_if(returns_, [&r](const Return& x) { return x.host == &r; });
    if (auto it = links_.find(r.id()); it != links_.end()) {
      returns_.push_back({it->second.host, it->second.host_reservation_before});
      guest_of_.erase(it->second.host->id());
      links_.erase(it);
    }
    if (auto it = guest_of_.find(r.id()); it != guest_of_.end()) {
      links_.erase(it->second);
      guest_of_.erase(it);
    }
  }

  /// Start of a step: gives lent blocks back to their hosts (as far as available() allows),
  /// then appends to `reclaim` every guest whose host outgrew its own reservation (ReclaimRule);
  /// the scheduler preempts them before the running phase.
  void begin_step(const SchedulerView&, BlockManager& bm, std::vector<Request*>& reclaim) {
    index_valid_ = false;
    for (const Return& x : returns_) {
      if (x.host->state != RequestState::kRunning || !bm.has(x.host->id())) continue;
      const std::int32_t held = bm.num_held(x.host->id());
      const std::int32_t base = std::max(bm.reservation(x.host->id()), held);
      const std::int32_t total = std::min(x.target, base + std::max(0, bm.available()));
      if (total > base && !bm.set_reservation(x.host->id(), total)) throw std::logic_error("EmbeddingAllocator: return does not fit");
    }
    returns_.clear();
    const std::size_t first = reclaim.size();
    for (const auto& kv : links_) {
      const Link& link = kv.second;
      if (link.host->state != RequestState::kRunning || link.guest->state != RequestState::kRunning) continue;
      const std::int32_t need = bm.blocks_from_pool(link.host->id(), link.host->num_tokens());
      if (need <= 0) continue;
      if (config.reclaim == ReclaimRule::kWhenPoolShort && need <= bm.available()) continue;
      reclaim.push_back(link.guest);
    }
    // Deterministic order whatever the hash map's.
    std::sort(reclaim.begin() + static_cast<std::ptrdiff_t>(first), reclaim.end(),
              [](const Request* a, const Request* b) { return a->id() < b->id(); });
  }

  // ---- introspection (tests, reports) ----------------------------------------------------
  /// Host of a running guest, if it is one.
  [[nodiscard]] std::optional<RequestId> host_of(RequestId guest) const {
    auto it = links_.find(guest);
    if (it == links_.end()) return std::nullopt;
    return it->second.host->id();
  }
  [[nodiscard]] std::size_t num_guests() const { return links_.size(); }
  [[nodiscard]] bool is_guest(RequestId id) const { return links_.count(id) != 0; }
  [[nodiscard]] bool is_host(RequestId id) const { return guest_of_.count(id) != 0; }
  /// b in blocks.
  [[nodiscard]] std::int32_t buffer_blocks(std::int32_t block_size) const {
    return static_cast<std::int32_t>(blocks_for_tokens(config.buffer_tokens > 0 ? config.buffer_tokens : block_size, block_size));
  }

 private:
  struct Link {
    const Request* host = nullptr;
    Request* guest = nullptr;
    std::int32_t lent = 0;                     // blocks moved from the host (blocks)
    std::int32_t host_reservation_before = 0;  // host's promised total before lending (blocks)
  };
  struct Return {
    const Request* host = nullptr;
    std::int32_t target = 0;  // restore the host's reservation up to this total (blocks)
  };

  std::unordered_map<RequestId, Link> links_;         // guest -> link
  std::unordered_map<RequestId, RequestId> guest_of_;  // host -> guest
  std::vector<Return> returns_;                        // pending returns, applied in begin_step
  // Cache of admit() (a const query): the host index of the current step.
  mutable EmbeddingHostIndex index_;
  mutable bool index_valid_ = false;
};
static_assert(Allocator<EmbeddingAllocator> && AllocatorBeginStep<EmbeddingAllocator> && AllocatorOnAdmit<EmbeddingAllocator> &&
              AllocatorOnRelease<EmbeddingAllocator>);

}  // namespace kvsched
