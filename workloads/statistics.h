// Statistics format v1 (docs/statistics-format.md). Every statistic is declared once, in a table
// per group: its name, unit, the /proc or /sys file it mirrors, a one-line meaning, and how its
// value is read. The JSON output, the field reference in the docs (mmemu help statistics) and
// the test that keeps the two equal all read those tables.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "mmcore/kernel_atomic.h"

namespace mmemu {

// A kernel counter is written out as its value (nlohmann finds this by argument-dependent lookup).
template <class BasicJson, class T> void to_json(BasicJson& j, const kernel_atomic<T>& v) {
    j = v.load();
}

inline constexpr int STATS_FORMAT_VERSION = 1;

using ojson = nlohmann::ordered_json;

class System;
struct Results;
struct Scenario;

enum class Unit : uint8_t {
    none,
    pages,
    kB,
    bytes,
    blocks, // free blocks
    objects,
    slabs,
    entries,
    count,
    cycles,
    pfn,
    event, // an index in the scenario's events array
    text,
    hex,   // a hex string ("0x1f")
    milli, // a text index as debugfs prints it ("0.250")
    flag,  // true or false
    seconds,
    ns, // nanoseconds of virtual time
};
const char* unit_name(Unit u);

// One statistic as the docs show it. `path` names where it appears: "state.meminfo.MemTotal";
// "[]" marks the rows of an array, "<name>" a key that varies (a zone, a TLB array).
struct StatDoc {
    std::string path;
    Unit unit;
    std::string mirrors; // the /proc or /sys file (or tracepoint) it mirrors; "" for mmemu's own
    std::string meaning;
};

// A group of statistics: one JSON object (or the rows of an array) and its declared fields.
struct StatGroupDoc {
    std::string path;
    std::string title;
    std::string about;
    std::vector<StatDoc> stats;
};

// How each statistic of a group is declared and emitted: `emit` writes its key (or keys, for
// a name with a <placeholder>) into the group's object.
template <class Row> struct Stat {
    const char* name;
    Unit unit;
    const char* mirrors;
    const char* meaning;
    void (*emit)(ojson& out, const Row& row);
};

// A simple statistic in a group's table: the key `name` holds `expr`, computed from the row `r`.
#define STAT(name, unit, mirrors, meaning, expr)                                                   \
    {                                                                                              \
        name, Unit::unit, mirrors, meaning, [](ojson& o, const auto& r) {                          \
            (void)r;                                                                               \
            o[name] = (expr);                                                                      \
        }                                                                                          \
    }

template <class Row> struct StatGroup {
    const char* path;
    const char* title;
    const char* about;
    std::vector<Stat<Row>> stats;
    ojson object(const Row& row) const {
        ojson o = ojson::object();
        for (const auto& s : stats) s.emit(o, row);
        return o;
    }
    // The rows of an array of this group: one object per element of `range`.
    template <class Range> ojson rows(const Range& range) const {
        ojson a = ojson::array();
        for (const auto& row : range) a.push_back(object(row));
        return a;
    }
    StatGroupDoc doc() const {
        StatGroupDoc d{path, title, about, {}};
        for (const auto& s : stats)
            d.stats.push_back({*path ? std::string(path) + "." + s.name : std::string(s.name),
                               s.unit, s.mirrors, s.meaning});
        return d;
    }
};

// The state of a system at a checkpoint or at the end: the kernel's /proc view, or a bare
// machine's per-CPU MMU statistics.
ojson state_json(const System& sys);
// Only the state's groups named in `groups` ("meminfo", "ksm", ...; those the machine has).
ojson state_json(const System& sys, const std::vector<std::string>& groups);
// Every group a state can have ("cpus" in bare machines, the others in kernel scenarios).
std::vector<std::string> state_group_names();

// What `mmemu run` adds about the host (not a function of the scenario).
struct HostInfo {
    std::string hostname;
    double wall_seconds = 0;
    uint64_t rss_bytes = 0;
};

// What the whole document is made from.
struct RunSummary {
    const Scenario& scenario;
    const System& system;
    const Results& results;
    const HostInfo* host = nullptr;    // none: no host block
    const ojson* timeseries = nullptr; // the time series section, if the scenario asked for one
};
// The statistics document.
ojson statistics_json(const RunSummary& run);

// Every group, in the order the document has them (the state groups of kernel scenarios, then
// those of bare machines, then the document, results and host).
std::vector<StatGroupDoc> state_reference();
std::vector<StatGroupDoc> statistics_reference();
// The reference as markdown (the generated part of docs/statistics-format.md).
std::string statistics_reference_markdown();

} // namespace mmemu
