// kvsched/policy/allocator/embedding_host_index.hpp: running requests ordered by unused
// reservation, for CacheOPT's best-fit host search (docs/design.md section 3.2.3).
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/request.hpp"

namespace kvsched {

/// One candidate host: a running request with part of its reservation not yet materialised.
struct EmbeddingHost {
  std::int32_t unused_blocks = 0;  // BlockManager::unused_reservation (blocks)
  std::int32_t held_blocks = 0;    // BlockManager::num_held (blocks)
  const Request* request = nullptr;
};

/// Hosts sorted by unused reservation (then admission order). build() is O(n log n) for n
/// running requests and runs at most once per step (the embedding allocator builds it lazily,
/// on the first admission that needs a host); best_fit() is O(log n + probes), so a step's
/// admissions never scan every host for every waiting request.
class EmbeddingHostIndex {
 public:
  /// Rebuilds from `running`, keeping the requests with at least `min_unused` unused blocks
  /// for which `eligible(const Request&)` holds.
  template <class Eligible>
  void build(std::span<Request* const> running, const BlockManager& bm, std::int32_t min_unused, Eligible&& eligible) {
    hosts_.clear();
    for (const Request* r : running) {
      const std::int32_t unused = bm.unused_reservation(r->id());
      if (unused >= min_unused && eligible(*r)) hosts_.push_back({unused, bm.num_held(r->id()), r});
    }
    std::stable_sort(hosts_.begin(), hosts_.end(),
                     [](const EmbeddingHost& a, const EmbeddingHost& b) { return a.unused_blocks < b.unused_blocks; });
  }

  /// Best fit: the host with the least unused reservation among those with at least
  /// `min_unused` unused blocks that satisfy `fits(const EmbeddingHost&)`, examining at most
  /// `max_probes` hosts in increasing order of unused reservation (ours: the bound keeps a
  /// search O(log n + max_probes); 0 = no bound). nullptr when none qualifies.
  template <class Fits>
  [[nodiscard]] const EmbeddingHost* best_fit(std::int32_t min_unused, Fits&& fits, std::int32_t max_probes = 0) const {
    auto it = std::lower_bound(hosts_.begin(), hosts_.end(), min_unused,
                               [](const EmbeddingHost& h, std::int32_t v) { return h.unused_blocks < v; });
    for (std::int32_t probes = 0; it != hosts_.end(); ++it, ++probes) {
      if (max_probes > 0 && probes >= max_probes) break;
      if (fits(*it)) return &*it;
    }
    return nullptr;
  }

  /// Removes `host` (it took a guest). O(n).
  void erase(RequestId host) {
    std::erase_if(hosts_, [host](const EmbeddingHost& h) { return h.request->id() == host; });
  }

  void clear() { hosts_.clear(); }
  [[nodiscard]] std::size_t size() const { return hosts_.size(); }
  [[nodiscard]] std::span<const EmbeddingHost> hosts() const { return hosts_; }

 private:
  std::vector<EmbeddingHost> hosts_;  // ascending unused_blocks
};

}  // namespace kvsched
