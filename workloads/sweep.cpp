#include "workloads/sweep.h"

#include <cstdio>

#include "workloads/json_reader.h"
#include "workloads/stat_path.h"

namespace mmemu {

using json = nlohmann::json;

std::optional<SweepGrid> parse_sweep_grid(const std::string& text, const std::string& dir,
                                          std::vector<Diagnostic>& errors) {
    JsonReadResult read = read_json(text);
    if (!read.ok) {
        errors.push_back({"", "malformed JSON: expected " + read.error, read.error_pos.line,
                          read.error_pos.column});
        return std::nullopt;
    }
    const json& doc = read.doc.value;
    Checker ck;
    SweepGrid g;
    if (!doc.is_object()) {
        ck.error("", "expected an object with mmemu_sweep, scenario and parameters, got " +
                         type_name(doc));
    } else {
        ck.only(doc, "", {"$schema", "mmemu_sweep", "scenario", "parameters", "seeds", "summary"});
        if (auto v = ck.integer(doc, "", "mmemu_sweep", 1, 1, std::nullopt)) (void)v;
        if (auto s = ck.string(doc, "", "scenario", std::nullopt)) {
            if (s->empty())
                ck.error("/scenario", "expected the path of a scenario file");
            else
                g.scenario = (*s)[0] == '/' || dir.empty() ? *s : dir + "/" + *s;
        }
        size_t points = 1;
        if (!doc.contains("parameters") || !doc["parameters"].is_object()) {
            ck.error("/parameters", "expected an object of field paths and their values, such as "
                                    "{\"machine.cpus\": [1, 2]}");
        } else {
            const json& ps = doc["parameters"];
            if (ps.size() > MAX_SWEEP_PARAMETERS)
                ck.error("/parameters", "expected at most " + std::to_string(MAX_SWEEP_PARAMETERS) +
                                            " parameters");
            for (auto it = ps.begin(); it != ps.end(); ++it) {
                const std::string p = json_pointer_append("/parameters", it.key());
                if (it.key().empty() || it.key().find('=') != std::string::npos) {
                    ck.error(p, "expected a field path such as machine.cpus (no '=')");
                    continue;
                }
                if (!it->is_array() || it->empty()) {
                    ck.error(p, "expected a non-empty array of values, got " + type_name(*it));
                    continue;
                }
                points = points > MAX_SWEEP_POINTS ? points : points * it->size();
                std::vector<json> values(it->begin(), it->end());
                g.parameters.emplace_back(it.key(), std::move(values));
            }
        }
        if (doc.contains("seeds")) {
            const json& s = doc["seeds"];
            if (!s.is_array() || s.empty()) {
                ck.error("/seeds", "expected a non-empty array of seeds, got " + type_name(s));
            } else {
                for (size_t i = 0; i < s.size(); ++i) {
                    if (!s[i].is_number_unsigned())
                        ck.error("/seeds/" + std::to_string(i),
                                 "expected a non-negative integer below 2^64, got " +
                                     type_name(s[i]));
                    else
                        g.seeds.push_back(s[i].get<uint64_t>());
                }
                points = points > MAX_SWEEP_POINTS ? points : points * s.size();
            }
        }
        if (points > MAX_SWEEP_POINTS)
            ck.error("/parameters",
                     "the grid has more than " + std::to_string(MAX_SWEEP_POINTS) + " points");
        if (doc.contains("summary")) {
            const json& s = doc["summary"];
            if (!s.is_array()) {
                ck.error("/summary", "expected an array of statistics paths, got " + type_name(s));
            } else {
                for (size_t i = 0; i < s.size(); ++i) {
                    const std::string p = "/summary/" + std::to_string(i);
                    std::string error;
                    if (!s[i].is_string())
                        ck.error(p,
                                 "expected a statistics path such as final.meminfo.MemFree, got " +
                                     type_name(s[i]));
                    else if (!PathPattern::parse(s[i].get<std::string>(), error))
                        ck.error(p, error);
                    else
                        g.summary.push_back(s[i].get<std::string>());
                }
            }
        }
    }
    errors = std::move(ck.errors);
    for (auto& d : errors) {
        const TextPos at = read.doc.position_of(d.path);
        d.line = at.line;
        d.column = at.column;
    }
    if (!errors.empty()) return std::nullopt;
    return g;
}

std::vector<SweepPoint> sweep_points(const SweepGrid& g) {
    std::vector<SweepPoint> out;
    std::vector<size_t> at(g.parameters.size(), 0);
    const size_t nseeds = g.seeds.empty() ? 1 : g.seeds.size();
    while (true) {
        for (size_t s = 0; s < nseeds; ++s) {
            SweepPoint p;
            p.index = out.size();
            for (size_t i = 0; i < g.parameters.size(); ++i) {
                const json& v = g.parameters[i].second[at[i]];
                p.values.push_back(v);
                p.sets.push_back(g.parameters[i].first + "=" + v.dump());
            }
            if (!g.seeds.empty()) p.seed = g.seeds[s];
            out.push_back(std::move(p));
        }
        // The last parameter varies fastest (like nested loops in the file's order).
        size_t i = g.parameters.size();
        while (i > 0) {
            --i;
            if (++at[i] < g.parameters[i].second.size()) break;
            at[i] = 0;
            if (i == 0) return out;
        }
        if (g.parameters.empty()) return out;
    }
}

std::string sweep_point_file(size_t index, size_t total) {
    const int width = total <= 10000 ? 4 : 6;
    char buf[32];
    std::snprintf(buf, sizeof buf, "points/%0*zu.json", width, index);
    return buf;
}

std::vector<std::string> sweep_run_args(const SweepGrid& g, const SweepPoint& p,
                                        const std::string& stats_path) {
    std::vector<std::string> args = {"run", g.scenario};
    for (const auto& s : p.sets) args.insert(args.end(), {"--set", s});
    if (p.seed) args.insert(args.end(), {"--seed", std::to_string(*p.seed)});
    args.insert(args.end(), {"--sections", "-host", "--quiet", "-o", stats_path});
    return args;
}

std::string shell_command(const std::string& program, const std::vector<std::string>& args) {
    const auto quote = [](const std::string& a) {
        std::string q = "'";
        for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    };
    std::string s = quote(program);
    for (const auto& a : args) {
        s += ' ';
        s += quote(a);
    }
    return s;
}

namespace {

std::string csv_field(const std::string& v) {
    if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
    std::string q = "\"";
    for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

// The value at a dot path (array indices as numbers), or nullptr.
const nlohmann::ordered_json* at_path(const nlohmann::ordered_json& doc, const std::string& path) {
    const nlohmann::ordered_json* v = &doc;
    std::string cur;
    const auto step = [&](const std::string& key) -> bool {
        if (v->is_object()) {
            const auto it = v->find(key);
            if (it == v->end()) return false;
            v = &*it;
            return true;
        }
        if (v->is_array()) {
            if (key.empty() || key.size() > 9 ||
                key.find_first_not_of("0123456789") != std::string::npos)
                return false;
            const size_t i = std::stoul(key);
            if (i >= v->size()) return false;
            v = &(*v)[i];
            return true;
        }
        return false;
    };
    for (size_t i = 0; i < path.size(); ++i) {
        if (path[i] == '\\' && i + 1 < path.size()) {
            cur.push_back(path[++i]);
        } else if (path[i] == '.') {
            if (!step(cur)) return nullptr;
            cur.clear();
        } else {
            cur.push_back(path[i]);
        }
    }
    return step(cur) ? v : nullptr;
}

} // namespace

std::string sweep_summary_csv(const SweepGrid& g, const std::vector<SweepPoint>& points,
                              const std::vector<nlohmann::ordered_json>& stats,
                              const std::vector<int>& exit_codes) {
    // (Fields are appended one by one: GCC 12 warns falsely on "," + std::string.)
    std::string out = "point";
    const auto field = [&out](const std::string& f) {
        out += ',';
        out += csv_field(f);
    };
    for (const auto& p : g.parameters) field(p.first);
    field("seed");
    field("exit");
    for (const auto& s : g.summary) field(s);
    out += '\n';
    for (size_t i = 0; i < points.size(); ++i) {
        out += std::to_string(i);
        for (const json& v : points[i].values)
            field(v.is_string() ? v.get<std::string>() : v.dump());
        field(points[i].seed ? std::to_string(*points[i].seed) : std::string());
        field(i < exit_codes.size() && exit_codes[i] >= 0 ? std::to_string(exit_codes[i])
                                                          : std::string());
        for (const auto& s : g.summary) {
            const nlohmann::ordered_json* v =
                i < stats.size() && !stats[i].is_null() ? at_path(stats[i], s) : nullptr;
            field(v && !v->is_structured() ? (v->is_string() ? v->get<std::string>() : v->dump())
                                           : std::string());
        }
        out += '\n';
    }
    return out;
}

} // namespace mmemu
