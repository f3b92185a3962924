// What each fuzz target does with one input, shared by the libFuzzer programs (fuzz_*.cpp) and
// the test that replays every input kept in tests/fuzz/ (tests/workloads/test_fuzz_inputs.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "workloads/compare.h"
#include "workloads/json_reader.h"
#include "workloads/json_rows.h"
#include "workloads/scenario.h"
#include "workloads/show.h"

namespace mmemu::fuzz {

// The scenario reader, the validator and the op compilers (all `mmemu validate` runs), and the
// same bytes as a --set value.
inline void scenario_input(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    CompileResult r = compile_scenario("fuzz.json", text);
    for (const auto& d : r.errors) (void)format_diagnostic("fuzz.json", d);
    if (size < 4096)
        (void)compile_scenario(
            "fuzz.json", R"({"mmemu_scenario": 1, "machine": {"memory": "64MiB"}, "events": []})",
            {"machine.cpus=" + text, "name=" + text});
}

// What compare and show do with a statistics file (the strict reader, the format check, the
// comparison against a fixed document and itself, the /proc layouts, the row printer), and the
// first line as a --tolerance and an --ignore.
inline void statistics_input(const uint8_t* data, size_t size) {
    using ojson = nlohmann::ordered_json;
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::string line = text.substr(0, text.find('\n'));
    Tolerance t;
    std::string error;
    CompareOptions opt;
    if (parse_tolerance(line, t, error)) opt.tolerances.push_back(t);
    if (check_pattern(line, error)) opt.ignores.push_back(line);
    (void)pattern_covers(line, "final.buddyinfo.0.nr_free.3");

    if (!read_json(text).ok) return;
    const ojson doc = ojson::parse(text);
    static const ojson base = ojson::parse(
        R"({"mmemu_stats": 1, "manifest": {"mmemu_version": "0"}, "final": {"meminfo":
            {"MemFree": 1}, "buddyinfo": [{"node": 0, "zone": "DMA", "nr_free": [1, 2]}]},
            "host": {}})");
    if (!check_comparable(base, doc)) {
        const CompareReport a = compare_statistics(base, doc, opt);
        (void)report_text(a);
        (void)report_json(a).dump();
        (void)compare_statistics(doc, doc, opt);
        (void)show_sections(doc, {}, "", error);
        (void)show_sections(doc, {}, "x", error);
    }
    (void)dump_rows(doc);
}

} // namespace mmemu::fuzz
