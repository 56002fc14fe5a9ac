// BpeTokenizer against Hugging Face `tokenizers` 0.23: tests/fixtures/bpe_tiny (made by
// scripts/make_bpe_fixture.py) holds a byte-level BPE tokenizer.json and the ids `tokenizers`
// gives for a few strings (ASCII, contractions, digits, runs of spaces, Latin-1, CJK, emoji,
// added special tokens). Run with: ctest -R test_model_tokenizer
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kvsched/model/bpe_tokenizer.hpp"
#include "source_dir.hpp"

using kvsched::model::BpeTokenizer;

namespace {
std::filesystem::path fixture() { return kvsched::test::source_dir() / "tests" / "fixtures" / "bpe_tiny"; }
}  // namespace

TEST_CASE("tokenizer: byte-level BPE ids and decoding equal Hugging Face tokenizers'") {
  const BpeTokenizer tok((fixture() / "tokenizer.json").string());
  CHECK(tok.token_id("<|eos|>") == 1);
  std::ifstream in(fixture() / "reference.json");
  REQUIRE(in.good());
  const auto ref = nlohmann::json::parse(in);
  REQUIRE(ref.at("samples").size() >= 5);
  for (const auto& s : ref.at("samples")) {
    const auto text = s.at("text").get<std::string>();
    INFO("text: " << text);
    const auto ids = tok.encode(text);
    CHECK(ids == s.at("ids").get<std::vector<std::int32_t>>());
    CHECK(tok.decode(ids) == s.at("decoded").get<std::string>());
  }
  CHECK(tok.decode(tok.encode("<|bos|>hi"), true) == "hi");
}

TEST_CASE("tokenizer: bad tokenizer files and invalid UTF-8 fail with the place named") {
  const BpeTokenizer tok((fixture() / "tokenizer.json").string());
  CHECK_THROWS_WITH(tok.encode("ab\xC3"), Catch::Contains("invalid UTF-8 at byte 2"));
  const auto dir = std::filesystem::temp_directory_path() / "kvsched_tok_bad";
  std::filesystem::create_directories(dir);
  const auto p = (dir / "tokenizer.json").string();
  std::ofstream(p) << R"({"model": {"type": "Unigram"}})";
  CHECK_THROWS_WITH(BpeTokenizer(p), Catch::Contains(p) && Catch::Contains("model.type"));
  std::ofstream(p) << R"({"model": {"type": "BPE", "vocab": {}, "merges": [], "byte_fallback": true}, "pre_tokenizer": {"type": "Metaspace"}})";
  CHECK_THROWS_WITH(BpeTokenizer(p), Catch::Contains("byte_fallback"));
  std::ofstream(p) << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel"}})";
  CHECK_THROWS_WITH(BpeTokenizer(p), Catch::Contains("model.merges[0]"));
  std::filesystem::remove_all(dir);
}
