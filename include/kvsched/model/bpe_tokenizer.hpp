// kvsched/model/bpe_tokenizer.hpp: a small reader of Hugging Face tokenizer.json files of the
// byte-level BPE kind (GPT-2 style: model "BPE", pre_tokenizer "ByteLevel" with its regex,
// decoder "ByteLevel"). Debian has no C++ `tokenizers` and PyPI's is Rust with Python bindings,
// so this is our own reader, checked against `tokenizers` 0.23 on tests/fixtures/bpe_tiny.
//
// Encoding (as tokenizers does it for this configuration):
//   1. added tokens (tokenizer.json "added_tokens") are matched first, leftmost-longest; the
//      text between them is encoded by steps 2-4;
//   2. pre-tokenization with GPT-2's pattern
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      written by hand over code points (std::regex has no \p{..});
//   3. each piece's UTF-8 bytes are mapped to GPT-2's printable byte alphabet (bytes_to_unicode);
//   4. BPE: the adjacent pair with the lowest merge rank is merged until none applies
//      (with model.ignore_merges, a piece found whole in the vocabulary is one token).
// Character classes are approximate beyond Latin-1: code points from U+0100 count as letters
// (\p{L}) except the Unicode White_Space ones and the punctuation/symbol blocks U+2000-U+2BFF,
// U+3000-U+303F, U+FE00-U+FE4F, U+FF00-U+FF0F, U+1F000-U+1FAFF; \p{N} is ASCII digits plus
// Latin-1's superscripts and fractions. Llama 3's Split pattern and SentencePiece-style
// (Metaspace, byte_fallback) tokenizers are rejected with the key named.
#pragma once
#include <cstdint>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace kvsched::model {

/// Byte-level BPE tokenizer from a tokenizer.json. Errors: std::invalid_argument naming the
/// file and key (construction), or the byte offset (invalid UTF-8 in encode()).
class BpeTokenizer {
 public:
  /// Reads `path`. Throws for a missing file, malformed JSON, a model other than BPE, a
  /// normalizer, a pre_tokenizer other than ByteLevel, byte_fallback, or a merge of unknown tokens.
  explicit BpeTokenizer(const std::string& path) : path_(path) {
    std::ifstream in(path);
    if (!in) fail("", "cannot open");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range 406 (1e999)
      fail("", std::string("malformed JSON: ") + e.what());
    }
    if (!j.contains("model") || !j["model"].is_object()) fail("model", "missing");
    const auto& m = j["model"];
    if (m.value("type", std::string{}) != "BPE") fail("model.type", "expected \"BPE\", got " + m.value("type", std::string("none")));
    if (m.contains("byte_fallback") && m["byte_fallback"].is_boolean() && m["byte_fallback"].get<bool>())
      fail("model.byte_fallback", "SentencePiece-style byte fallback is not supported (byte-level BPE only)");
    ignore_merges_ = m.contains("ignore_merges") && m["ignore_merges"].is_boolean() && m["ignore_merges"].get<bool>();
    if (j.contains("normalizer") && !j["normalizer"].is_null()) fail("normalizer", "normalizers are not supported (expected null)");
    const auto& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
    if (!pre.is_object() || pre.value("type", std::string{}) != "ByteLevel")
      fail("pre_tokenizer", "only a ByteLevel pre-tokenizer (GPT-2 pattern) is supported, got " + pre.dump().substr(0, 120));
    if (!pre.value("use_regex", true)) fail("pre_tokenizer.use_regex", "false is not supported");
    add_prefix_space_ = pre.value("add_prefix_space", false);
    if (!m.contains("vocab") || !m["vocab"].is_object()) fail("model.vocab", "missing");
    for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
      if (!it->is_number_integer()) fail("model.vocab." + it.key(), "expected an integer id");
      const auto id = it->get<std::int32_t>();
      vocab_[it.key()] = id;
      set_piece(id, it.key());
    }
    if (!m.contains("merges") || !m["merges"].is_array()) fail("model.merges", "missing");
    std::int32_t rank = 0;
    for (const auto& e : m["merges"]) {
      std::string a, b;
      if (e.is_string()) {  // "a b" (tokenizers < 0.20)
        const auto s = e.get<std::string>();
        const auto sp = s.find(' ');
        if (sp == std::string::npos) fail("model.merges[" + std::to_string(rank) + "]", "expected \"a b\"");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
        a = e[0].get<std::string>();
        b = e[1].get<std::string>();
      } else {
        fail("model.merges[" + std::to_string(rank) + "]", "expected \"a b\" or [a, b]");
      }
      if (!vocab_.count(a) || !vocab_.count(b) || !vocab_.count(a + b))
        fail("model.merges[" + std::to_string(rank) + "]", "\"" + a + "\" + \"" + b + "\" uses a token not in the vocabulary");
      ranks_[a + '\x01' + b] = rank++;
    }
    if (j.contains("added_tokens") && j["added_tokens"].is_array())
      for (const auto& t : j["added_tokens"]) {
        if (!t.contains("id") || !t.contains("content")) fail("added_tokens", "entry without id or content");
        Added a{t["content"].get<std::string>(), t["id"].get<std::int32_t>(), t.value("special", false)};
        if (a.content.empty()) fail("added_tokens", "empty content");
        added_.push_back(a);
        set_piece(a.id, a.content);
        is_added_.resize(pieces_.size(), 0);
        is_added_[static_cast<std::size_t>(a.id)] = a.special ? 2 : 1;
      }
    is_added_.resize(pieces_.size(), 0);
    build_byte_map();
  }

  /// Vocabulary size: the largest id + 1.
  [[nodiscard]] std::int32_t vocab_size() const { return static_cast<std::int32_t>(pieces_.size()); }
  /// Id of a vocabulary entry or an added token (e.g. "<|eos|>"), -1 when absent.
  [[nodiscard]] std::int32_t token_id(const std::string& content) const {
    for (const auto& a : added_)
      if (a.content == content) return a.id;
    const auto it = vocab_.find(content);
    return it == vocab_.end() ? -1 : it->second;
  }

  /// Token ids of UTF-8 `text` (no BOS is added: the caller prepends one if the model wants it).
  /// Throws std::invalid_argument naming the byte offset of invalid UTF-8.
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const {
    std::vector<std::int32_t> ids;
    std::size_t start = 0, i = 0;
    while (i < text.size()) {
      const Added* best = nullptr;
      for (const auto& a : added_)
        if (text.substr(i, a.content.size()) == a.content && (!best || a.content.size() > best->content.size())) best = &a;
      if (!best) {
        ++i;
        continue;
      }
      encode_segment(text.substr(start, i - start), start, ids, start == 0);
      ids.push_back(best->id);
      i += best->content.size();
      start = i;
    }
    encode_segment(text.substr(start), start, ids, start == 0);
    return ids;
  }

  /// The bytes of `ids` (byte-level pieces mapped back to bytes, added tokens verbatim unless
  /// special and skip_special). Unknown ids are skipped.
  [[nodiscard]] std::string decode(const std::vector<std::int32_t>& ids, bool skip_special = false) const {
    std::string out;
    for (auto id : ids) {
      if (id < 0 || id >= vocab_size()) continue;
      const auto u = static_cast<std::size_t>(id);
      if (is_added_[u]) {
        if (!(skip_special && is_added_[u] == 2)) out += pieces_[u];
        continue;
      }
      const auto cps = code_points(pieces_[u], 0);
      for (auto cp : cps) {
        const auto it = unicode_to_byte_.find(cp);
        if (it != unicode_to_byte_.end()) out.push_back(static_cast<char>(it->second));
      }
    }
    return out;
  }

 private:
  struct Added {
    std::string content;
    std::int32_t id = 0;
    bool special = false;
  };

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw std::invalid_argument(path_ + (key.empty() ? "" : ": " + key) + ": " + why);
  }
  void set_piece(std::int32_t id, const std::string& s) {
    if (id < 0) fail("model.vocab", "negative id");
    if (pieces_.size() <= static_cast<std::size_t>(id)) pieces_.resize(static_cast<std::size_t>(id) + 1);
    pieces_[static_cast<std::size_t>(id)] = s;
  }

  /// GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100 onward.
  void build_byte_map() {
    std::uint32_t n = 0;
    for (std::uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const std::uint32_t cp = printable ? b : 256 + n++;
      byte_to_unicode_[b] = utf8(cp);
      unicode_to_byte_[cp] = static_cast<std::uint8_t>(b);
    }
  }
  static std::string utf8(std::uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return s;
  }
  /// Code points of UTF-8 `s`; throws naming the byte offset (base + index) of invalid UTF-8.
  std::vector<std::uint32_t> code_points(std::string_view s, std::size_t base) const {
    std::vector<std::uint32_t> cps;
    for (std::size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      if (len == 0 || i + static_cast<std::size_t>(len) > s.size())
        throw std::invalid_argument("BpeTokenizer: invalid UTF-8 at byte " + std::to_string(base + i));
      std::uint32_t cp = len == 1 ? c : c & (0x7F >> len);
      for (int k = 1; k < len; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
        if ((cc >> 6) != 2) throw std::invalid_argument("BpeTokenizer: invalid UTF-8 at byte " + std::to_string(base + i));
        cp = (cp << 6) | (cc & 0x3F);
      }
      cps.push_back(cp);
      i += static_cast<std::size_t>(len);
    }
    return cps;
  }

  static bool is_space(std::uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
  }
  static bool is_number(std::uint32_t c) { return (c >= '0' && c <= '9') || c == 0xB2 || c == 0xB3 || c == 0xB9 || (c >= 0xBC && c <= 0xBE); }
  static bool is_letter(std::uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c < 0x100) return c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
    if (is_space(c)) return false;
    return !((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFE00 && c <= 0xFE4F) ||
             (c >= 0xFF00 && c <= 0xFF0F) || (c >= 0x1F000 && c <= 0x1FAFF));
  }
  static bool is_other(std::uint32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); }

  /// GPT-2 pre-tokenization of `s` into pieces [begin, end) of code point indices.
  static std::vector<std::pair<std::size_t, std::size_t>> split(const std::vector<std::uint32_t>& s) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    const std::size_t n = s.size();
    std::size_t i = 0;
    auto run = [&](std::size_t j, bool (*cls)(std::uint32_t)) {
      while (j < n && cls(s[j])) ++j;
      return j;
    };
    while (i < n) {
      std::size_t e = i;
      if (s[i] == '\'' && i + 1 < n) {  // contractions 's 't 'm 'd 're 've 'll
        const auto a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0u;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') e = i + 2;
        else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) e = i + 3;
      }
      if (e == i) {
        const std::size_t k = (s[i] == ' ' && i + 1 < n) ? i + 1 : i;  // optional leading space
        if (is_letter(s[k])) e = run(k, is_letter);
        else if (is_number(s[k])) e = run(k, is_number);
        else if (is_other(s[k])) e = run(k, is_other);
      }
      if (e == i) {  // whitespace: \s+(?!\S) leaves the last space to the next piece, else \s+
        const std::size_t k = run(i, is_space);
        e = (k == n || k - i == 1) ? k : k - 1;
      }
      out.emplace_back(i, e);
      i = e;
    }
    return out;
  }

  void encode_segment(std::string_view seg, std::size_t base, std::vector<std::int32_t>& ids, bool at_start) const {
    if (seg.empty()) return;
    std::vector<std::uint32_t> cps = code_points(seg, base);
    if (add_prefix_space_ && at_start && !is_space(cps.front())) cps.insert(cps.begin(), ' ');
    std::vector<std::size_t> byte_at(cps.size() + 1, 0);  // byte offset of each code point (for slicing)
    std::string text;
    for (std::size_t i = 0; i < cps.size(); ++i) {
      byte_at[i] = text.size();
      text += utf8(cps[i]);
    }
    byte_at[cps.size()] = text.size();
    for (const auto& [b, e] : split(cps)) {
      std::vector<std::string> word;
      std::string whole;
      for (std::size_t k = byte_at[b]; k < byte_at[e]; ++k) {
        word.push_back(byte_to_unicode_[static_cast<unsigned char>(text[k])]);
        whole += word.back();
      }
      if (ignore_merges_) {
        const auto it = vocab_.find(whole);
        if (it != vocab_.end()) {
          ids.push_back(it->second);
          continue;
        }
      }
      bpe(word);
      for (const auto& sym : word) {
        const auto it = vocab_.find(sym);
        if (it == vocab_.end()) fail("model.vocab", "no token for \"" + sym + "\" (incomplete byte alphabet)");
        ids.push_back(it->second);
      }
    }
  }

  /// Merges the lowest-ranked adjacent pair of `word` until no pair has a rank.
  void bpe(std::vector<std::string>& word) const {
    while (word.size() > 1) {
      std::int32_t best = INT32_MAX;
      std::size_t at = 0;
      for (std::size_t k = 0; k + 1 < word.size(); ++k) {
        const auto it = ranks_.find(word[k] + '\x01' + word[k + 1]);
        if (it != ranks_.end() && it->second < best) {
          best = it->second;
          at = k;
        }
      }
      if (best == INT32_MAX) return;
      const std::string a = word[at], b = word[at + 1];
      std::vector<std::string> next;
      for (std::size_t k = 0; k < word.size(); ++k) {
        if (k + 1 < word.size() && word[k] == a && word[k + 1] == b) {
          next.push_back(a + b);
          ++k;
        } else {
          next.push_back(word[k]);
        }
      }
      word.swap(next);
    }
  }

  std::string path_;
  std::unordered_map<std::string, std::int32_t> vocab_;
  std::unordered_map<std::string, std::int32_t> ranks_;  // "a\x01b" -> merge rank
  std::vector<std::string> pieces_;                      // id -> vocabulary string (byte alphabet) or added content
  std::vector<std::uint8_t> is_added_;                   // id -> 0 vocab, 1 added, 2 added special
  std::vector<Added> added_;
  std::string byte_to_unicode_[256];
  std::map<std::uint32_t, std::uint8_t> unicode_to_byte_;
  bool add_prefix_space_ = false;
  bool ignore_merges_ = false;
};

}  // namespace kvsched::model
