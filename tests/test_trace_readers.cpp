// Trace readers: each format on small inline files and on the bundled traces (row counts
// from their SOURCE.md), and format detection.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kvsched/sim/trace_reader.hpp"
#include "support/sim_test_util.hpp"

using namespace kvsched::sim;
using kvsched::test::TempDir;

namespace {
/// Writes `content` to a temporary file `name` and reads it with `read` (one of the readers).
template <class Read>
Trace read_text(const std::string& name, const std::string& content, Read read) {
  TempDir d;
  return read(d.write(name, content));
}
using Lengths = std::vector<std::pair<std::int32_t, std::int32_t>>;
/// (prompt, output) tokens of every request.
Lengths lengths(const Trace& t) {
  Lengths out;
  for (const auto& r : t.requests) out.emplace_back(r.prompt_tokens, r.output_tokens);
  return out;
}
/// arrival_s of every request.
std::vector<double> arrivals(const Trace& t) {
  std::vector<double> out;
  for (const auto& r : t.requests) out.push_back(r.arrival_s);
  return out;
}
}  // namespace

TEST_CASE("azure: timestamps become seconds since the first row; CRLF and no final newline") {
  const Trace t = read_text("a.csv",
                            "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
                            "2023-11-16 18:15:46.6805900,374,44\r\n"
                            "2023-11-16 18:15:50.9951690,396,109\r\n"
                            "2023-11-16 18:16:00,7,1",
                            read_azure_trace);
  REQUIRE(t.size() == 3);
  CHECK(t.timed);
  CHECK(t.format == TraceFormat::kAzure);
  CHECK(t.requests[0].arrival_s == 0.0);
  CHECK_THAT(arrivals(t), Catch::Matchers::Approx(std::vector<double>{0.0, 4.314579, 13.31941}).epsilon(1e-12));
  CHECK(lengths(t) == Lengths{{374, 44}, {396, 109}, {7, 1}});
  CHECK(t.requests[2].line == 4);
  CHECK(t.mean_rate_rps() == Approx(2.0 / 13.31941));
}

TEST_CASE("azure: timestamp parser handles dates, day boundaries and rejects junk") {
  const auto a = parse_azure_timestamp_ns("2023-11-16 23:59:59.9");
  const auto b = parse_azure_timestamp_ns("2023-11-17 00:00:00.1");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*b - *a == 200'000'000);
  CHECK(*parse_azure_timestamp_ns("1970-01-01 00:00:01") == 1'000'000'000);
  CHECK(*parse_azure_timestamp_ns("1970-01-02 00:00:00.000000001") == 86'400'000'000'001);
  CHECK_FALSE(parse_azure_timestamp_ns("2023-02-30 00:00:00"));
  CHECK_FALSE(parse_azure_timestamp_ns("2023-11-16"));
  CHECK_FALSE(parse_azure_timestamp_ns("2023-11-16 18:15:46."));
  CHECK_FALSE(parse_azure_timestamp_ns("2023-11-16 18:15:46.12x"));
  CHECK_FALSE(parse_azure_timestamp_ns("2023/11/16 18:15:46"));
}

TEST_CASE("vidur: arrived_at relative to the first row, extra columns ignored") {
  const Trace t = read_text("v.csv",
                            "arrived_at,num_prefill_tokens,num_decode_tokens,extra\n"
                            "10.0,100,5,x\n"
                            "\n"
                            "10.5,200,6,y\n",
                            read_vidur_trace);
  REQUIRE(t.size() == 2);
  CHECK(arrivals(t) == std::vector<double>{0.0, 0.5});
  CHECK(lengths(t) == Lengths{{100, 5}, {200, 6}});
  CHECK(t.requests[1].line == 4);
}

TEST_CASE("lengths: no times, columns found by name in any order") {
  const Trace t = read_text("l.csv",
                            "num_decode_tokens,pd_ratio,num_prefill_tokens\n"
                            "918,0.08,74\n"
                            "905,0.32,290.0\n",
                            read_lengths_trace);
  REQUIRE(t.size() == 2);
  CHECK_FALSE(t.timed);
  CHECK(t.mean_rate_rps() == 0.0);
  CHECK(lengths(t) == Lengths{{74, 918}, {290, 905}});
}

TEST_CASE("mooncake: JSONL with hash ids, timestamps in ms") {
  const Trace t =
      read_text("m.jsonl",
                "{\"timestamp\": 5, \"input_length\": 1000, \"output_length\": 6, \"hash_ids\": [0, 1]}\n"
                "{\"timestamp\": 1505, \"input_length\": 600, \"output_length\": 4, \"hash_ids\": [0, 2]}\n"
                "{\"timestamp\": 1505, \"input_length\": 7, \"output_length\": 1}\n",
                read_mooncake_trace);
  REQUIRE(t.size() == 3);
  CHECK_THAT(arrivals(t), Catch::Matchers::Approx(std::vector<double>{0.0, 1.5, 1.5}));
  CHECK(t.requests[0].content_ids == std::vector<std::uint64_t>{0, 1});
  CHECK(t.requests[1].content_ids == std::vector<std::uint64_t>{0, 2});
  CHECK(t.requests[2].content_ids.empty());
  CHECK(t.content_block_tokens == 512);
}

TEST_CASE("format detection from the header, and override") {
  TempDir d;
  CHECK(detect_trace_format(d.write("1.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n")) == TraceFormat::kAzure);
  CHECK(detect_trace_format(d.write("2.csv", "\n\narrived_at,num_prefill_tokens,num_decode_tokens\n")) == TraceFormat::kVidur);
  CHECK(detect_trace_format(d.write("3.csv", "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n")) ==
        TraceFormat::kLengths);
  CHECK(detect_trace_format(d.write("4.jsonl", "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 1}\n")) ==
        TraceFormat::kMooncake);
  // A Vidur file read as a length-only one (override): times ignored.
  const auto v = d.write("5.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,3,4\n9.0,5,6\n");
  const Trace t = read_trace(v, TraceFormat::kLengths);
  CHECK_FALSE(t.timed);
  CHECK(t.size() == 2);
  CHECK(read_trace(v).timed);
  CHECK(parse_trace_format("mooncake") == TraceFormat::kMooncake);
  CHECK_FALSE(parse_trace_format("csv"));
}

namespace {
std::filesystem::path data(const std::string& rel) { return kvsched::test::bundled_data_dir() / rel; }
}  // namespace

TEST_CASE("bundled traces: row counts and first rows match their SOURCE.md") {
  const Trace conv = read_trace(data("azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv"));
  CHECK(conv.format == TraceFormat::kAzure);
  CHECK(conv.size() == 19366);
  CHECK(conv.requests[0].prompt_tokens == 374);
  CHECK(conv.requests[0].output_tokens == 44);
  CHECK(conv.mean_rate_rps() == Approx(5.53).margin(0.01));
  CHECK(conv.span_s() / 60.0 == Approx(58.4).margin(0.1));  // 18:15:46-19:14:08
  const Trace code = read_trace(data("azure_llm_inference_2023/AzureLLMInferenceTrace_code.csv"));
  CHECK(code.size() == 8819);
  CHECK(code.requests[0].prompt_tokens == 4808);
  const Trace moon = read_trace(data("mooncake_fast25/synthetic_trace.jsonl"));
  CHECK(moon.format == TraceFormat::kMooncake);
  CHECK(moon.size() == 3993);
  CHECK(moon.requests[0].prompt_tokens == 40160);
  CHECK(moon.requests[0].content_ids.size() == 79);
  const std::string ld = "length_distributions_llama2_tokenizer/";
  CHECK(read_trace(data(ld + "sharegpt_8k_filtered_stats_llama2_tokenizer.csv")).size() == 30731);
  CHECK(read_trace(data(ld + "arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv")).size() == 28257);
  CHECK(read_trace(data(ld + "bwb_stats_llama2_tokenizer_filtered_v2.csv")).size() == 33768);
  CHECK(read_trace(data(ld + "vidur_splitwise_code.csv")).size() == 8819);
  // Vidur's re-export of Azure conv: same rows, same lengths, same times (to the microsecond).
  const Trace vconv = read_trace(data(ld + "vidur_splitwise_conv.csv"));
  CHECK(vconv.format == TraceFormat::kVidur);
  REQUIRE(vconv.size() == conv.size());
  std::size_t same = 0;
  for (std::size_t i = 0; i < conv.size(); ++i) {
    same += conv.requests[i].prompt_tokens == vconv.requests[i].prompt_tokens &&
            conv.requests[i].output_tokens == vconv.requests[i].output_tokens &&
            std::abs(conv.requests[i].arrival_s - vconv.requests[i].arrival_s) < 1e-5;
  }
  CHECK(same == conv.size());
}
