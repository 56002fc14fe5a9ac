// CSV reader (kvsched/sim/csv.hpp): parsing rules and errors that name file, line and column.
#include <catch2/catch.hpp>
#include <string>

#include "kvsched/sim/csv.hpp"
#include "source_dir.hpp"

using kvsched::CsvError;
using kvsched::CsvTable;

TEST_CASE("CSV parses quotes, CRLF and blank lines") {
  const auto t = CsvTable::parse("a,b,c\r\n1,\"x,y\",\"say \"\"hi\"\"\"\r\n\r\n2, 3.5 ,\"multi\nline\"\n", "<s>");
  REQUIRE(t.num_columns() == 3);
  REQUIRE(t.num_rows() == 2);
  CHECK(t.cell(0, 1) == "x,y");
  CHECK(t.cell(0, 2) == "say \"hi\"");
  CHECK(t.number(1, 1) == 3.5);
  CHECK(t.cell(1, 2) == "multi\nline");
  CHECK(t.line_of(0) == 2);
  CHECK(t.line_of(1) == 4);
  CHECK(t.integer(0, 0) == 1);
  CHECK_FALSE(t.find_column("d").has_value());
}

TEST_CASE("CSV cell errors name file, line, column and column name") {
  const auto t = CsvTable::parse("num_tokens,time\n1,0.5\n2,abc\n3,\n", "prof.csv");
  try {
    (void)t.number(1, 1);
    FAIL("no throw");
  } catch (const CsvError& e) {
    CHECK(e.file() == "prof.csv");
    CHECK(e.line() == 3);
    CHECK(e.column() == 2);
    CHECK(std::string(e.what()) == "prof.csv:3:2 (time): cannot parse 'abc' as a number");
  }
  try {
    (void)t.number(2, 1);
    FAIL("no throw");
  } catch (const CsvError& e) {
    CHECK(e.line() == 4);
    CHECK(std::string(e.what()).find("empty cell") != std::string::npos);
  }
  CHECK_FALSE(t.number_or_empty(2, 1).has_value());
  CHECK_THROWS_AS(t.integer(0, 1), CsvError);  // "0.5" is not an integer
}

TEST_CASE("CSV structural errors name the file and line") {
  try {
    (void)CsvTable::parse("a,b\n1,2\n3\n", "ragged.csv");
    FAIL("no throw");
  } catch (const CsvError& e) {
    CHECK(e.line() == 3);
    CHECK(std::string(e.what()).find("ragged.csv:3") != std::string::npos);
  }
  CHECK_THROWS_AS(CsvTable::parse("a,b\n1,\"2\n", "q.csv"), CsvError);
  CHECK_THROWS_AS(CsvTable::parse("", "empty.csv"), CsvError);
  try {
    (void)CsvTable::parse("a,b\n1,2\n", "cols.csv").column("c");
    FAIL("no throw");
  } catch (const CsvError& e) {
    CHECK(std::string(e.what()).find("'c'") != std::string::npos);
    CHECK(std::string(e.what()).find("cols.csv") != std::string::npos);
  }
  try {
    (void)CsvTable::read(kvsched::test::data_dir() / "no_such_file.csv");
    FAIL("no throw");
  } catch (const CsvError& e) {
    CHECK(std::string(e.what()).find("no_such_file.csv") != std::string::npos);
  }
}

TEST_CASE("CSV reads every bundled Vidur profile with its header") {
  const auto t =
      CsvTable::read(kvsched::test::data_dir() / "vidur_profiling" / "a100_legacy" / "attention_llama2-70b_tp2.csv");
  CHECK(t.num_rows() == 14658);
  CHECK(t.num_columns() == 32);
  const auto c = t.column("is_prefill");
  CHECK_FALSE(t.boolean(0, c));
}
