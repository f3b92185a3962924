#include "workloads/stat_path.h"

#include <algorithm>

namespace mmemu {

std::optional<PathPattern> PathPattern::parse(const std::string& p, std::string& error) {
    PathPattern out;
    out.text_ = p;
    std::string cur;
    bool escaped_star = false; // the component has an escaped '*' (a literal, not a wildcard)
    const auto finish = [&]() {
        if (cur.empty()) {
            error = "\"" + p + "\" has an empty component (two dots, or a dot at an end)";
            return false;
        }
        if (!escaped_star && cur == "*")
            out.comps_.push_back({Component::Kind::one, ""});
        else if (!escaped_star && cur == "**")
            out.comps_.push_back({Component::Kind::any, ""});
        else if (!escaped_star && cur.find('*') != std::string::npos) {
            error = "\"" + p + "\": '*' stands for a whole component (write \\* for a key's own *)";
            return false;
        } else
            out.comps_.push_back({Component::Kind::key, cur});
        cur.clear();
        escaped_star = false;
        return true;
    };
    if (p.empty()) {
        error = "an empty path";
        return std::nullopt;
    }
    for (size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\') {
            if (i + 1 == p.size() || (p[i + 1] != '.' && p[i + 1] != '*' && p[i + 1] != '\\')) {
                error = "\"" + p + "\": '\\' escapes only '.', '*' and '\\'";
                return std::nullopt;
            }
            escaped_star |= p[i + 1] == '*';
            cur.push_back(p[++i]);
        } else if (c == '.') {
            if (!finish()) return std::nullopt;
        } else {
            cur.push_back(c);
        }
    }
    if (!finish()) return std::nullopt;
    return out;
}

bool PathPattern::covers(const std::vector<std::string>& path) const {
    // can[i][j]: components i.. of the pattern match path components j.. as a prefix. Filled
    // from the end, one row per pattern component: O(|pattern| * |path|).
    const size_t P = comps_.size(), C = path.size();
    std::vector<char> next(C + 1, 1), cur(C + 1, 0); // row P: the empty pattern covers anything
    for (size_t i = P; i-- > 0;) {
        for (size_t j = C + 1; j-- > 0;) {
            switch (comps_[i].kind) {
            case Component::Kind::any: cur[j] = next[j] || (j < C && cur[j + 1]); break;
            case Component::Kind::one: cur[j] = j < C && next[j + 1]; break;
            case Component::Kind::key:
                cur[j] = j < C && path[j] == comps_[i].key && next[j + 1];
                break;
            }
        }
        std::swap(cur, next);
    }
    return next[0];
}

bool PathPattern::may_cover_below(const std::vector<std::string>& prefix) const {
    // The prefix must match the pattern's first components (a '**' matches whatever follows).
    size_t i = 0;
    for (const auto& c : prefix) {
        if (i == comps_.size()) return true; // the pattern already covers the prefix
        const Component& p = comps_[i];
        if (p.kind == Component::Kind::any) return true;
        if (p.kind == Component::Kind::key && p.key != c) return false;
        ++i;
    }
    return true;
}

const std::string& PathPattern::first_key() const {
    static const std::string none;
    return !comps_.empty() && comps_[0].kind == Component::Kind::key ? comps_[0].key : none;
}

std::string join_path(const std::vector<std::string>& path) {
    std::string s;
    for (const auto& c : path) {
        if (!s.empty()) s.push_back('.');
        for (char ch : c) {
            if (ch == '.' || ch == '*' || ch == '\\') s.push_back('\\');
            s.push_back(ch);
        }
    }
    return s;
}

} // namespace mmemu
