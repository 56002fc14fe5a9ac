// kvsched/model/safetensors.hpp: a small reader of the safetensors format (Hugging Face's
// weight files; format spec: github.com/huggingface/safetensors, README "Format").
// Debian and PyPI ship no maintained C++ safetensors library, so this is our own reader.
//
// File layout:
//   [8 bytes]  N, unsigned 64-bit little-endian: length of the header
//   [N bytes]  JSON header (UTF-8): {"__metadata__": {str: str}?,
//              "<tensor name>": {"dtype": "F32"|"F16"|"BF16"|..., "shape": [d0, d1, ...],
//                                 "data_offsets": [begin, end]}, ...}
//   [rest]     the byte buffer; a tensor's bytes are buffer[begin, end), row-major
//              (C order), little-endian, end - begin = prod(shape) x element size.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

namespace kvsched::model {

static_assert(std::endian::native == std::endian::little, "safetensors reader assumes a little-endian host");

/// Element types this reader converts (the others are listed in the header but rejected on read).
enum class StDtype : std::uint8_t { kF32, kF16, kBF16 };

/// One tensor of a safetensors file: dtype, shape and its bytes inside the file's buffer.
struct StTensorInfo {
  StDtype dtype = StDtype::kF32;
  std::vector<std::int64_t> shape;  // elements per dimension; {} = scalar
  std::uint64_t begin = 0, end = 0; // byte offsets into the buffer after the header
  /// Elements (product of shape; 1 for a scalar).
  [[nodiscard]] std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

/// Bytes per element of `d`.
[[nodiscard]] constexpr std::uint64_t st_dtype_bytes(StDtype d) { return d == StDtype::kF32 ? 4 : 2; }
[[nodiscard]] constexpr const char* to_string(StDtype d) {
  return d == StDtype::kF32 ? "F32" : d == StDtype::kF16 ? "F16" : "BF16";
}

/// A safetensors file read whole into memory. Construction validates the header: length
/// inside the file, JSON object, each tensor's dtype known, shape non-negative, offsets
/// inside the buffer and end - begin = prod(shape) x element size (all in 64-bit with
/// overflow checks). Errors throw std::invalid_argument "<path>: <tensor>: <why>".
class SafetensorsFile {
 public:
  explicit SafetensorsFile(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_, std::ios::binary | std::ios::ate);
    if (!in) fail("", "cannot open");
    const auto size = static_cast<std::uint64_t>(in.tellg());
    in.seekg(0);
    if (size < 8) fail("", "file of " + std::to_string(size) + " bytes is shorter than the 8-byte header length");
    unsigned char len_bytes[8];
    in.read(reinterpret_cast<char*>(len_bytes), 8);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
    if (n > size - 8) fail("", "header length " + std::to_string(n) + " exceeds the file (" + std::to_string(size) + " bytes)");
    std::string header(static_cast<std::size_t>(n), '\0');
    in.read(header.data(), static_cast<std::streamsize>(n));
    buffer_.resize(static_cast<std::size_t>(size - 8 - n));
    in.read(reinterpret_cast<char*>(buffer_.data()), static_cast<std::streamsize>(buffer_.size()));
    if (!in) fail("", "short read");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(header);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range 406 (1e999)
      fail("", std::string("malformed JSON header: ") + e.what());
    }
    if (!j.is_object()) fail("", "header is not a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (it->is_object())
          for (auto m = it->begin(); m != it->end(); ++m)
            if (m->is_string()) metadata_[m.key()] = m->get<std::string>();
        continue;
      }
      tensors_.emplace(it.key(), parse_info(it.key(), *it));
    }
  }

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::map<std::string, StTensorInfo>& tensors() const { return tensors_; }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const { return metadata_; }
  [[nodiscard]] bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  /// Header entry of `name`. Throws std::invalid_argument naming file and tensor when absent.
  [[nodiscard]] const StTensorInfo& info(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) fail(name, "tensor not in the file");
    return it->second;
  }

  /// Tensor `name` as a row-major fp32 matrix [rows, cols] (F16 and BF16 are widened exactly).
  /// A 1-D tensor of n elements reads as [1, n] unless `rows`/`cols` say [n, 1]. Throws
  /// std::invalid_argument naming file and tensor when absent or when its shape is not
  /// [rows, cols] (or [cols] for rows = 1).
  [[nodiscard]] Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> matrix(const std::string& name,
                                                                                            std::int64_t rows,
                                                                                            std::int64_t cols) const {
    const StTensorInfo& t = info(name);
    const bool ok = (t.shape.size() == 2 && t.shape[0] == rows && t.shape[1] == cols) ||
                    (t.shape.size() == 1 && ((rows == 1 && t.shape[0] == cols) || (cols == 1 && t.shape[0] == rows)));
    if (!ok) fail(name, "shape " + shape_string(t.shape) + ", expected [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(rows, cols);
    convert(t, m.data());
    return m;
  }
  /// Tensor `name` flattened to fp32, whatever its shape.
  [[nodiscard]] std::vector<float> flat(const std::string& name) const {
    const StTensorInfo& t = info(name);
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    convert(t, out.data());
    return out;
  }

  /// "[d0, d1]".
  [[nodiscard]] static std::string shape_string(const std::vector<std::int64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
  }

 private:
  [[noreturn]] void fail(const std::string& tensor, const std::string& why) const {
    throw std::invalid_argument(path_ + (tensor.empty() ? "" : ": " + tensor) + ": " + why);
  }

  StTensorInfo parse_info(const std::string& name, const nlohmann::json& e) const {
    if (!e.is_object()) fail(name, "header entry is not an object");
    StTensorInfo t;
    if (!e.contains("dtype") || !e["dtype"].is_string()) fail(name, "missing dtype");
    const auto d = e["dtype"].get<std::string>();
    if (d == "F32") t.dtype = StDtype::kF32;
    else if (d == "F16") t.dtype = StDtype::kF16;
    else if (d == "BF16") t.dtype = StDtype::kBF16;
    else fail(name, "dtype " + d + " is not supported (F32, F16, BF16)");
    if (!e.contains("shape") || !e["shape"].is_array()) fail(name, "missing shape");
    std::uint64_t numel = 1;
    for (const auto& v : e["shape"]) {
      if (!v.is_number_unsigned()) fail(name, "shape entry " + v.dump() + " is not a non-negative integer");
      const auto x = v.get<std::uint64_t>();
      if (x != 0 && numel > std::numeric_limits<std::uint64_t>::max() / x) fail(name, "shape overflows 64 bits");
      numel *= x;
      t.shape.push_back(static_cast<std::int64_t>(x));
    }
    if (numel > std::numeric_limits<std::uint64_t>::max() / 4) fail(name, "shape overflows 64 bits");
    if (!e.contains("data_offsets") || !e["data_offsets"].is_array() || e["data_offsets"].size() != 2 ||
        !e["data_offsets"][0].is_number_unsigned() || !e["data_offsets"][1].is_number_unsigned())
      fail(name, "data_offsets must be [begin, end] of non-negative integers");
    t.begin = e["data_offsets"][0].get<std::uint64_t>();
    t.end = e["data_offsets"][1].get<std::uint64_t>();
    if (t.begin > t.end || t.end > buffer_.size())
      fail(name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] outside the buffer of " +
                     std::to_string(buffer_.size()) + " bytes");
    if (t.end - t.begin != numel * st_dtype_bytes(t.dtype))
      fail(name, "holds " + std::to_string(t.end - t.begin) + " bytes, shape " + shape_string(t.shape) + " of " + d + " needs " +
                     std::to_string(numel * st_dtype_bytes(t.dtype)));
    return t;
  }

  void convert(const StTensorInfo& t, float* out) const {
    const std::byte* src = buffer_.data() + t.begin;
    const auto n = static_cast<std::size_t>(t.numel());
    switch (t.dtype) {
      case StDtype::kF32:
        std::memcpy(out, src, n * 4);
        break;
      case StDtype::kF16:
        for (std::size_t i = 0; i < n; ++i) {
          std::uint16_t bits;
          std::memcpy(&bits, src + 2 * i, 2);
          out[i] = static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
        }
        break;
      case StDtype::kBF16:
        for (std::size_t i = 0; i < n; ++i) {  // bf16 is the top half of an fp32
          std::uint16_t bits;
          std::memcpy(&bits, src + 2 * i, 2);
          out[i] = std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
        }
        break;
    }
  }

  std::string path_;
  std::vector<std::byte> buffer_;
  std::map<std::string, StTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace kvsched::model
