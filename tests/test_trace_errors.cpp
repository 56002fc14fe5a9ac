// Bad trace input: every error names the file, the line and the field.
#include <catch2/catch.hpp>

#include "kvsched/sim/trace_reader.hpp"
#include "support/sim_test_util.hpp"

using namespace kvsched::sim;
using kvsched::io::InputError;
using kvsched::test::TempDir;

namespace {
/// Reads `content` as a trace (format detected unless given) and returns the InputError.
InputError error_of(const std::string& name, const std::string& content, TraceFormat f = TraceFormat::kAuto) {
  TempDir d;
  const auto p = d.write(name, content);
  try {
    (void)read_trace(p, f);
  } catch (const InputError& e) {
    CHECK(e.file() == p);
    CHECK(std::string(e.what()).find(p.string()) == 0);
    return e;
  }
  FAIL("no InputError for " << name);
  throw std::logic_error("unreachable");
}
}  // namespace

const std::string kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
const std::string kVidurHeader = "arrived_at,num_prefill_tokens,num_decode_tokens\n";

TEST_CASE("malformed line: wrong number of fields") {
  const auto e = error_of("a.csv", kAzureHeader + "2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:47.0,374\n");
  CHECK(e.line() == 3);
  CHECK(e.field().empty());
  CHECK_THAT(e.what(), Catch::Contains(":3: malformed line: expected 3"));
}

TEST_CASE("negative, missing, non-numeric and zero token counts name the column") {
  auto e = error_of("a.csv", kAzureHeader + "2023-11-16 18:15:46.68,-5,44\n");
  CHECK(e.line() == 2);
  CHECK(e.field() == "ContextTokens");
  CHECK_THAT(e.what(), Catch::Contains("a.csv:2: field 'ContextTokens': must be >= 1, got -5"));
  e = error_of("v.csv", kVidurHeader + "0.0,10,3\n1.0,10,\n");
  CHECK(e.line() == 3);
  CHECK(e.field() == "num_decode_tokens");
  CHECK_THAT(e.what(), Catch::Contains("missing value"));
  e = error_of("l.csv", "num_prefill_tokens,num_decode_tokens\n12,abc\n");
  CHECK(e.field() == "num_decode_tokens");
  CHECK_THAT(e.what(), Catch::Contains("not an integer: 'abc'"));
  e = error_of("l.csv", "num_prefill_tokens,num_decode_tokens\n12.5,3\n");
  CHECK(e.field() == "num_prefill_tokens");
  e = error_of("l.csv", "num_prefill_tokens,num_decode_tokens\n0,3\n");
  CHECK(e.field() == "num_prefill_tokens");
  CHECK(e.line() == 2);
  e = error_of("l.csv", "num_prefill_tokens,num_decode_tokens\n+12,3\n");  // the strict number rule (io/number.hpp)
  CHECK(e.field() == "num_prefill_tokens");
  CHECK_THAT(e.what(), Catch::Contains("not an integer: '+12'"));
  e = error_of("v.csv", kVidurHeader + "inf,10,3\n");
  CHECK(e.field() == "arrived_at");
  CHECK_THAT(e.what(), Catch::Contains("not a number: 'inf'"));
  e = error_of("v.csv", kVidurHeader + "-1.0,10,3\n");
  CHECK(e.field() == "arrived_at");
  CHECK_THAT(e.what(), Catch::Contains("must be >= 0"));
}

TEST_CASE("non-monotonic timestamps name the line") {
  auto e = error_of("a.csv", kAzureHeader + "2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:46.60,374,44\n");
  CHECK(e.line() == 3);
  CHECK(e.field() == "TIMESTAMP");
  CHECK_THAT(e.what(), Catch::Contains("must not decrease"));
  e = error_of("v.csv", kVidurHeader + "0.0,1,1\n2.0,1,1\n1.5,1,1\n");
  CHECK(e.line() == 4);
  CHECK(e.field() == "arrived_at");
  e = error_of("m.jsonl",
               "{\"timestamp\": 10, \"input_length\": 3, \"output_length\": 1}\n"
               "{\"timestamp\": 9, \"input_length\": 3, \"output_length\": 1}\n");
  CHECK(e.line() == 2);
  CHECK(e.field() == "timestamp");
}

TEST_CASE("bad timestamp text") {
  const auto e = error_of("a.csv", kAzureHeader + "yesterday,374,44\n");
  CHECK(e.line() == 2);
  CHECK(e.field() == "TIMESTAMP");
  CHECK_THAT(e.what(), Catch::Contains("'yesterday'"));
}

TEST_CASE("empty traces") {
  auto e = error_of("a.csv", kAzureHeader);
  CHECK_THAT(e.what(), Catch::Contains("empty trace"));
  CHECK(e.line() == 1);
  e = error_of("e.csv", "", TraceFormat::kLengths);
  CHECK_THAT(e.what(), Catch::Contains("empty file"));
  e = error_of("e.csv", "\n \n");  // detection
  CHECK_THAT(e.what(), Catch::Contains("empty file"));
  e = error_of("m.jsonl", "\n", TraceFormat::kMooncake);
  CHECK_THAT(e.what(), Catch::Contains("empty trace"));
}

TEST_CASE("missing column and undetectable header") {
  auto e = error_of("a.csv", "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.68,374\n", TraceFormat::kAzure);
  CHECK(e.line() == 1);
  CHECK(e.field() == "GeneratedTokens");
  CHECK_THAT(e.what(), Catch::Contains("missing column"));
  e = error_of("x.csv", "time,prompt,output\n1,2,3\n");
  CHECK(e.line() == 1);
  CHECK_THAT(e.what(), Catch::Contains("cannot detect the trace format from 'time,prompt,output'"));
}

TEST_CASE("mooncake: malformed JSON, missing and negative keys, bad hash ids") {
  auto e = error_of("m.jsonl", "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1}\n{\"timestamp\": 1,\n");
  CHECK(e.line() == 2);
  CHECK_THAT(e.what(), Catch::Contains("malformed JSON"));
  e = error_of("m.jsonl", "{\"timestamp\": 0, \"input_length\": 3}\n");
  CHECK(e.field() == "output_length");
  CHECK_THAT(e.what(), Catch::Contains("missing"));
  e = error_of("m.jsonl", "{\"timestamp\": 0, \"input_length\": -3, \"output_length\": 1}\n");
  CHECK(e.field() == "input_length");
  CHECK(e.line() == 1);
  e = error_of("m.jsonl", "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1, \"hash_ids\": [1, -2]}\n");
  CHECK(e.field() == "hash_ids");
  e = error_of("m.jsonl", "{\"timestamp\": \"now\", \"input_length\": 3, \"output_length\": 1}\n");
  CHECK(e.field() == "timestamp");
  e = error_of("m.jsonl", "[1, 2]\n", TraceFormat::kMooncake);
  CHECK_THAT(e.what(), Catch::Contains("expected a JSON object"));
}

TEST_CASE("a file that does not exist") {
  try {
    (void)read_trace("/nonexistent/kvsched/trace.csv");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.line() == 0);
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/kvsched/trace.csv: cannot open file"));
  }
}
