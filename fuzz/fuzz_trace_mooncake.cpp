// fuzz/fuzz_trace_mooncake.cpp: libFuzzer target of the mooncake trace reader (and, for one input in
// four, of format detection in front of it).
#include "trace_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto format = size > 0 && data[0] % 4 == 0 ? kvsched::sim::TraceFormat::kAuto : kvsched::sim::TraceFormat::kMooncake;
  return kvsched::fuzz::fuzz_trace(data, size, format, ".jsonl");
}
