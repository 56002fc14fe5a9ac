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

/// What a bad trace's error must say; a part left out is not checked.
struct Expected {
  std::int64_t line = -1;       // InputError::line()
  const char* field = nullptr;  // InputError::field() ("" = none)
  const char* text = nullptr;   // a part of what()
};

/// Reads `content` as the trace file `name` and checks its InputError against `want`.
void check_error(const std::string& name, const std::string& content, const Expected& want,
                 TraceFormat f = TraceFormat::kAuto) {
  CAPTURE(name, content);
  const InputError e = error_of(name, content, f);
  if (want.line >= 0) CHECK(e.line() == want.line);
  if (want.field != nullptr) CHECK(e.field() == want.field);
  if (want.text != nullptr) CHECK_THAT(e.what(), Catch::Contains(want.text));
}
}  // namespace

const std::string kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
const std::string kVidurHeader = "arrived_at,num_prefill_tokens,num_decode_tokens\n";
const std::string kLengthsHeader = "num_prefill_tokens,num_decode_tokens\n";

TEST_CASE("malformed line: wrong number of fields") {
  check_error("a.csv", kAzureHeader + "2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:47.0,374\n",
              {.line = 3, .field = "", .text = ":3: malformed line: expected 3"});
}

TEST_CASE("negative, missing, non-numeric and zero token counts name the column") {
  check_error("a.csv", kAzureHeader + "2023-11-16 18:15:46.68,-5,44\n",
              {.line = 2, .field = "ContextTokens", .text = "a.csv:2: field 'ContextTokens': must be >= 1, got -5"});
  check_error("v.csv", kVidurHeader + "0.0,10,3\n1.0,10,\n",
              {.line = 3, .field = "num_decode_tokens", .text = "missing value"});
  check_error("l.csv", kLengthsHeader + "12,abc\n", {.field = "num_decode_tokens", .text = "not an integer: 'abc'"});
  check_error("l.csv", kLengthsHeader + "12.5,3\n", {.field = "num_prefill_tokens"});
  check_error("l.csv", kLengthsHeader + "0,3\n", {.line = 2, .field = "num_prefill_tokens"});
  // The strict number rule (io/number.hpp): no '+', nothing non-finite.
  check_error("l.csv", kLengthsHeader + "+12,3\n", {.field = "num_prefill_tokens", .text = "not an integer: '+12'"});
  check_error("v.csv", kVidurHeader + "inf,10,3\n", {.field = "arrived_at", .text = "not a number: 'inf'"});
  check_error("v.csv", kVidurHeader + "-1.0,10,3\n", {.field = "arrived_at", .text = "must be >= 0"});
}

TEST_CASE("non-monotonic timestamps name the line") {
  check_error("a.csv", kAzureHeader + "2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:46.60,374,44\n",
              {.line = 3, .field = "TIMESTAMP", .text = "must not decrease"});
  check_error("v.csv", kVidurHeader + "0.0,1,1\n2.0,1,1\n1.5,1,1\n", {.line = 4, .field = "arrived_at"});
  check_error("m.jsonl",
              "{\"timestamp\": 10, \"input_length\": 3, \"output_length\": 1}\n"
              "{\"timestamp\": 9, \"input_length\": 3, \"output_length\": 1}\n",
              {.line = 2, .field = "timestamp"});
}

TEST_CASE("bad timestamp text") {
  check_error("a.csv", kAzureHeader + "yesterday,374,44\n", {.line = 2, .field = "TIMESTAMP", .text = "'yesterday'"});
}

TEST_CASE("empty traces") {
  check_error("a.csv", kAzureHeader, {.line = 1, .text = "empty trace"});
  check_error("e.csv", "", {.text = "empty file"}, TraceFormat::kLengths);
  check_error("e.csv", "\n \n", {.text = "empty file"});  // detection
  check_error("m.jsonl", "\n", {.text = "empty trace"}, TraceFormat::kMooncake);
}

TEST_CASE("missing column and undetectable header") {
  check_error("a.csv", "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.68,374\n",
              {.line = 1, .field = "GeneratedTokens", .text = "missing column"}, TraceFormat::kAzure);
  check_error("x.csv", "time,prompt,output\n1,2,3\n",
              {.line = 1, .text = "cannot detect the trace format from 'time,prompt,output'"});
}

TEST_CASE("mooncake: malformed JSON, missing and negative keys, bad hash ids") {
  check_error("m.jsonl", "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1}\n{\"timestamp\": 1,\n",
              {.line = 2, .text = "malformed JSON"});
  check_error("m.jsonl", "{\"timestamp\": 0, \"input_length\": 3}\n", {.field = "output_length", .text = "missing"});
  check_error("m.jsonl", "{\"timestamp\": 0, \"input_length\": -3, \"output_length\": 1}\n",
              {.line = 1, .field = "input_length"});
  check_error("m.jsonl", "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1, \"hash_ids\": [1, -2]}\n",
              {.field = "hash_ids"});
  check_error("m.jsonl", "{\"timestamp\": \"now\", \"input_length\": 3, \"output_length\": 1}\n", {.field = "timestamp"});
  check_error("m.jsonl", "[1, 2]\n", {.text = "expected a JSON object"}, TraceFormat::kMooncake);
  // Found by fuzzing: nlohmann-json throws out_of_range (not parse_error) for a number beyond double.
  check_error("m.jsonl", "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1}\n{\"timestamp\": 1e999}\n",
              {.line = 2, .text = "malformed JSON"});
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
