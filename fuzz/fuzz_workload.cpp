// fuzz/fuzz_workload.cpp: libFuzzer target of the workload file parser (JSON, or TOML for
// inputs that do not start with '{'). Bad input must be an InputError; a workload that parses
// must hold only finite, positive rates, shares and CVs and a known class for each source.
#include <cmath>

#include "fuzz_util.hpp"
#include "kvsched/sim/workload_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kvsched;
  // JSON when the first non-blank byte is '{' (a TOML document cannot start with one).
  std::size_t i = 0;
  while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r')) ++i;
  const bool toml = i >= size || data[i] != '{';
  const auto& path = fuzz::write_input(data, size, toml ? ".toml" : ".json");
  try {
    const sim::Workload w = sim::load_workload_file(path, "/nonexistent-data");
    if (w.sources.empty()) fuzz::fail("workload without sources");
    auto finite_pos = [](const std::optional<double>& x) { return !x || (std::isfinite(*x) && *x > 0); };
    if (!finite_pos(w.rate_rps) || !finite_pos(w.duration_s)) fuzz::fail("bad workload rate or duration");
    for (const auto& s : w.sources) {
      if (!finite_pos(s.share) || !finite_pos(s.rate_rps)) fuzz::fail("bad source share or rate");
      if (!(std::isfinite(s.arrival.cv) && s.arrival.cv > 0)) fuzz::fail("bad source cv");
      if (!w.find_class(s.slo_class)) fuzz::fail("source with an unknown class");
    }
    for (const auto& [name, slo] : w.classes)
      if (!std::isfinite(slo.ttft_s) || !std::isfinite(slo.tbt_s) || slo.ttft_s < 0 || slo.tbt_s < 0) fuzz::fail("bad class SLO");
  } catch (const io::InputError&) {
  }
  return 0;
}
