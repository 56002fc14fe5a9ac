// python/src/kvsched_module.cpp: the nanobind extension kvsched._kvsched. A thin layer over
// the C++ API: AnyScheduler by preset name (presets/config_json.hpp), the simulator's setup and
// loop (sim/sim_setup.hpp), trace readers (sim/trace_reader.hpp). Configs cross as JSON text
// (the Python side json.dumps its dicts), so the C++ reflection tables do every check and every
// message is the C++ one. C++ errors become Python exceptions by nanobind's translation:
// std::invalid_argument -> ValueError, std::out_of_range -> IndexError; io::InputError (bad
// trace or workload file) -> ValueError too (translator below).
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <nlohmann/json.hpp>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/io/input_error.hpp"
#include "kvsched/latency/latency_json.hpp"
#include "kvsched/presets/config_json.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/rate_sweep.hpp"
#include "kvsched/sim/report_json.hpp"
#include "kvsched/sim/sim_setup.hpp"
#include "kvsched/sim/sim_setup_json.hpp"
#include "kvsched/sim/trace_reader.hpp"

namespace nb = nanobind;
using nlohmann::json;

namespace {

/// A 1-D numpy array that owns a copy of `v`.
template <class T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> to_numpy(std::vector<T> v) {
  auto* heap = new std::vector<T>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<1>>(heap->data(), {heap->size()}, owner);
}

/// An (n, 2) int32 numpy array of block pairs.
nb::ndarray<nb::numpy, std::int32_t, nb::ndim<2>> pairs_to_numpy(const std::vector<kvsched::BlockCopy>& pairs) {
  auto* heap = new std::vector<std::int32_t>();
  heap->reserve(pairs.size() * 2);
  for (const auto& p : pairs) {
    heap->push_back(static_cast<std::int32_t>(p.src));
    heap->push_back(static_cast<std::int32_t>(p.dst));
  }
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<std::int32_t>*>(p); });
  return nb::ndarray<nb::numpy, std::int32_t, nb::ndim<2>>(heap->data(), {pairs.size(), 2}, owner);
}

json parse_json_arg(const std::string& text, const char* what) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(std::string(what) + ": not JSON: " + e.what());
  }
}

/// Scheduler over any preset by name (AnyScheduler).
class PyScheduler {
 public:
  PyScheduler(const std::string& preset, const std::string& engine_json, const std::optional<std::string>& latency_json,
              const std::optional<std::string>& config_json, const std::optional<std::string>& name) {
    kvsched::EngineConfig e;
    try {
      e = kvsched::engine_config_from_json(parse_json_arg(engine_json, "engine"), {}, true);
    } catch (const kvsched::io::JsonFieldError& ex) {
      throw std::invalid_argument(std::string("engine.") + ex.what());
    }
    kvsched::LatencyCoeffs c;
    if (latency_json) c = kvsched::latency_coeffs_from_json(parse_json_arg(*latency_json, "latency"), c);
    latency_ = std::make_unique<kvsched::LatencyModel>(c);
    const json overrides = config_json ? parse_json_arg(*config_json, "config") : json::object();
    sched_ = kvsched::make_scheduler(preset, e, *latency_, overrides, name.value_or(""));
    config_ = kvsched::preset_config(preset, overrides);
    engine_ = kvsched::engine_config_to_json(e);
  }
  [[nodiscard]] const std::string& name() const { return sched_->name(); }
  void add_request(const kvsched::RequestSpec& spec) { sched_->add_request(spec); }
  void abort(kvsched::RequestId id) { sched_->abort(id); }
  [[nodiscard]] nb::dict schedule(double now_s) {
    const kvsched::SchedulePlan& plan = sched_->schedule(now_s);
    const std::size_t n = plan.scheduled.size();
    std::vector<std::int64_t> ids(n);
    std::vector<std::int32_t> num_tokens(n), computed(n);
    std::vector<bool> is_prefill(n), samples(n);
    std::vector<std::int64_t> seq_lens(n);
    std::vector<kvsched::RequestId> rid(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = plan.scheduled[i];
      ids[i] = static_cast<std::int64_t>(s.id);
      rid[i] = s.id;
      num_tokens[i] = s.num_tokens;
      computed[i] = s.num_computed_before;
      is_prefill[i] = s.is_prefill;
      samples[i] = s.samples_token;
      seq_lens[i] = static_cast<std::int64_t>(s.num_computed_before) + s.num_tokens;
    }
    const kvsched::CsrBlockTables csr = sched_->block_manager().export_csr(rid, seq_lens);
    std::vector<std::int32_t> indices(csr.indices.begin(), csr.indices.end());
    std::vector<std::uint8_t> pre(is_prefill.begin(), is_prefill.end()), smp(samples.begin(), samples.end());
    nb::dict d;
    d["now_s"] = plan.now_s;
    d["request_ids"] = to_numpy(std::move(ids));
    d["num_tokens"] = to_numpy(std::move(num_tokens));
    d["num_computed_before"] = to_numpy(std::move(computed));
    d["is_prefill"] = to_numpy(std::move(pre));
    d["samples_token"] = to_numpy(std::move(smp));
    d["indptr"] = to_numpy(std::vector<std::int32_t>(csr.indptr));
    d["indices"] = to_numpy(std::move(indices));
    d["last_page_len"] = to_numpy(std::vector<std::int32_t>(csr.last_page_len));
    d["block_size"] = csr.block_size;
    d["swap_out"] = pairs_to_numpy(plan.swap_out);
    d["swap_in"] = pairs_to_numpy(plan.swap_in);
    d["copy"] = pairs_to_numpy(plan.copy);
    nb::list preempted, rejected, finished;
    for (const auto& p : plan.preempted) {
      preempted.append(nb::make_tuple(static_cast<std::int64_t>(p.id),
                                      p.mode == kvsched::PreemptionMode::kSwap ? "swap" : "recompute", p.context_tokens));
    }
    for (const auto& r : plan.rejected) rejected.append(nb::make_tuple(static_cast<std::int64_t>(r.id), r.reason));
    for (const auto id : plan.finished) finished.append(static_cast<std::int64_t>(id));
    d["preempted"] = preempted;
    d["rejected"] = rejected;
    d["finished"] = finished;
    return d;
  }
  void on_step_done(double now_s, const std::vector<kvsched::RequestId>& eos) {
    kvsched::StepResult r;
    r.now_s = now_s;
    for (const auto id : eos) r.outputs.push_back({id, true});
    sched_->on_step_done(r);
  }
  [[nodiscard]] std::size_t num_unfinished() const { return sched_->num_unfinished(); }
  [[nodiscard]] nb::object request_state(kvsched::RequestId id) const {
    const kvsched::Request* r = sched_->find(id);
    if (r == nullptr) return nb::none();
    nb::dict d;
    d["state"] = kvsched::to_string(r->state);
    d["num_computed_tokens"] = r->num_computed_tokens;
    d["num_generated"] = r->num_generated;
    d["num_preemptions"] = r->num_preemptions;
    return d;
  }
  [[nodiscard]] std::vector<nb::dict> take_terminal() {
    std::vector<nb::dict> out;
    for (auto& r : sched_->take_terminal()) {
      nb::dict d;
      d["id"] = static_cast<std::int64_t>(r.id());
      d["state"] = kvsched::to_string(r.state);
      d["num_generated"] = r.num_generated;
      d["num_preemptions"] = r.num_preemptions;
      d["token_times_s"] = to_numpy(std::move(r.token_times_s));
      d["reject_reason"] = r.reject_reason;
      out.push_back(std::move(d));
    }
    return out;
  }
  [[nodiscard]] std::string stats_json() const {
    const auto& s = sched_->stats();
    return json{{"preemptions_recompute", s.preemptions_recompute},
                {"preemptions_swap", s.preemptions_swap},
                {"recomputed_tokens", s.recomputed_tokens},
                {"prefix_cache_hit_tokens", s.prefix_cache_hit_tokens},
                {"swapped_out_blocks", s.swapped_out_blocks},
                {"swapped_in_blocks", s.swapped_in_blocks}}
        .dump();
  }
  [[nodiscard]] std::string config_json() const { return config_.dump(); }
  [[nodiscard]] std::string engine_json() const { return engine_.dump(); }
  [[nodiscard]] std::int32_t num_free_blocks() const { return sched_->block_manager().num_free_device(); }

 private:
  std::unique_ptr<kvsched::LatencyModel> latency_;
  std::unique_ptr<kvsched::AnyScheduler> sched_;
  json config_;
  json engine_;
};

/// Per-request records of one run as numpy columns (the columns of kvsched-sim --requests-csv).
nb::dict records(const kvsched::sim::SimResult& r, const kvsched::sim::SimRequests& reqs) {
  const std::size_t n = r.outcomes.size();
  std::vector<std::int64_t> id(n), generated(n);
  std::vector<std::int32_t> cls(n), prompt(n), output(n), preempt(n);
  std::vector<double> arrival(n), ttft(n), tbt_max(n), tpot(n), e2e(n), queue(n), ttft_slo(n), tbt_slo(n);
  std::vector<std::uint8_t> ttft_ok(n), tbt_ok(n);
  std::vector<std::string> state(n), class_name(n);
  const double nan = std::nan("");
  for (std::size_t i = 0; i < n; ++i) {
    const auto& o = r.outcomes[i];
    id[i] = static_cast<std::int64_t>(o.id);
    cls[i] = o.class_id;
    class_name[i] = reqs.class_names.at(o.class_id);
    state[i] = kvsched::to_string(o.state);
    arrival[i] = o.arrival_s;
    prompt[i] = o.prompt_tokens;
    output[i] = o.output_tokens;
    generated[i] = o.generated();
    ttft[i] = o.ttft_s();
    tbt_max[i] = o.tbt_max_s();
    tpot[i] = o.tpot_s();
    e2e[i] = o.finished() ? o.e2e_s() : nan;
    queue[i] = o.queue_s();
    preempt[i] = o.num_preemptions;
    ttft_ok[i] = o.ttft_ok() ? 1 : 0;
    tbt_ok[i] = o.tbt_ok() ? 1 : 0;
    ttft_slo[i] = o.slo.ttft_s;
    tbt_slo[i] = o.slo.tbt_s;
  }
  nb::dict d;
  d["id"] = to_numpy(std::move(id));
  d["class_id"] = to_numpy(std::move(cls));
  d["class"] = class_name;
  d["state"] = state;
  d["arrival_s"] = to_numpy(std::move(arrival));
  d["prompt_tokens"] = to_numpy(std::move(prompt));
  d["output_tokens"] = to_numpy(std::move(output));
  d["generated_tokens"] = to_numpy(std::move(generated));
  d["ttft_s"] = to_numpy(std::move(ttft));
  d["tbt_max_s"] = to_numpy(std::move(tbt_max));
  d["tpot_s"] = to_numpy(std::move(tpot));
  d["e2e_s"] = to_numpy(std::move(e2e));
  d["queue_s"] = to_numpy(std::move(queue));
  d["preemptions"] = to_numpy(std::move(preempt));
  d["ttft_ok"] = to_numpy(std::move(ttft_ok));
  d["tbt_ok"] = to_numpy(std::move(tbt_ok));
  d["ttft_slo_s"] = to_numpy(std::move(ttft_slo));
  d["tbt_slo_s"] = to_numpy(std::move(tbt_slo));
  return d;
}

/// SimSetup from the JSON of the Python keyword arguments; "policies" is a list of
/// {"preset", "overrides"?, "name"?} (the Python side turns plain names into these).
kvsched::sim::SimSetup setup_from_json(json j) {
  kvsched::sim::SimSetup s;
  json policies;
  if (j.is_object() && j.contains("policies")) {
    policies = j["policies"];
    j.erase("policies");
  }
  kvsched::io::read_json_fields(j, s, "");
  if (!policies.is_null()) {
    try {
      s.policies = kvsched::parse_run_config(policies).policies;
    } catch (const kvsched::io::JsonFieldError& e) {
      throw std::invalid_argument("policies" + (e.key().empty() || e.key()[0] == '[' ? e.key() : "." + e.key()) + ": " +
                                  e.message());
    }
  }
  return s;
}

/// Runs the setup: {"config": config_json, "runs": [run_to_json]} as JSON text, and the
/// per-request records of each run. The GIL is released while the simulator runs.
nb::tuple simulate(const std::string& setup_text, bool with_wall_time) {
  const kvsched::sim::SimSetup setup = setup_from_json(parse_json_arg(setup_text, "simulate"));
  kvsched::sim::PreparedSim prep;
  std::vector<kvsched::sim::SimResult> results;
  json out;
  {
    nb::gil_scoped_release release;
    prep = kvsched::sim::prepare_sim(setup);
    for (const auto& p : prep.policies) results.push_back(kvsched::sim::run_policy(prep, p));
    out["config"] = kvsched::sim::config_json(setup, prep);
    json runs = json::array();
    for (const auto& r : results) runs.push_back(kvsched::sim::run_to_json(r, prep.requests, with_wall_time));
    out["runs"] = std::move(runs);
  }
  std::vector<nb::dict> recs;
  for (const auto& r : results) recs.push_back(records(r, prep.requests));
  return nb::make_tuple(out.dump(), recs);
}

/// A trace file's rows as numpy columns (arrival_s, prompt_tokens, output_tokens, line).
nb::dict read_trace(const std::string& path, const std::string& format) {
  const auto f = kvsched::sim::parse_trace_format(format);
  if (!f) throw std::invalid_argument("format must be auto, azure, vidur, lengths or mooncake, got '" + format + "'");
  kvsched::sim::Trace t;
  {
    nb::gil_scoped_release release;
    t = kvsched::sim::read_trace(path, *f);
  }
  const std::size_t n = t.requests.size();
  std::vector<double> arrival(n);
  std::vector<std::int32_t> prompt(n), output(n);
  std::vector<std::int64_t> line(n);
  for (std::size_t i = 0; i < n; ++i) {
    arrival[i] = t.requests[i].arrival_s;
    prompt[i] = t.requests[i].prompt_tokens;
    output[i] = t.requests[i].output_tokens;
    line[i] = t.requests[i].line;
  }
  nb::dict d;
  d["format"] = std::string(kvsched::sim::to_string(t.format));
  d["timed"] = t.timed;
  d["arrival_s"] = to_numpy(std::move(arrival));
  d["prompt_tokens"] = to_numpy(std::move(prompt));
  d["output_tokens"] = to_numpy(std::move(output));
  d["line"] = to_numpy(std::move(line));
  return d;
}

}  // namespace

NB_MODULE(_kvsched, m) {
  m.doc() = "kvsched's C++ core (use the kvsched package, not this module)";
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const kvsched::io::InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  nb::class_<kvsched::Slo>(m, "Slo")
      .def(nb::init<>())
      .def_rw("ttft_s", &kvsched::Slo::ttft_s)
      .def_rw("tbt_s", &kvsched::Slo::tbt_s);

  nb::class_<kvsched::RequestSpec>(m, "RequestSpec")
      .def(nb::init<>())
      .def_rw("id", &kvsched::RequestSpec::id)
      .def_rw("arrival_s", &kvsched::RequestSpec::arrival_s)
      .def_rw("prompt_tokens", &kvsched::RequestSpec::prompt_tokens)
      .def_rw("max_tokens", &kvsched::RequestSpec::max_tokens)
      .def_rw("slo", &kvsched::RequestSpec::slo)
      .def_rw("class_id", &kvsched::RequestSpec::class_id)
      .def_rw("predicted_output_tokens", &kvsched::RequestSpec::predicted_output_tokens)
      .def_rw("oracle_output_tokens", &kvsched::RequestSpec::oracle_output_tokens)
      .def_rw("content_ids", &kvsched::RequestSpec::content_ids)
      .def_rw("content_block_tokens", &kvsched::RequestSpec::content_block_tokens);

  nb::class_<PyScheduler>(m, "Scheduler")
      .def(nb::init<const std::string&, const std::string&, const std::optional<std::string>&,
                    const std::optional<std::string>&, const std::optional<std::string>&>(),
           nb::arg("preset"), nb::arg("engine_json"), nb::arg("latency_json").none(), nb::arg("config_json").none(),
           nb::arg("name").none())
      .def_prop_ro("name", &PyScheduler::name)
      .def("add_request", &PyScheduler::add_request)
      .def("abort", &PyScheduler::abort)
      .def("schedule", &PyScheduler::schedule)
      .def("on_step_done", &PyScheduler::on_step_done, nb::arg("now_s"), nb::arg("eos"))
      .def("num_unfinished", &PyScheduler::num_unfinished)
      .def("request_state", &PyScheduler::request_state)
      .def("take_terminal", &PyScheduler::take_terminal)
      .def("stats_json", &PyScheduler::stats_json)
      .def("config_json", &PyScheduler::config_json)
      .def("engine_json", &PyScheduler::engine_json)
      .def("num_free_blocks", &PyScheduler::num_free_blocks);

  m.def("preset_names", &kvsched::preset_names);
  m.def("preset_config_json", [](const std::string& name, const std::optional<std::string>& overrides) {
    return kvsched::preset_config(name, overrides ? parse_json_arg(*overrides, "overrides") : json::object()).dump();
  }, nb::arg("name"), nb::arg("overrides").none());
  m.def("simulate", &simulate, nb::arg("setup_json"), nb::arg("with_wall_time"));
  m.def("read_trace", &read_trace, nb::arg("path"), nb::arg("format"));
  m.def("max_sustainable_rate", [](const std::vector<double>& rates, const std::vector<double>& ttft_att,
                                   const std::vector<double>& tbt_att, double threshold) -> std::optional<double> {
    std::vector<kvsched::sim::SweepPoint> pts;
    for (std::size_t i = 0; i < rates.size(); ++i) {
      kvsched::sim::SweepPoint p;
      p.rate_rps = rates[i];
      p.ttft_slo_attainment = ttft_att.at(i);
      p.tbt_slo_attainment = tbt_att.at(i);
      pts.push_back(p);
    }
    return kvsched::sim::max_sustainable_rate(pts, threshold);
  });
}
