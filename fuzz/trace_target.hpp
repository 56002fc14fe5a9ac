// fuzz/trace_target.hpp: the body of every trace-format target: the bytes as a trace file,
// read by one reader; bad input must be an InputError, and a trace that reads must be sane.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "kvsched/io/input_error.hpp"
#include "kvsched/sim/trace_reader.hpp"

namespace kvsched::fuzz {

/// Reads the input as a trace of `format` (kAuto: through format detection as well) and checks
/// what a reader promises: every row has prompt and output >= 1 and a finite arrival time,
/// times do not decrease in a timed trace, and lines are positive.
inline int fuzz_trace(const std::uint8_t* data, std::size_t size, sim::TraceFormat format, const std::string& extension) {
  const auto& path = write_input(data, size, extension);
  try {
    const sim::Trace t = sim::read_trace(path, format);
    double prev = -1.0;
    for (const auto& r : t.requests) {
      if (r.prompt_tokens < 1 || r.output_tokens < 1) fail("token count < 1 at line " + std::to_string(r.line));
      if (!std::isfinite(r.arrival_s)) fail("non-finite arrival at line " + std::to_string(r.line));
      if (t.timed && r.arrival_s < prev) fail("decreasing arrival at line " + std::to_string(r.line));
      if (r.line < 1) fail("line number < 1");
      prev = r.arrival_s;
    }
    if (!std::isfinite(t.span_s()) || !std::isfinite(t.mean_rate_rps())) fail("non-finite span or rate");
  } catch (const io::InputError& e) {
    const std::string what = e.what();
    if (what.find('\0') != std::string::npos) fail("NUL in an error message");
  }
  return 0;
}

}  // namespace kvsched::fuzz
