// kvsched/model/tokenizer.hpp: the default byte-level tokenizer, for models without a
// tokenizer.json (the random tiny model): one token per UTF-8 byte, plus specials.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kvsched::model {

/// Byte-level tokenizer *(ours)*. Ids:
///   0..255  the byte of that value (any byte sequence round-trips, valid UTF-8 or not)
///   256     <bos> (beginning of sequence; encode() prepends it when asked)
///   257     <eos> (end of sequence; a model's stop token)
/// Ids 258.. of a larger vocabulary are unused; decode() skips them and the specials.
class ByteTokenizer {
 public:
  static constexpr std::int32_t kBos = 256;
  static constexpr std::int32_t kEos = 257;
  static constexpr std::int32_t kVocab = 258;  // ids used

  /// Throws std::invalid_argument when the model's vocabulary is smaller than kVocab.
  explicit ByteTokenizer(std::int32_t model_vocab_size = kVocab) {
    if (model_vocab_size < kVocab)
      throw std::invalid_argument("ByteTokenizer: vocab_size " + std::to_string(model_vocab_size) + " < " + std::to_string(kVocab) +
                                  " (256 bytes + <bos> + <eos>)");
  }
  [[nodiscard]] std::int32_t bos_id() const { return kBos; }
  [[nodiscard]] std::int32_t eos_id() const { return kEos; }

  /// Token ids of `text`: <bos> first when add_bos, then one id per byte.
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text, bool add_bos = true) const {
    std::vector<std::int32_t> ids;
    ids.reserve(text.size() + 1);
    if (add_bos) ids.push_back(kBos);
    for (char ch : text) ids.push_back(static_cast<std::int32_t>(static_cast<unsigned char>(ch)));
    return ids;
  }
  /// Bytes of the byte tokens of `ids`; specials and ids >= 256 are skipped.
  [[nodiscard]] std::string decode(const std::vector<std::int32_t>& ids) const {
    std::string s;
    for (auto id : ids)
      if (id >= 0 && id < 256) s.push_back(static_cast<char>(static_cast<unsigned char>(id)));
    return s;
  }
};

}  // namespace kvsched::model
