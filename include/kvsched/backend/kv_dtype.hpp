// kvsched/backend/kv_dtype.hpp: element type of the KV cache (fp32, fp16, bf16).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kvsched {

/// Element type of K, V, queries and attention outputs. fp16 is IEEE binary16, bf16 is
/// bfloat16 (8-bit exponent); both are stored as 2 bytes and computed in fp32.
enum class KvDtype : std::uint8_t { kF32, kF16, kBF16 };

/// Bytes per element of `d` (4 or 2).
[[nodiscard]] constexpr std::int32_t dtype_bytes(KvDtype d) { return d == KvDtype::kF32 ? 4 : 2; }

/// "fp32", "fp16" or "bf16".
[[nodiscard]] constexpr const char* to_string(KvDtype d) {
  switch (d) {
    case KvDtype::kF32: return "fp32";
    case KvDtype::kF16: return "fp16";
    case KvDtype::kBF16: return "bf16";
  }
  return "?";
}

/// Parses "fp32"/"float32", "fp16"/"float16"/"half", "bf16"/"bfloat16".
/// Throws std::invalid_argument naming the bad value.
[[nodiscard]] inline KvDtype parse_kv_dtype(std::string_view s) {
  if (s == "fp32" || s == "float32") return KvDtype::kF32;
  if (s == "fp16" || s == "float16" || s == "half") return KvDtype::kF16;
  if (s == "bf16" || s == "bfloat16") return KvDtype::kBF16;
  throw std::invalid_argument("KV dtype: unknown \"" + std::string(s) + "\" (expected fp32, fp16 or bf16)");
}

}  // namespace kvsched
