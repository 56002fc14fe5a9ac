// kvsched/backend/kv_pool.hpp: host memory holding one pool of KV cache blocks (the CPU
// backend's "device" pool, or the host swap pool) in the block-major layout.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>

#include "kvsched/backend/kv_layout.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched {

/// num_blocks blocks of layout.bytes_per_block() bytes each, 64-byte aligned, zero-filled.
/// Block b occupies bytes [b * bytes_per_block, (b + 1) * bytes_per_block).
class KvPool {
 public:
  static constexpr std::size_t kAlignment = 64;  // bytes (cache line, AVX-512 friendly)

  /// Throws std::invalid_argument when num_blocks < 0.
  KvPool(const KvLayout& layout, std::int32_t num_blocks) : layout_(layout), num_blocks_(num_blocks) {
    if (num_blocks < 0) throw std::invalid_argument("KvPool: num_blocks must be >= 0, got " + std::to_string(num_blocks));
    const std::size_t n = size_bytes();
    if (n > 0) {
      data_.reset(static_cast<std::byte*>(::operator new(n, std::align_val_t{kAlignment})));
      std::memset(data_.get(), 0, n);
    }
  }

  [[nodiscard]] const KvLayout& layout() const { return layout_; }
  [[nodiscard]] std::int32_t num_blocks() const { return num_blocks_; }
  /// Total bytes: num_blocks x bytes_per_block.
  [[nodiscard]] std::size_t size_bytes() const {
    return static_cast<std::size_t>(num_blocks_) * static_cast<std::size_t>(layout_.bytes_per_block());
  }
  [[nodiscard]] std::byte* data() { return data_.get(); }
  [[nodiscard]] const std::byte* data() const { return data_.get(); }
  [[nodiscard]] std::span<std::byte> bytes() { return {data_.get(), size_bytes()}; }
  [[nodiscard]] std::span<const std::byte> bytes() const { return {data_.get(), size_bytes()}; }
  /// The pool as elements of type T (T must match layout().dtype: 4 or 2 bytes).
  template <class T>
  [[nodiscard]] std::span<T> elements() {
    check_elem<T>();
    return {reinterpret_cast<T*>(data_.get()), size_bytes() / sizeof(T)};
  }
  template <class T>
  [[nodiscard]] std::span<const T> elements() const {
    check_elem<T>();
    return {reinterpret_cast<const T*>(data_.get()), size_bytes() / sizeof(T)};
  }
  /// Bytes of block b. Throws std::out_of_range when b is outside 0..num_blocks-1.
  [[nodiscard]] std::span<std::byte> block_bytes(BlockId b) {
    check_block(b);
    return bytes().subspan(static_cast<std::size_t>(b) * block_bytes_size(), block_bytes_size());
  }
  [[nodiscard]] std::span<const std::byte> block_bytes(BlockId b) const {
    check_block(b);
    return bytes().subspan(static_cast<std::size_t>(b) * block_bytes_size(), block_bytes_size());
  }
  /// Fills every byte with `byte` (tests poison pools with 0xFF: NaN in fp32, fp16 and bf16).
  void fill(std::byte byte) {
    if (size_bytes() > 0) std::memset(data_.get(), static_cast<int>(byte), size_bytes());
  }

 private:
  struct AlignedDelete {
    void operator()(std::byte* p) const { ::operator delete(p, std::align_val_t{kAlignment}); }
  };
  [[nodiscard]] std::size_t block_bytes_size() const { return static_cast<std::size_t>(layout_.bytes_per_block()); }
  void check_block(BlockId b) const {
    if (b < 0 || b >= num_blocks_)
      throw std::out_of_range("KvPool: block " + std::to_string(b) + " outside 0.." + std::to_string(num_blocks_ - 1));
  }
  template <class T>
  void check_elem() const {
    if (sizeof(T) != static_cast<std::size_t>(layout_.elem_bytes))
      throw std::invalid_argument("KvPool: element of " + std::to_string(sizeof(T)) + " bytes for a " +
                                  to_string(layout_.dtype) + " pool");
  }

  KvLayout layout_;
  std::int32_t num_blocks_;
  std::unique_ptr<std::byte, AlignedDelete> data_;
};

}  // namespace kvsched
