// CSV table (kvsched/io/csv_table.hpp): parsing rules, the number rule, and errors that name
// file, line and column.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "kvsched/io/csv_reader.hpp"
#include "kvsched/io/csv_table.hpp"
#include "kvsched/io/number.hpp"
#include "source_dir.hpp"
#include "support/sim_test_util.hpp"

using kvsched::io::CsvTable;
using kvsched::io::InputError;

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
  } catch (const InputError& e) {
    CHECK(e.file() == "prof.csv");
    CHECK(e.line() == 3);
    CHECK(e.column() == 2);
    CHECK(e.field() == "time");
    CHECK(std::string(e.what()) == "prof.csv:3: field 'time': not a number: 'abc'");
  }
  try {
    (void)t.number(2, 1);
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(e.line() == 4);
    CHECK(std::string(e.what()).find("empty cell") != std::string::npos);
  }
  CHECK_FALSE(t.number_or_empty(2, 1).has_value());
  CHECK_THROWS_AS(t.integer(0, 1), InputError);  // "0.5" is not an integer
}

TEST_CASE("CSV structural errors name the file and line") {
  try {
    (void)CsvTable::parse("a,b\n1,2\n3\n", "ragged.csv");
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(e.line() == 3);
    CHECK(std::string(e.what()).find("ragged.csv:3") != std::string::npos);
  }
  CHECK_THROWS_AS(CsvTable::parse("a,b\n1,\"2\n", "q.csv"), InputError);
  CHECK_THROWS_AS(CsvTable::parse("", "empty.csv"), InputError);
  try {
    (void)CsvTable::parse("a,b\n1,2\n", "cols.csv").column("c");
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("'c'") != std::string::npos);
    CHECK(std::string(e.what()).find("cols.csv") != std::string::npos);
  }
  try {
    (void)CsvTable::read(kvsched::test::data_dir() / "no_such_file.csv");
    FAIL("no throw");
  } catch (const InputError& e) {
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

TEST_CASE("one number rule: no '+', nothing non-finite, no trailing junk") {
  double d = 0.0;
  std::int64_t i = 0;
  CHECK(kvsched::io::parse_double("-0.5", d));
  CHECK(d == -0.5);
  CHECK(kvsched::io::parse_double("1e-3", d));
  for (const char* bad : {"", "+5", "inf", "-inf", "nan", "infinity", "1e999", "1.5x", "3 4", "0x10", " 1"}) {
    CAPTURE(bad);
    CHECK_FALSE(kvsched::io::parse_double(bad, d));
  }
  CHECK(kvsched::io::parse_integer("290.0", i));
  CHECK(i == 290);
  CHECK(kvsched::io::parse_integer("-12", i));
  CHECK(i == -12);
  for (const char* bad : {"", "+12", "12.5", "12x", "nan", "1e300"}) {
    CAPTURE(bad);
    CHECK_FALSE(kvsched::io::parse_integer(bad, i));
  }
  const auto t = CsvTable::parse("x\n+5\ninf\n", "n.csv");
  CHECK_THROWS_AS(t.number(0, 0), InputError);
  CHECK_THROWS_AS(t.number(1, 0), InputError);
}

TEST_CASE("the table and the stream split a file the same way") {
  kvsched::test::TempDir d;
  const std::string text = "\xEF\xBB\xBF" "a, b ,c\r\n\r\n  1 ,\"x,\"\"y\"\"\" , \"two\nlines\"\n   \n4,5,6";
  const auto path = d.write("same.csv", text);
  const auto t = CsvTable::read(path);
  kvsched::io::CsvReader r(path);
  REQUIRE(t.header() == std::vector<std::string>{"a", "b", "c"});
  CHECK(r.header() == t.header());
  for (std::size_t row = 0; row < t.num_rows(); ++row) {
    REQUIRE(r.next());
    CHECK(r.line() == static_cast<std::int64_t>(t.line_of(row)));
    for (std::size_t c = 0; c < t.num_columns(); ++c) CHECK(r.field(c) == t.cell(row, c));
  }
  CHECK_FALSE(r.next());
  REQUIRE(t.num_rows() == 2);
  CHECK(t.cell(0, 0) == "1");
  CHECK(t.cell(0, 1) == "x,\"y\"");
  CHECK(t.cell(0, 2) == "two\nlines");
  CHECK(t.line_of(1) == 6);
  CHECK(r.integer(0, 1) == 4);
  try {
    (void)r.integer(2, 7);
    FAIL("no throw");
  } catch (const InputError& e) {
    CHECK(e.line() == 6);
    CHECK(e.field() == "c");
    CHECK(e.column() == 3);
    CHECK_THAT(e.what(), Catch::Contains("same.csv:6: field 'c': must be >= 7, got 6"));
  }
  CHECK_THROWS_AS(CsvTable::parse("a,b\n\"1\"x,2\n", "q.csv"), InputError);  // text after a closing quote
}
