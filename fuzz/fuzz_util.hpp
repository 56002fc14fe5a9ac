// fuzz/fuzz_util.hpp: shared helpers of the libFuzzer targets (scripts/fuzz.sh builds them).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

namespace kvsched::fuzz {

/// A file holding the current input, rewritten for every input; one per process (the readers
/// under test take paths). On tmpfs where available, so the rewrite costs little.
inline const std::filesystem::path& input_file(const std::string& extension) {
  static const std::filesystem::path p = [&] {
    const std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    return dir / ("kvsched_fuzz_" + std::to_string(::getpid()) + extension);
  }();
  return p;
}

/// Writes the fuzzer's bytes to input_file(extension) and returns its path.
inline const std::filesystem::path& write_input(const std::uint8_t* data, std::size_t size, const std::string& extension) {
  const auto& p = input_file(extension);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return p;
}

/// Context a target sets for its failure messages (e.g. the preset under test).
inline std::string& fail_context() {
  static std::string c;
  return c;
}

/// A property the target checks failed: report and abort, so libFuzzer saves the input.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz property violated: %s [%s]\n", what.c_str(), fail_context().c_str());
  std::abort();
}

/// Reads little-endian integers and choices out of the fuzzer's bytes; 0 once they run out.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  [[nodiscard]] bool empty() const { return pos_ >= size_; }
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(u8()) << (8 * i);
    return v;
  }
  std::uint64_t u64() { return static_cast<std::uint64_t>(u32()) | (static_cast<std::uint64_t>(u32()) << 32); }
  /// An integer in [0, n).
  std::uint32_t below(std::uint32_t n) { return n == 0 ? 0 : u32() % n; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace kvsched::fuzz
