// kvsched/sim/requests_csv.hpp: per-request results as CSV (kvsched-sim --requests-csv).
#pragma once
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/simulator.hpp"

namespace kvsched::sim {

/// Header of the per-request CSV. Times in seconds, empty where undefined.
inline constexpr const char* kRequestsCsvHeader =
    "policy,id,class,state,arrival_s,prompt_tokens,output_tokens,generated_tokens,ttft_s,tbt_max_s,tpot_s,"
    "e2e_s,queue_s,preemptions,ttft_ok,tbt_ok\n";

/// Appends one CSV row per request of a run (see kRequestsCsvHeader).
inline void append_requests_csv(std::string& out, const SimResult& r, const SimRequests& reqs) {
  auto num = [](double x) { return std::isnan(x) ? std::string() : fmt::format("{:.9g}", x); };
  for (const auto& o : r.outcomes) {
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.policy, o.id,
                       reqs.class_names.at(o.class_id), to_string(o.state), num(o.arrival_s), o.prompt_tokens,
                       o.output_tokens, o.generated(), num(o.ttft_s()), num(o.tbt_max_s()), num(o.tpot_s()),
                       o.finished() ? num(o.e2e_s()) : std::string(), num(o.queue_s()), o.num_preemptions,
                       o.ttft_ok() ? 1 : 0, o.tbt_ok() ? 1 : 0);
  }
}

}  // namespace kvsched::sim
