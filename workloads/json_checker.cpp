#include "workloads/json_checker.h"

#include <cctype>
#include <map>

namespace mmemu {

std::string type_name(const json& v) {
    switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "the string " + v.dump();
    case json::value_t::boolean: return v.dump();
    case json::value_t::number_float: return "the number " + v.dump();
    default: return "the number " + v.dump();
    }
}

std::optional<uint64_t> parse_size(const std::string& text, std::string& error) {
    size_t i = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) i++;
    if (i == 0) {
        error = "a size such as \"4GiB\", \"512MiB\" or a number of bytes, got \"" + text + "\"";
        return std::nullopt;
    }
    if (i > 19) {
        error = "a size that fits in 64 bits, got \"" + text + "\"";
        return std::nullopt;
    }
    const uint64_t n = std::stoull(text.substr(0, i));
    std::string unit = text.substr(i);
    while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
    static const std::map<std::string, uint64_t> units = {
        {"", 1},
        {"B", 1},
        {"KiB", uint64_t{1} << 10},
        {"MiB", uint64_t{1} << 20},
        {"GiB", uint64_t{1} << 30},
        {"TiB", uint64_t{1} << 40},
        {"K", uint64_t{1} << 10},
        {"M", uint64_t{1} << 20},
        {"G", uint64_t{1} << 30},
        {"T", uint64_t{1} << 40},
        {"kB", 1000},
        {"MB", 1000 * 1000},
        {"GB", 1000ull * 1000 * 1000},
        {"TB", 1000ull * 1000 * 1000 * 1000},
    };
    auto it = units.find(unit);
    if (it == units.end()) {
        error =
            "a size unit (B, KiB, MiB, GiB, TiB, K, M, G, T, kB, MB, GB, TB), got \"" + unit + "\"";
        return std::nullopt;
    }
    if (n && it->second > UINT64_MAX / n) {
        error = "a size that fits in 64 bits, got \"" + text + "\"";
        return std::nullopt;
    }
    return n * it->second;
}

namespace {

// The optimal-string-alignment distance (Levenshtein plus the swap of two neighbours), case
// ignored; stops early past `limit`, returning limit + 1.
size_t edit_distance(const std::string& a, const std::string& b, size_t limit) {
    const size_t n = a.size(), m = b.size();
    if ((n > m ? n - m : m - n) > limit) return limit + 1;
    const auto lower = [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    };
    std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
    for (size_t j = 0; j <= m; ++j) prev[j] = j;
    for (size_t i = 1; i <= n; ++i) {
        cur[0] = i;
        size_t row_min = cur[0];
        for (size_t j = 1; j <= m; ++j) {
            const bool same = lower(a[i - 1]) == lower(b[j - 1]);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]))
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
            row_min = std::min(row_min, cur[j]);
        }
        if (row_min > limit) return limit + 1;
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[m];
}

template <class List>
void report_unknown(Checker& ck, const json& obj, const std::string& path, const List& known) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        bool ok = false;
        for (const char* k : known) ok |= it.key() == k;
        if (ok) continue;
        std::string list;
        std::vector<std::string> names;
        for (const char* k : known) {
            list += std::string(list.empty() ? "" : ", ") + k;
            names.emplace_back(k);
        }
        ck.error(json_pointer_append(path, it.key()), "unknown field" +
                                                          did_you_mean_hint(it.key(), names) +
                                                          " (expected one of: " + list + ")");
    }
}
} // namespace

std::string did_you_mean(const std::string& got, const std::vector<std::string>& candidates) {
    // Names longer than this are not guesses worth making (and bound the work).
    if (got.empty() || got.size() > 64) return "";
    const size_t limit = got.size() <= 4 ? 1 : got.size() <= 8 ? 2 : 3;
    std::string best;
    size_t best_d = limit + 1;
    for (const auto& c : candidates) {
        const size_t d = edit_distance(got, c, limit);
        if (d < best_d) best_d = d, best = c;
    }
    return best_d <= limit ? best : "";
}

std::string did_you_mean_hint(const std::string& got, const std::vector<std::string>& candidates) {
    const std::string best = did_you_mean(got, candidates);
    return best.empty() ? "" : ", did you mean \"" + best + "\"?";
}

void Checker::only(const json& obj, const std::string& path,
                   std::initializer_list<const char*> known) {
    report_unknown(*this, obj, path, known);
}

void Checker::only(const json& obj, const std::string& path,
                   const std::vector<const char*>& known) {
    report_unknown(*this, obj, path, known);
}

std::optional<int64_t> Checker::integer(const json& obj, const std::string& path, const char* key,
                                        int64_t lo, int64_t hi, std::optional<int64_t> dflt) {
    const std::string p = json_pointer_append(path, key);
    if (!obj.contains(key)) {
        if (!dflt) error(p, "required field is missing (expected an integer)");
        return dflt;
    }
    const json& v = obj[key];
    if (!v.is_number_integer()) {
        error(p, "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", got " + type_name(v));
        return std::nullopt;
    }
    int64_t x;
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
        x = INT64_MAX;
    else
        x = v.get<int64_t>();
    if (x < lo || x > hi) {
        error(p, "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", got " + v.dump());
        return std::nullopt;
    }
    return x;
}

std::optional<std::string> Checker::string(const json& obj, const std::string& path,
                                           const char* key, std::optional<std::string> dflt) {
    const std::string p = json_pointer_append(path, key);
    if (!obj.contains(key)) {
        if (!dflt) error(p, "required field is missing (expected a string)");
        return dflt;
    }
    const json& v = obj[key];
    if (!v.is_string()) {
        error(p, "expected a string, got " + type_name(v));
        return std::nullopt;
    }
    return v.get<std::string>();
}

std::optional<bool> Checker::boolean(const json& obj, const std::string& path, const char* key,
                                     bool dflt) {
    if (!obj.contains(key)) return dflt;
    const json& v = obj[key];
    if (!v.is_boolean()) {
        error(json_pointer_append(path, key), "expected true or false, got " + type_name(v));
        return std::nullopt;
    }
    return v.get<bool>();
}

std::optional<uint64_t> Checker::u64(const json& obj, const std::string& path, const char* key,
                                     std::optional<uint64_t> dflt) {
    const std::string p = json_pointer_append(path, key);
    if (!obj.contains(key)) {
        if (!dflt) error(p, "required field is missing (expected a number such as \"0x1000\")");
        return dflt;
    }
    auto v = number(obj[key]);
    if (!v)
        error(p, "expected a non-negative integer or a string such as \"0x1000\", got " +
                     type_name(obj[key]));
    return v;
}

std::optional<uint64_t> Checker::number(const json& v) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer()) {
        if (v.get<int64_t>() < 0) return std::nullopt;
        return uint64_t(v.get<int64_t>());
    }
    if (!v.is_string()) return std::nullopt;
    const std::string t = v.get<std::string>();
    // Decimal digits, or 0x and hex digits; nothing else (no sign, no octal, no spaces).
    const bool hex = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
    const size_t start = hex ? 2 : 0;
    if (t.size() == start || t.size() - start > (hex ? 16u : 20u)) return std::nullopt;
    uint64_t x = 0;
    for (size_t i = start; i < t.size(); i++) {
        const char c = t[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = unsigned(c - '0');
        else if (hex && c >= 'a' && c <= 'f')
            d = unsigned(c - 'a' + 10);
        else if (hex && c >= 'A' && c <= 'F')
            d = unsigned(c - 'A' + 10);
        else
            return std::nullopt;
        const unsigned base = hex ? 16 : 10;
        if (x > (UINT64_MAX - d) / base) return std::nullopt; // beyond 64 bits
        x = x * base + d;
    }
    return x;
}

std::optional<uint64_t> Checker::size(const json& obj, const std::string& path, const char* key,
                                      std::optional<uint64_t> dflt) {
    const std::string p = json_pointer_append(path, key);
    if (!obj.contains(key)) {
        if (!dflt) error(p, "required field is missing (expected a size such as \"1GiB\")");
        return dflt;
    }
    const json& v = obj[key];
    if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0))
        return v.get<uint64_t>();
    if (!v.is_string()) {
        error(p, "expected a size such as \"1GiB\" or a number of bytes, got " + type_name(v));
        return std::nullopt;
    }
    std::string err;
    auto s = parse_size(v.get<std::string>(), err);
    if (!s) error(p, "expected " + err);
    return s;
}

std::optional<gfp_t> Checker::gfp(const json& obj, const std::string& path, const char* key,
                                  const char* dflt) {
    std::string text;
    const std::string p = json_pointer_append(path, key);
    if (!obj.contains(key)) {
        text = dflt;
    } else if (obj[key].is_string()) {
        text = obj[key].get<std::string>();
    } else if (obj[key].is_array()) {
        const json& list = obj[key];
        for (size_t i = 0; i < list.size(); i++) {
            if (!list[i].is_string()) {
                error(p + "/" + std::to_string(i),
                      "expected GFP flag names, got " + type_name(list[i]));
                return std::nullopt;
            }
            text += (text.empty() ? "" : "|") + list[i].get<std::string>();
        }
    } else {
        error(p,
              "expected GFP flags such as \"GFP_KERNEL | __GFP_ZERO\", got " + type_name(obj[key]));
        return std::nullopt;
    }
    std::string err;
    auto g = parse_gfp(text, err);
    if (!g) {
        error(p, "expected GFP flags (GFP_KERNEL, GFP_USER, GFP_HIGHUSER_MOVABLE, GFP_DMA, "
                 "GFP_DMA32, GFP_ATOMIC, __GFP_ZERO, __GFP_HIGH, __GFP_MOVABLE, "
                 "__GFP_RECLAIMABLE, ...): " +
                     err);
        return std::nullopt;
    }
    if (std::string prob = gfp_problem(*g); !prob.empty()) {
        error(p, "invalid GFP combination: " + prob);
        return std::nullopt;
    }
    return g;
}

} // namespace mmemu
