// kvsched/sim/workload.hpp: a workload = several trace sources mixed by share, each with its
// own SLO class; read from JSON (this file) or TOML (kvsched/sim/workload_file.hpp).
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvsched/io/input_error.hpp"
#include "kvsched/sim/arrival_process.hpp"
#include "kvsched/sim/slo_class.hpp"
#include "kvsched/sim/trace.hpp"

namespace kvsched::sim {

/// One source of requests in a workload.
///
/// Timing: a timed trace keeps its own arrival times, rescaled so that its mean rate becomes
/// rate_rps, or share x the workload rate, when either is given. A length-only trace (or any
/// trace with retime = true) gets arrival times from `arrival` at that rate (a rate is then
/// required). Rows are used in file order, from row `skip`, at most `num_requests` of them.
struct WorkloadSource {
  std::filesystem::path trace;              // trace file (resolved: absolute or relative to the cwd)
  TraceFormat format = TraceFormat::kAuto;  // kAuto = detect from the header
  std::optional<double> share;              // fraction of the workload rate (normalised over sources)
  std::optional<double> rate_rps;           // this source's own mean rate (requests/s); wins over share
  ArrivalProcess arrival{};                 // for length-only traces or retime (rate filled in later)
  bool retime = false;                      // replace a timed trace's times by `arrival`
  std::string slo_class{kDefaultSloClass};  // name of an SLO class (built-in or the workload's)
  std::size_t skip = 0;                     // rows skipped at the start of the file
  std::optional<std::size_t> num_requests;  // rows used after skip (all if unset)
};

/// A mix of sources. Every limit here can be overridden on kvsched-sim's command line.
struct Workload {
  std::filesystem::path file;                 // where it was read from (for messages); empty if built in code
  std::vector<WorkloadSource> sources;
  std::map<std::string, Slo> classes;         // extra or overriding SLO classes by name
  std::optional<double> rate_rps;             // total mean arrival rate (requests/s) split by shares
  std::optional<double> duration_s;           // keep requests arriving before this time (s)
  std::optional<std::size_t> num_requests;    // keep the first N requests of the merged stream

  /// SLO of a class: the workload's own definition, else the built-in one; nullopt if neither.
  [[nodiscard]] std::optional<Slo> find_class(const std::string& name) const {
    if (auto it = classes.find(name); it != classes.end()) return it->second;
    if (auto c = find_default_slo_class(name)) return c->slo;
    return std::nullopt;
  }
};

namespace detail {

/// Checks that a JSON object has only known keys; throws InputError naming the first unknown.
inline void check_keys(const nlohmann::json& obj, const std::set<std::string>& known, const std::filesystem::path& file,
                       const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!known.contains(it.key())) {
      std::string all;
      for (const auto& k : known) {
        if (!all.empty()) all += ", ";
        all += k;
      }
      throw io::InputError(file, 0, where + it.key(), "unknown key (known: " + all + ")");
    }
  }
}
[[nodiscard]] inline double positive_number(const nlohmann::json& v, const std::filesystem::path& file,
                                            const std::string& field, bool allow_zero = false) {
  if (!v.is_number()) throw io::InputError(file, 0, field, "expected a number, got " + v.dump());
  const double d = v.get<double>();
  if (!std::isfinite(d) || (allow_zero ? !(d >= 0.0) : !(d > 0.0))) {  // TOML has inf and nan
    throw io::InputError(file, 0, field, std::string("must be finite and ") + (allow_zero ? ">= 0" : "> 0") + ", got " + v.dump());
  }
  return d;
}
[[nodiscard]] inline std::size_t count(const nlohmann::json& v, const std::filesystem::path& file, const std::string& field,
                                       bool allow_zero) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < (allow_zero ? 0 : 1)) {
    throw io::InputError(file, 0, field, std::string("expected an integer ") + (allow_zero ? ">= 0" : ">= 1") + ", got " + v.dump());
  }
  return static_cast<std::size_t>(v.get<std::int64_t>());
}
[[nodiscard]] inline std::string text(const nlohmann::json& v, const std::filesystem::path& file, const std::string& field) {
  if (!v.is_string()) throw io::InputError(file, 0, field, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

}  // namespace detail

/// Builds a Workload from its JSON form (the TOML form maps onto the same keys):
///   { "rate": 8.0, "duration_s": 600, "num_requests": 5000,
///     "classes": { "interactive": { "ttft_s": 0.25, "tbt_s": 0.1 } },
///     "sources": [ { "trace": "@data/azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv",
///                    "share": 0.7, "class": "chatbot" },
///                  { "trace": "lengths.csv", "format": "lengths", "share": 0.3,
///                    "class": "summarization", "arrival": "gamma", "cv": 2.0,
///                    "skip": 0, "num_requests": 1000, "retime": false, "rate": 2.0 } ] }
/// Trace paths are relative to the workload file's folder; "@data/..." is relative to
/// data_dir (the bundled data). Unknown keys, wrong types, unknown classes and missing
/// sources throw InputError naming the file and the key path (e.g. "sources[1].share").
[[nodiscard]] inline Workload parse_workload_json(const nlohmann::json& j, const std::filesystem::path& file,
                                                 const std::filesystem::path& data_dir) {
  using detail::check_keys;
  Workload w;
  w.file = file;
  if (!j.is_object()) throw io::InputError(file, 0, "", "expected a table/object at the top level");
  check_keys(j, {"rate", "duration_s", "num_requests", "classes", "sources"}, file, "");
  if (j.contains("rate")) w.rate_rps = detail::positive_number(j["rate"], file, "rate");
  if (j.contains("duration_s")) w.duration_s = detail::positive_number(j["duration_s"], file, "duration_s");
  if (j.contains("num_requests")) w.num_requests = detail::count(j["num_requests"], file, "num_requests", false);
  if (j.contains("classes")) {
    const auto& cs = j["classes"];
    if (!cs.is_object()) throw io::InputError(file, 0, "classes", "expected a table/object of classes");
    for (auto it = cs.begin(); it != cs.end(); ++it) {
      const std::string where = "classes." + it.key();
      if (!it->is_object()) throw io::InputError(file, 0, where, "expected a table/object with ttft_s and tbt_s");
      check_keys(*it, {"ttft_s", "tbt_s"}, file, where + ".");
      Slo slo;
      if (it->contains("ttft_s")) slo.ttft_s = detail::positive_number((*it)["ttft_s"], file, where + ".ttft_s", true);
      if (it->contains("tbt_s")) slo.tbt_s = detail::positive_number((*it)["tbt_s"], file, where + ".tbt_s", true);
      w.classes[it.key()] = slo;
    }
  }
  if (!j.contains("sources") || !j["sources"].is_array() || j["sources"].empty()) {
    throw io::InputError(file, 0, "sources", "expected a non-empty list of sources");
  }
  const auto base = file.empty() ? std::filesystem::path{} : file.parent_path();
  std::size_t i = 0;
  for (const auto& s : j["sources"]) {
    const std::string where = "sources[" + std::to_string(i++) + "]";
    if (!s.is_object()) throw io::InputError(file, 0, where, "expected a table/object");
    check_keys(s, {"trace", "format", "share", "rate", "arrival", "cv", "retime", "class", "skip", "num_requests"}, file,
               where + ".");
    WorkloadSource src;
    if (!s.contains("trace")) throw io::InputError(file, 0, where + ".trace", "missing");
    const std::string path = detail::text(s["trace"], file, where + ".trace");
    if (path.rfind("@data/", 0) == 0) {
      src.trace = data_dir / path.substr(6);
    } else {
      src.trace = std::filesystem::path(path).is_absolute() ? std::filesystem::path(path) : base / path;
    }
    if (s.contains("format")) {
      const auto f = parse_trace_format(detail::text(s["format"], file, where + ".format"));
      if (!f) throw io::InputError(file, 0, where + ".format", "unknown format (auto, azure, vidur, lengths, mooncake)");
      src.format = *f;
    }
    if (s.contains("share")) src.share = detail::positive_number(s["share"], file, where + ".share");
    if (s.contains("rate")) src.rate_rps = detail::positive_number(s["rate"], file, where + ".rate");
    if (s.contains("arrival")) {
      const auto k = parse_arrival_kind(detail::text(s["arrival"], file, where + ".arrival"));
      if (!k) throw io::InputError(file, 0, where + ".arrival", "unknown arrival process (poisson, gamma)");
      src.arrival.kind = *k;
    }
    if (s.contains("cv")) src.arrival.cv = detail::positive_number(s["cv"], file, where + ".cv");
    if (s.contains("retime")) {
      if (!s["retime"].is_boolean()) throw io::InputError(file, 0, where + ".retime", "expected true or false");
      src.retime = s["retime"].get<bool>();
    }
    if (s.contains("class")) src.slo_class = detail::text(s["class"], file, where + ".class");
    if (s.contains("skip")) src.skip = detail::count(s["skip"], file, where + ".skip", true);
    if (s.contains("num_requests")) src.num_requests = detail::count(s["num_requests"], file, where + ".num_requests", false);
    if (!w.find_class(src.slo_class)) {
      std::string all;
      for (const auto& c : default_slo_classes()) {
        if (!all.empty()) all += ", ";
        all += c.name;
      }
      for (const auto& [name, slo] : w.classes) all += ", " + name;
      throw io::InputError(file, 0, where + ".class", "unknown SLO class '" + src.slo_class + "' (known: " + all + ")");
    }
    w.sources.push_back(std::move(src));
  }
  return w;
}

}  // namespace kvsched::sim
