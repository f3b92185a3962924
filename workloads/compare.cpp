#include "workloads/compare.h"

#include "workloads/stat_path.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace mmemu {

using json = nlohmann::ordered_json;

namespace {

uint64_t count_leaves(const json& v) {
    if (v.is_object() || v.is_array()) {
        uint64_t n = 0;
        for (const auto& x : v) n += count_leaves(x);
        return n;
    }
    return 1;
}

struct Walker {
    const CompareOptions& opt;
    std::vector<PathPattern> ignores;
    std::vector<std::pair<PathPattern, const Tolerance*>> tolerances;
    CompareReport report;
    std::vector<std::string> path;

    bool ignored() const {
        if (path.size() == 1 &&
            (path[0] == "host" || (!opt.with_manifest && path[0] == "manifest")))
            return true;
        for (const auto& p : ignores)
            if (p.covers(path)) return true;
        return false;
    }
    const Tolerance* tolerance() const {
        for (const auto& [p, t] : tolerances)
            if (p.covers(path)) return t;
        return nullptr;
    }
    void differ(std::optional<json> b, std::optional<json> n, std::string allowed = "exact") {
        report.differences.push_back(
            {join_path(path), std::move(b), std::move(n), std::move(allowed)});
    }
    void walk(const json& b, const json& n) {
        if (ignored()) return;
        if (b.is_object() && n.is_object()) {
            for (auto it = b.begin(); it != b.end(); ++it) {
                path.push_back(it.key());
                if (n.contains(it.key()))
                    walk(*it, n[it.key()]);
                else
                    one_side(&*it, nullptr);
                path.pop_back();
            }
            for (auto it = n.begin(); it != n.end(); ++it) {
                if (b.contains(it.key())) continue;
                path.push_back(it.key());
                one_side(nullptr, &*it);
                path.pop_back();
            }
            return;
        }
        if (b.is_array() && n.is_array()) {
            const size_t common = std::min(b.size(), n.size());
            for (size_t i = 0; i < std::max(b.size(), n.size()); ++i) {
                path.push_back(std::to_string(i));
                if (i < common)
                    walk(b[i], n[i]);
                else
                    one_side(i < b.size() ? &b[i] : nullptr, i < n.size() ? &n[i] : nullptr);
                path.pop_back();
            }
            return;
        }
        const bool structured = b.is_structured() || n.is_structured();
        report.compared += structured ? std::max(count_leaves(b), count_leaves(n)) : 1;
        if (b.is_number() && n.is_number()) {
            if (b == n) return;
            const Tolerance* t = tolerance();
            if (t) {
                const double db = b.get<double>(), dn = n.get<double>();
                const double diff = std::fabs(dn - db);
                const double allowed =
                    t->kind == Tolerance::Kind::rel ? t->amount * std::fabs(db) : t->amount;
                if (diff <= allowed) {
                    ++report.within_tolerance;
                    return;
                }
                differ(b, n, t->text);
                return;
            }
            differ(b, n);
            return;
        }
        if (b != n) differ(b, n);
    }
    // A value present on one side only.
    void one_side(const json* b, const json* n) {
        if (ignored()) return;
        report.compared += count_leaves(b ? *b : *n);
        differ(b ? std::optional<json>(*b) : std::nullopt,
               n ? std::optional<json>(*n) : std::nullopt);
    }
};

// A value as the table shows it: numbers and strings as they are, structures compactly (cut).
std::string cell(const std::optional<json>& v) {
    if (!v) return "(absent)";
    std::string s = v->is_string() ? v->get<std::string>() : v->dump();
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return s;
}

std::string format_number(double d) {
    char buf[64];
    if (std::fabs(d) < 1e15 && d == std::floor(d))
        std::snprintf(buf, sizeof buf, "%+.0f", d);
    else
        std::snprintf(buf, sizeof buf, "%+.6g", d);
    return buf;
}

std::string change(const Difference& d) {
    if (!d.base) return "added";
    if (!d.now) return "removed";
    if (d.base->is_number() && d.now->is_number()) {
        const double b = d.base->get<double>(), n = d.now->get<double>();
        std::string s = format_number(n - b);
        if (b != 0) {
            char buf[64];
            std::snprintf(buf, sizeof buf, " (%+.2f%%)", (n - b) / std::fabs(b) * 100);
            s += buf;
        }
        return s;
    }
    if (d.base->type() != d.now->type()) return "type changed";
    return "changed";
}

} // namespace

bool check_pattern(const std::string& pattern, std::string& error) {
    return PathPattern::parse(pattern, error).has_value();
}

bool pattern_covers(const std::string& pattern, const std::string& path) {
    std::string error;
    const auto pat = PathPattern::parse(pattern, error);
    const auto p = PathPattern::parse(path, error);
    if (!pat || !p) return false;
    // The path's components, unescaped: parse it as a pattern of plain keys.
    std::vector<std::string> comps;
    std::string cur;
    for (size_t i = 0; i < path.size(); ++i) {
        if (path[i] == '\\' && i + 1 < path.size())
            cur.push_back(path[++i]);
        else if (path[i] == '.')
            comps.push_back(std::move(cur)), cur.clear();
        else
            cur.push_back(path[i]);
    }
    comps.push_back(cur);
    return pat->covers(comps);
}

bool parse_tolerance(const std::string& spec, Tolerance& out, std::string& error) {
    const size_t eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0) {
        error = "expected PATH=rel:FRACTION or PATH=abs:AMOUNT (for example "
                "final.meminfo.MemFree=rel:0.05), got \"" +
                spec + "\"";
        return false;
    }
    out.pattern = spec.substr(0, eq);
    out.text = spec.substr(eq + 1);
    if (!check_pattern(out.pattern, error)) return false;
    const std::string kind = out.text.substr(0, 4);
    if (kind != "rel:" && kind != "abs:") {
        error = "\"" + out.text + "\": expected rel:FRACTION (0.05 allows 5%) or abs:AMOUNT";
        return false;
    }
    out.kind = kind == "rel:" ? Tolerance::Kind::rel : Tolerance::Kind::abs;
    const std::string num = out.text.substr(4);
    // Plain decimal only: no sign, no hex, no inf or nan.
    const bool digits = !num.empty() &&
                        num.find_first_not_of("0123456789.eE+-") == std::string::npos &&
                        std::isdigit(static_cast<unsigned char>(num[0]));
    size_t used = 0;
    double v = 0;
    if (digits) {
        try {
            v = std::stod(num, &used);
        } catch (const std::exception&) {
            used = 0;
        }
    }
    if (!digits || used != num.size() || !std::isfinite(v) || v < 0) {
        error = "\"" + out.text + "\": expected a non-negative decimal number after " + kind;
        return false;
    }
    out.amount = v;
    return true;
}

std::optional<std::string> check_comparable(const json& base, const json& now) {
    for (const json* d : {&base, &now}) {
        const char* which = d == &base ? "the base" : "the new";
        if (!d->is_object() || !d->contains("mmemu_stats"))
            return std::string(which) +
                   " file is not mmemu statistics (no top-level \"mmemu_stats\" version)";
        const json& v = (*d)["mmemu_stats"];
        if (!v.is_number_integer() || v.get<int64_t>() < 0)
            return std::string(which) + " file's \"mmemu_stats\" is not a format version number";
    }
    if (base["mmemu_stats"] != now["mmemu_stats"])
        return "the files have different statistics format versions (" +
               base["mmemu_stats"].dump() + " and " + now["mmemu_stats"].dump() +
               "); compare runs of one format";
    return std::nullopt;
}

CompareReport compare_statistics(const json& base, const json& now, const CompareOptions& opt) {
    Walker w{opt, {}, {}, {}, {}};
    std::string error;
    for (const auto& i : opt.ignores)
        if (auto p = PathPattern::parse(i, error)) w.ignores.push_back(std::move(*p));
    for (const auto& t : opt.tolerances)
        if (auto p = PathPattern::parse(t.pattern, error))
            w.tolerances.emplace_back(std::move(*p), &t);
    w.walk(base, now);
    if (!opt.with_manifest && base.contains("manifest") && now.contains("manifest")) {
        const json &a = base["manifest"], &b = now["manifest"];
        const auto field = [](const json& m, const char* k) {
            return m.is_object() && m.contains(k) ? m[k].dump() : std::string("(absent)");
        };
        if (field(a, "mmemu_version") != field(b, "mmemu_version"))
            w.report.notes.push_back("the runs come from different mmemu versions (" +
                                     field(a, "mmemu_version") + " and " +
                                     field(b, "mmemu_version") + ")");
        if (field(a, "scenario_sha256") != field(b, "scenario_sha256"))
            w.report.notes.push_back("the runs' scenario files differ (their SHA-256 differ)");
        if (field(a, "seed") != field(b, "seed") || field(a, "overrides") != field(b, "overrides"))
            w.report.notes.push_back("the runs' seeds or --set overrides differ (" +
                                     field(a, "seed") + " " + field(a, "overrides") + " and " +
                                     field(b, "seed") + " " + field(b, "overrides") + ")");
    }
    return std::move(w.report);
}

std::string report_text(const CompareReport& r) {
    std::ostringstream o;
    const std::string counts = std::to_string(r.compared) + " values compared, " +
                               std::to_string(r.within_tolerance) + " within a tolerance";
    if (r.ok())
        o << "no differences (" << counts << ")\n";
    else
        o << r.differences.size() << " difference" << (r.differences.size() == 1 ? "" : "s")
          << " beyond what is allowed (" << counts << ")\n";
    for (const auto& n : r.notes) o << "note: " << n << "\n";
    if (r.ok()) return o.str();
    std::vector<std::array<std::string, 5>> rows = {{"metric", "base", "new", "change", "allowed"}};
    for (const auto& d : r.differences)
        rows.push_back({d.path, cell(d.base), cell(d.now), change(d), d.allowed});
    std::array<size_t, 5> width{};
    for (const auto& row : rows)
        for (size_t i = 0; i < 5; ++i) width[i] = std::max(width[i], row[i].size());
    for (const auto& row : rows) {
        std::string line;
        for (size_t i = 0; i < 5; ++i) {
            line += row[i];
            if (i + 1 < 5) line += std::string(width[i] - row[i].size() + 2, ' ');
        }
        o << "\n" + line;
    }
    o << "\n";
    return o.str();
}

nlohmann::ordered_json report_json(const CompareReport& r) {
    nlohmann::ordered_json o;
    o["ok"] = r.ok();
    o["compared"] = r.compared;
    o["within_tolerance"] = r.within_tolerance;
    o["notes"] = r.notes;
    o["differences"] = nlohmann::ordered_json::array();
    for (const auto& d : r.differences) {
        nlohmann::ordered_json row;
        row["path"] = d.path;
        if (d.base) row["base"] = *d.base;
        if (d.now) row["new"] = *d.now;
        row["change"] = change(d);
        row["allowed"] = d.allowed;
        o["differences"].push_back(std::move(row));
    }
    return o;
}

} // namespace mmemu
