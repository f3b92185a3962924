#include "workloads/json_rows.h"

namespace mmemu {

namespace {

using ojson = nlohmann::ordered_json;

bool scalar(const ojson& v) {
    return !v.is_structured();
}

bool scalar_array(const ojson& v) {
    if (!v.is_array()) return false;
    for (const auto& x : v)
        if (!scalar(x)) return false;
    return true;
}

bool flat_row(const ojson& v) {
    if (!v.is_object() || v.empty()) return false;
    for (const auto& x : v)
        if (!scalar(x) && !scalar_array(x)) return false;
    return true;
}

// One line, with a space after each ',' and ':' (as a person writes it).
void inline_dump(const ojson& v, std::string& out) {
    if (v.is_object()) {
        out += '{';
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ", ";
            first = false;
            out += ojson(it.key()).dump();
            out += ": ";
            inline_dump(*it, out);
        }
        out += '}';
    } else if (v.is_array()) {
        out += '[';
        for (size_t i = 0; i < v.size(); ++i) {
            if (i) out += ", ";
            inline_dump(v[i], out);
        }
        out += ']';
    } else {
        out += v.dump();
    }
}

void dump(const ojson& v, int indent, int depth, bool in_array, std::string& out) {
    if (scalar(v) || scalar_array(v) || (in_array && flat_row(v)) || v.empty()) {
        inline_dump(v, out);
        return;
    }
    const std::string pad(size_t(indent) * size_t(depth + 1), ' ');
    const std::string close(size_t(indent) * size_t(depth), ' ');
    if (v.is_object()) {
        out += "{\n";
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ",\n";
            first = false;
            out += pad;
            out += ojson(it.key()).dump();
            out += ": ";
            dump(*it, indent, depth + 1, false, out);
        }
        out += "\n" + close + "}";
    } else {
        out += "[\n";
        for (size_t i = 0; i < v.size(); ++i) {
            if (i) out += ",\n";
            out += pad;
            dump(v[i], indent, depth + 1, true, out);
        }
        out += "\n" + close + "]";
    }
}

} // namespace

std::string dump_rows(const ojson& v, int indent) {
    std::string out;
    dump(v, indent, 0, false, out);
    return out;
}

} // namespace mmemu
