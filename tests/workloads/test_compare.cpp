// `mmemu compare`'s rules, on small documents written by hand: paths and patterns, tolerances
// and their edges, what is skipped, and the format-version check.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "workloads/compare.h"

using namespace mmemu;
using json = nlohmann::ordered_json;

TEST_CASE("compare: a pattern covers the paths it names and what is below them", "[compare]") {
    CHECK(pattern_covers("final.meminfo", "final.meminfo.MemFree"));
    CHECK(pattern_covers("final.meminfo.MemFree", "final.meminfo.MemFree"));
    CHECK_FALSE(pattern_covers("final.meminfo.MemFree", "final.meminfo"));
    CHECK_FALSE(pattern_covers("final.meminfo", "final.vmstat.nr_free_pages"));
    CHECK(pattern_covers("final.processes.*.Pss", "final.processes.3.Pss"));
    CHECK_FALSE(pattern_covers("final.processes.*.Pss", "final.processes.Pss"));
    CHECK_FALSE(pattern_covers("final.processes.*.Pss", "final.processes.3.Rss"));
    CHECK(pattern_covers("**.Pss", "final.processes.0.smaps_rollup.Pss"));
    CHECK(pattern_covers("**", "anything.at.all"));
    CHECK(pattern_covers("final.**.nr_free", "final.nr_free")); // ** may be no component
    CHECK(pattern_covers("final.**.nr_free", "final.buddyinfo.1.nr_free.3"));
    CHECK_FALSE(pattern_covers("final.**.nr_free", "checkpoints.0.buddyinfo.1.nr_free"));
    // A key's own dot is escaped, so it is one component.
    CHECK(pattern_covers("procs.web\\.1.rss", "procs.web\\.1.rss"));
    CHECK_FALSE(pattern_covers("procs.web.1.rss", "procs.web\\.1.rss"));
    std::string error;
    CHECK_FALSE(check_pattern("a..b", error));
    CHECK_FALSE(check_pattern("a.b*", error)); // '*' is a whole component or escaped
    CHECK_FALSE(check_pattern("", error));
    CHECK_FALSE(check_pattern("a\\", error));
    CHECK(check_pattern("a.\\*b", error));
}

TEST_CASE("compare: tolerance specs", "[compare]") {
    Tolerance t;
    std::string error;
    REQUIRE(parse_tolerance("final.meminfo=rel:0.05", t, error));
    CHECK(t.pattern == "final.meminfo");
    CHECK(t.kind == Tolerance::Kind::rel);
    CHECK(t.amount == 0.05);
    REQUIRE(parse_tolerance("a.b=abs:12", t, error));
    CHECK(t.kind == Tolerance::Kind::abs);
    CHECK(t.amount == 12);
    for (const char* bad :
         {"final.meminfo", "=rel:1", "a=rel:", "a=rel:-1", "a=rel:nan", "a=rel:inf", "a=rel:1e999",
          "a=rel:0x10", "a=foo:1", "a..b=abs:1", "a=abs:1x", "a=rel:.5"}) {
        INFO(bad);
        CHECK_FALSE(parse_tolerance(bad, t, error));
        CHECK_FALSE(error.empty());
    }
}

namespace {

json base_doc() {
    return json::parse(R"({
        "mmemu_stats": 1,
        "manifest": {"mmemu_version": "0.1.0", "scenario_sha256": "aa", "seed": 0, "overrides": []},
        "a": {"x": 100, "y": "s", "z": 0},
        "b": [1, 2],
        "host": {"hostname": "one", "wall_seconds": 1.5}
    })");
}

} // namespace

TEST_CASE("compare: equal documents, and the host and manifest skipped", "[compare]") {
    json now = base_doc();
    now["host"]["hostname"] = "two";
    now["host"]["wall_seconds"] = 9.0;
    now["manifest"]["mmemu_version"] = "0.2.0";
    const CompareReport r = compare_statistics(base_doc(), now, {});
    CHECK(r.ok());
    CHECK(r.compared == 6); // mmemu_stats, a.x, a.y, a.z, b.0, b.1
    REQUIRE(r.notes.size() == 1);
    CHECK(r.notes[0].find("different mmemu versions") != std::string::npos);
    // Asked for, the manifest is compared.
    CompareOptions opt;
    opt.with_manifest = true;
    const CompareReport m = compare_statistics(base_doc(), now, opt);
    REQUIRE(m.differences.size() == 1);
    CHECK(m.differences[0].path == "manifest.mmemu_version");
}

TEST_CASE("compare: differences, tolerances and values on one side", "[compare]") {
    json now = base_doc();
    now["a"]["x"] = 105; // 5% of 100: within rel:0.05, not within rel:0.04
    now["a"]["y"] = "t";
    now["a"]["z"] = 1; // rel of a zero base allows nothing
    now["b"].push_back(3);
    CompareOptions opt;
    Tolerance t;
    std::string error;
    REQUIRE(parse_tolerance("a=rel:0.05", t, error));
    opt.tolerances.push_back(t);
    CompareReport r = compare_statistics(base_doc(), now, opt);
    CHECK(r.compared == 7);
    CHECK(r.within_tolerance == 1);
    REQUIRE(r.differences.size() == 3);
    CHECK(r.differences[0].path == "a.y");
    CHECK(r.differences[0].allowed == "exact"); // a tolerance applies to numbers only
    CHECK(r.differences[1].path == "a.z");
    CHECK(r.differences[1].allowed == "rel:0.05");
    CHECK(r.differences[2].path == "b.2");
    CHECK_FALSE(r.differences[2].base);
    CHECK(*r.differences[2].now == 3);

    opt.tolerances.clear();
    REQUIRE(parse_tolerance("a.x=rel:0.04", t, error));
    opt.tolerances.push_back(t);
    REQUIRE(parse_tolerance("a.z=abs:1", t, error));
    opt.tolerances.push_back(t);
    opt.ignores = {"b", "a.y"};
    r = compare_statistics(base_doc(), now, opt);
    REQUIRE(r.differences.size() == 1);
    CHECK(r.differences[0].path == "a.x");
    CHECK(r.within_tolerance == 1); // a.z: |1 - 0| <= 1

    // The table: a row per difference with base, new, change and what was allowed.
    const std::string text = report_text(r);
    CHECK(text.find("1 difference beyond what is allowed") != std::string::npos);
    CHECK(text.find("a.x") != std::string::npos);
    CHECK(text.find("+5 (+5.00%)") != std::string::npos);
    CHECK(text.find("rel:0.04") != std::string::npos);
    const auto j = report_json(r);
    CHECK(j["ok"] == false);
    CHECK(j["differences"][0]["base"] == 100);
    CHECK(j["differences"][0]["new"] == 105);
}

TEST_CASE("compare: a whole section missing is one row; a type change is a difference",
          "[compare]") {
    json now = base_doc();
    now.erase("a");
    now["b"] = json::object();
    const CompareReport r = compare_statistics(base_doc(), now, {});
    REQUIRE(r.differences.size() == 2);
    CHECK(r.differences[0].path == "a");
    CHECK_FALSE(r.differences[0].now);
    CHECK(r.differences[1].path == "b");
    CHECK(r.differences[1].now->is_object());
}

TEST_CASE("compare: only statistics of one format version", "[compare]") {
    json other = base_doc();
    other["mmemu_stats"] = 2;
    REQUIRE(check_comparable(base_doc(), other));
    CHECK(check_comparable(base_doc(), other)->find("different statistics format versions") !=
          std::string::npos);
    CHECK(check_comparable(json::object(), base_doc()));
    CHECK(check_comparable(json::array(), base_doc()));
    json text_version = base_doc();
    text_version["mmemu_stats"] = "1";
    CHECK(check_comparable(base_doc(), text_version));
    CHECK_FALSE(check_comparable(base_doc(), base_doc()));
}
