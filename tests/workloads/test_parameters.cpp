// Parameters in scenarios: a repeat block's index variable and named templates (docs/scenario-
// format.md, "Parameters"): the substitution rules, worked by hand, and what a run of a
// parameterised scenario gives against the same scenario written out.
#include <catch2/catch.hpp>

#include "run_helpers.h"
#include "workloads/template_vars.h"

using namespace mmemu;
using mmemu::test::run_text;
using json = nlohmann::json;

namespace {

json sub(json v, const std::map<std::string, json>& vars) {
    std::string error;
    INFO(error);
    REQUIRE(substitute_vars(v, vars, error));
    return v;
}

std::string sub_error(json v, const std::map<std::string, json>& vars) {
    std::string error;
    CHECK_FALSE(substitute_vars(v, vars, error));
    return error;
}

std::vector<std::string> errors_of(const std::string& text) {
    std::vector<std::string> out;
    for (const auto& d : compile_scenario("t.json", text).errors)
        out.push_back(format_diagnostic("t.json", d));
    return out;
}

const char* kHead =
    R"({"mmemu_scenario": 1, "machine": {"arch": "x86_64", "memory": "256MiB", "cpus": 2},)";

} // namespace

TEST_CASE("parameters: substitution in strings", "[workloads][parameters]") {
    const std::map<std::string, json> v = {{"i", 3}, {"name", "web"}, {"neg", -2}};
    CHECK(sub("${i}", v) == 3); // the whole string: the value itself
    CHECK(sub("w${i}", v) == "w3");
    CHECK(sub("${i}MiB", v) == "3MiB");
    CHECK(sub("${i+1}", v) == 4);
    CHECK(sub("${i-5}", v) == -2);
    CHECK(sub("${i*4}KiB", v) == "12KiB");
    CHECK(sub("${i/2}", v) == 1);
    CHECK(sub("${i%2}", v) == 1);
    CHECK(sub("${neg%2}", v) == 0);
    CHECK(sub("${name}-${i}", v) == "web-3");
    CHECK(sub("${name}", v) == "web");
    CHECK(sub("${other}", v) == "${other}"); // an inner block's variable: left as it is
    CHECK(sub("a${other}b${i}", v) == "a${other}b3");
    CHECK(sub(json::parse(R"({"k${i}": ["${i}", {"x": "p${i}"}], "n": 1})"), v) ==
          json::parse(R"({"k${i}": [3, {"x": "p3"}], "n": 1})")); // keys are not substituted
    CHECK(sub_error("${i", v).find("without its }") != std::string::npos);
    CHECK(sub_error("${i*x}", v).find("expected NAME") != std::string::npos);
    CHECK(sub_error("${i%0}", v).find("division by zero") != std::string::npos);
    CHECK(sub_error("${big*999999999999999999}", {{"big", 10}}).find("64 bits") !=
          std::string::npos);
    CHECK(sub_error("${i*1000000000000000000}", v).find("expected NAME") != std::string::npos);
    CHECK(sub_error("${name+1}", v).find("needs an integer") != std::string::npos);
    CHECK(valid_var_name("i"));
    CHECK(valid_var_name("_n2"));
    CHECK_FALSE(valid_var_name("2n"));
    CHECK_FALSE(valid_var_name("a-b"));
    CHECK_FALSE(valid_var_name(""));
    CHECK_FALSE(valid_var_name(std::string(33, 'a')));
}

// A template instantiated by a repeat block runs as the same events written out by hand: the
// statistics (all but the manifest, which hashes the text) are equal.
TEST_CASE("parameters: a repeat of a template is the events written out",
          "[workloads][parameters]") {
    const std::string body = R"(
  "events": [
    {"op": "repeat", "count": 3, "as": "i", "events": [{"op": "template", "name": "w", "args": {"n": "${i}"}}]},
    {"op": "checkpoint", "name": "up"},
    {"op": "repeat", "count": 3, "as": "j", "events": [{"op": "exit", "process": "w${j}"}]}]})";
    const std::string with = std::string(kHead) + R"(
  "templates": {"w": {"params": ["n"], "events": [
    {"op": "spawn", "process": "w${n}", "cpu": "${n%2}"},
    {"op": "mmap", "process": "w${n}", "region": "heap", "length": "${n+1}MiB"},
    {"op": "write", "process": "w${n}", "region": "heap", "seed": "${n*7}"}]}},)" +
                             body;
    std::string by_hand = std::string(kHead) + R"( "events": [)";
    for (int n = 0; n < 3; ++n)
        by_hand += R"({"op": "spawn", "process": "w)" + std::to_string(n) + R"(", "cpu": )" +
                   std::to_string(n % 2) + R"(}, {"op": "mmap", "process": "w)" +
                   std::to_string(n) + R"(", "region": "heap", "length": ")" +
                   std::to_string(n + 1) + R"(MiB"}, {"op": "write", "process": "w)" +
                   std::to_string(n) + R"(", "region": "heap", "seed": )" + std::to_string(n * 7) +
                   "},";
    by_hand += R"({"op": "checkpoint", "name": "up"}, {"op": "exit", "process": "w0"},
        {"op": "exit", "process": "w1"}, {"op": "exit", "process": "w2"}]})";
    ojson a = run_text("t.json", with), b = run_text("t.json", by_hand);
    // Only the manifest (the text's hash) and the checkpoint's event index differ (a block's
    // events carry the index of the block's event).
    for (ojson* d : {&a, &b}) {
        d->erase("manifest");
        d->erase("host");
    }
    CHECK(a["checkpoints"][0]["event"] == 1);
    CHECK(b["checkpoints"][0]["event"] == 9);
    a["checkpoints"][0].erase("event");
    b["checkpoints"][0].erase("event");
    CHECK(a.dump() == b.dump());
    // By hand: w1's heap is 2 MiB, all written: 512 pages in its RSS (and it ran on CPU 1).
    const ojson& w1 = a["checkpoints"][0]["state"]["processes"][1];
    CHECK(w1["name"] == "w1");
    CHECK(int64_t(w1["RssAnon"]) >= 2048);
}

TEST_CASE("parameters: template errors name the template and the event that used it",
          "[workloads][parameters]") {
    const std::string templates = R"(
  "templates": {"w": {"params": ["n", "size"], "events": [
    {"op": "spawn", "process": "w${n}"},
    {"op": "mmap", "process": "w${n}", "region": "r", "length": "${size}"}]},
    "loop": {"events": [{"op": "template", "name": "loop"}]}},)";
    const auto one = [&](const std::string& events) {
        const auto e =
            errors_of(std::string(kHead) + templates + R"( "events": [)" + events + "]}");
        REQUIRE(e.size() >= 1);
        return e[0];
    };
    CHECK(one(R"({"op": "template", "name": "v", "args": {"n": 1, "size": "4KiB"}})")
              .find("no template named \"v\", did you mean \"w\"?") != std::string::npos);
    CHECK(one(R"({"op": "template", "name": "w", "args": {"n": 1}})")
              .find("needs the argument \"size\"") != std::string::npos);
    CHECK(one(R"({"op": "template", "name": "w", "args": {"n": 1, "size": "4KiB", "sise": 1}})")
              .find("has no parameter \"sise\", did you mean \"size\"?") != std::string::npos);
    CHECK(one(R"({"op": "template", "name": "loop"})").find("nest deeper than 8") !=
          std::string::npos);
    // A bad value inside the template: its place in the template's text, and who used it.
    const std::string e =
        one(R"({"op": "template", "name": "w", "args": {"n": 1, "size": "4 parsecs"}})");
    CHECK(e.find("t.json:4:") == 0); // line 4: the template's mmap
    CHECK(e.find("/templates/w/events/1/length") != std::string::npos);
    CHECK(e.find("(in template \"w\", used by /events/0)") != std::string::npos);
    CHECK(errors_of(std::string(kHead) +
                    R"( "templates": {"t": {"params": ["n", "n"], "events": []}}, "events": []})")
              .size() == 2); // a parameter named twice, and no events
    CHECK(
        one(R"({"op": "repeat", "count": 2, "as": "2i", "events": [{"op": "checkpoint", "name": "c"}]})")
            .find("expected a variable name") != std::string::npos);
}

namespace {

// Templates t0 .. t(levels - 1) each using the next 100 times; the last holds one event.
std::string nested_templates(int levels) {
    std::string templates = R"( "templates": {)";
    for (int level = 0; level < levels; ++level) {
        std::string uses;
        for (int k = 0; k < 100; ++k)
            uses += std::string(k ? ", " : "") + R"({"op": "template", "name": "t)" +
                    std::to_string(level + 1) + R"("})";
        templates += R"("t)" + std::to_string(level) + R"(": {"events": [)" + uses + "]}, ";
    }
    templates += R"("t)" + std::to_string(levels) + R"(": {"events": [{"op": "run", "ms": 0}]}},)";
    return std::string(kHead) + templates + R"( "events": [{"op": "template", "name": "t0"}]})";
}

} // namespace

// Templates that use templates multiply: seven levels of 100 uses would be 10^14 events. The
// compiler stops at the limit of 1,000,000 compiled events with one error.
TEST_CASE("parameters: nested templates stop at the limit of compiled events",
          "[workloads][parameters][hostile]") {
    const auto errors = errors_of(nested_templates(7));
    REQUIRE(errors.size() >= 1);
    size_t limit = 0;
    for (const auto& e : errors)
        limit += e.find("expected at most 1000000 events") != std::string::npos;
    CHECK(limit == 1);
}

// One level deeper, every one of the 10^16 paths ends in the nesting error: the compiler stops
// after 1000 errors and says so.
TEST_CASE("parameters: a repeated error stops the compiler after 1000 errors",
          "[workloads][parameters][hostile]") {
    const auto errors = errors_of(nested_templates(8));
    REQUIRE(errors.size() == 1001);
    CHECK(errors[0].find("nest deeper than 8") != std::string::npos);
    CHECK(errors[1000].find("stopped here after 1000 errors") != std::string::npos);
}
