// The strict JSON reader: what RFC 8259 allows it reads, what it does not it rejects with the
// line and column (counted by hand below), and the three things a general parser lets through
// (a key given twice, a number a double cannot hold, unbounded nesting) are errors.
#include <catch2/catch.hpp>

#include <string>

#include "workloads/json_reader.h"

using namespace mmemu;

namespace {
JsonReadResult bad(const std::string& text) {
    JsonReadResult r = read_json(text);
    INFO("text: " << text);
    REQUIRE_FALSE(r.ok);
    return r;
}
} // namespace

TEST_CASE("json reader: values and where each starts", "[workloads][json]") {
    const std::string text = "{\n  \"a\": [1, -2, 3.5],\n  \"b\": {\"c\": \"x\\u00e9\"},\n"
                             "  \"d\": true, \"e\": null\n}";
    JsonReadResult r = read_json(text);
    REQUIRE(r.ok);
    const json& v = r.doc.value;
    REQUIRE(v["a"][0] == 1);
    REQUIRE(v["a"][1] == -2);
    REQUIRE(v["a"][2] == 3.5);
    REQUIRE(v["b"]["c"] == "x\xc3\xa9"); // U+00E9 in UTF-8
    REQUIRE(v["d"] == true);
    REQUIRE(v["e"].is_null());
    // Line 2 is `  "a": [1, -2, 3.5],`: the array opens at column 8, -2 at column 12.
    REQUIRE(r.doc.positions.at("/a").line == 2);
    REQUIRE(r.doc.positions.at("/a").column == 8);
    REQUIRE(r.doc.positions.at("/a/1").column == 12);
    // Line 3 is `  "b": {"c": "xé"},`: the string starts at column 14.
    REQUIRE(r.doc.positions.at("/b/c").line == 3);
    REQUIRE(r.doc.positions.at("/b/c").column == 14);
    // A pointer with no value of its own (a missing field) takes its enclosing object's place.
    REQUIRE(r.doc.position_of("/b/missing").column == 8);
    REQUIRE(r.doc.position_of("/b/missing").line == 3);
}

TEST_CASE("json reader: 64-bit integers stay exact", "[workloads][json]") {
    JsonReadResult r = read_json("[18446744073709551615, -9223372036854775808, 9007199254740993]");
    REQUIRE(r.ok);
    REQUIRE(r.doc.value[0].get<uint64_t>() == UINT64_MAX);
    REQUIRE(r.doc.value[1].get<int64_t>() == INT64_MIN);
    REQUIRE(r.doc.value[2].get<uint64_t>() == 9007199254740993ull); // 2^53 + 1, not rounded
    // One above 2^64 is kept as a double, which an integer field then refuses by type.
    JsonReadResult big = read_json("18446744073709551616");
    REQUIRE(big.ok);
    REQUIRE(big.doc.value.is_number_float());
}

TEST_CASE("json reader: a key given twice names both places", "[workloads][json]") {
    // `{"a": 1,` is 8 characters, so the second "a" starts at column 10 of line 1.
    JsonReadResult r = bad("{\"a\": 1, \"a\": 2}");
    REQUIRE(r.error_pos.line == 1);
    REQUIRE(r.error_pos.column == 10);
    REQUIRE(r.error.find("\"a\" appears again (first at line 1, column 2)") != std::string::npos);
    // Only within one object: the same key in two objects is fine.
    REQUIRE(read_json("[{\"a\": 1}, {\"a\": 2}]").ok);
}

TEST_CASE("json reader: numbers a double cannot hold", "[workloads][json]") {
    for (const char* t : {"1e400", "-1e400", "[1, 2e999]", "{\"x\": 1E+309}"}) {
        JsonReadResult r = bad(t);
        REQUIRE(r.error.find("a number a double can hold") != std::string::npos);
    }
    // Underflow is not an error: it is 0 as a double.
    REQUIRE(read_json("1e-400").ok);
}

TEST_CASE("json reader: nesting is bounded", "[workloads][json]") {
    // MAX_JSON_DEPTH nested arrays are read; one more is refused.
    std::string deep(MAX_JSON_DEPTH + 1, '['), ok(MAX_JSON_DEPTH, '[');
    deep += std::string(MAX_JSON_DEPTH + 1, ']');
    ok += std::string(MAX_JSON_DEPTH, ']');
    REQUIRE(read_json(ok).ok);
    JsonReadResult r = bad(deep);
    REQUIRE(r.error.find("levels of nesting") != std::string::npos);
    // A million brackets: an error, not a stack overflow.
    REQUIRE_FALSE(read_json(std::string(1000000, '[')).ok);
}

TEST_CASE("json reader: what RFC 8259 does not allow", "[workloads][json]") {
    struct Case {
        const char* text;
        unsigned line, column;
        const char* expected;
    };
    const Case cases[] = {
        {"", 1, 1, "a value"},
        {"{,}", 1, 2, "a member name in double quotes, got ','"},
        {"{\"a\" 1}", 1, 6, "':' after the member name"},
        {"{\"a\": 1,}", 1, 9, "a member name in double quotes, got '}'"},
        {"[1,]", 1, 4, "a value"},
        {"[1 2]", 1, 4, "',' or ']' in an array"},
        {"01", 1, 2, "the end of the document"},
        {"1.", 1, 3, "a digit after the decimal point"},
        {"1e", 1, 3, "a digit in the exponent"},
        {"+1", 1, 1, "a value"},
        {"NaN", 1, 1, "a value"},
        {"tru", 1, 1, "a value"},
        {"\"abc", 1, 5, "a closing '\"'"},
        {"\"a\tb\"", 1, 3, "no control characters inside a string, got byte 0x09"},
        {"\"\\x\"", 1, 3, "an escape"},
        {"\"\\u12\"", 1, 6, "four hex digits"},
        {"\"\\ud800\"", 1, 8, "a low surrogate"},
        {"\"\\udc00\"", 1, 8, "no lone low surrogate"},
        {"\"\xff\"", 1, 2, "UTF-8 text, got byte 0xff"},
        {"\"\xc0\xaf\"", 1, 2, "UTF-8 text"},     // an overlong '/'
        {"\"\xed\xa0\x80\"", 1, 2, "UTF-8 text"}, // a surrogate in UTF-8
        {"{}\n{}", 2, 1, "the end of the document"},
        {"[\n  1,\n  ?]", 3, 3, "a value"},
    };
    for (const auto& c : cases) {
        JsonReadResult r = bad(c.text);
        INFO("text: " << c.text << " error: " << r.error);
        CHECK(r.error_pos.line == c.line);
        CHECK(r.error_pos.column == c.column);
        CHECK(r.error.find(c.expected) != std::string::npos);
    }
}

TEST_CASE("json reader: columns count characters, not bytes", "[workloads][json]") {
    // "é" is two bytes in UTF-8 but one column: in `["é", 1 2]` the stray 2 is at column 9
    // (it would be 10 counting bytes).
    JsonReadResult r = bad("[\"\xc3\xa9\", 1 2]");
    REQUIRE(r.error_pos.column == 9);
    JsonReadResult r2 = bad("[\"\xc3\xa9\" 1]");
    REQUIRE(r2.error_pos.column == 6);
}
