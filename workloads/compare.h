// `mmemu compare`: two statistics documents (docs/statistics-format.md) compared value by value,
// for regression checks in CI. Every leaf (a number, string, flag or null) is named by its path,
// the keys and array indices from the top joined by dots ("final.buddyinfo.0.free.3"; a key's
// own '.', '*' or '\' is escaped with '\'). Values must be equal unless a tolerance covers the
// path; `host` and `manifest` are skipped unless asked for. Patterns name paths with '*' for any
// one component and '**' for any number of them, and cover everything below what they name.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mmemu {

struct Tolerance {
    std::string pattern;
    enum class Kind { rel, abs } kind = Kind::rel;
    double amount = 0; // rel: a fraction of |base|; abs: an absolute difference
    std::string text;  // as given after '=' ("rel:0.05")
};

// "PATH=rel:0.05" or "PATH=abs:N"; false with `error` set.
bool parse_tolerance(const std::string& spec, Tolerance& out, std::string& error);
// A pattern is non-empty dot-separated components; false with `error` set.
bool check_pattern(const std::string& pattern, std::string& error);
// True when `pattern` names `path` or a value that contains it.
bool pattern_covers(const std::string& pattern, const std::string& path);

struct CompareOptions {
    std::vector<Tolerance> tolerances; // the first that covers a path applies
    std::vector<std::string> ignores;
    bool with_manifest = false; // compare the manifest too
};

struct Difference {
    std::string path;
    std::optional<nlohmann::ordered_json> base, now; // nullopt: absent on that side
    std::string allowed;                             // "exact", or the tolerance ("rel:0.05")
};

struct CompareReport {
    uint64_t compared = 0;         // leaves compared (in either document, not ignored)
    uint64_t within_tolerance = 0; // numbers that differ but within a tolerance
    std::vector<Difference> differences;
    std::vector<std::string> notes; // what was skipped and why it may matter
    bool ok() const { return differences.empty(); }
};

// Checks both are statistics documents of one format version; an error message otherwise.
std::optional<std::string> check_comparable(const nlohmann::ordered_json& base,
                                            const nlohmann::ordered_json& now);

CompareReport compare_statistics(const nlohmann::ordered_json& base,
                                 const nlohmann::ordered_json& now, const CompareOptions& opt);

// The report as a table (metric, base, new, change, allowed) or as JSON.
std::string report_text(const CompareReport& r);
nlohmann::ordered_json report_json(const CompareReport& r);

} // namespace mmemu
