// Walking a scenario's JSON while collecting every problem with its JSON path: the typed field
// readers shared by the parts of the scenario compiler.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "mmcore/gfp.h"
#include "workloads/scenario.h"

namespace mmemu {

using json = nlohmann::json;

// "the string \"x\"", "an object", ... for messages.
std::string type_name(const json& v);

// Collects diagnostics while walking the document.
class Checker {
public:
    std::vector<Diagnostic> errors;

    void error(const std::string& path, std::string msg) {
        errors.push_back({path, std::move(msg)});
    }

    // Reports members of `obj` not in `known`.
    void only(const json& obj, const std::string& path, std::initializer_list<const char*> known) {
        for (auto it = obj.begin(); it != obj.end(); ++it) {
            bool ok = false;
            for (const char* k : known) ok |= it.key() == k;
            if (!ok) {
                std::string list;
                for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
                error(path + "/" + it.key(), "unknown field (expected one of: " + list + ")");
            }
        }
    }

    std::optional<int64_t> integer(const json& obj, const std::string& path, const char* key,
                                   int64_t lo, int64_t hi, std::optional<int64_t> dflt) {
        if (!obj.contains(key)) {
            if (!dflt) error(path + "/" + key, "required field is missing (expected an integer)");
            return dflt;
        }
        const json& v = obj[key];
        if (!v.is_number_integer()) {
            error(path + "/" + key, "expected an integer from " + std::to_string(lo) + " to " +
                                        std::to_string(hi) + ", got " + type_name(v));
            return std::nullopt;
        }
        int64_t x;
        if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
            x = INT64_MAX;
        else
            x = v.get<int64_t>();
        if (x < lo || x > hi) {
            error(path + "/" + key, "expected an integer from " + std::to_string(lo) + " to " +
                                        std::to_string(hi) + ", got " + v.dump());
            return std::nullopt;
        }
        return x;
    }

    std::optional<std::string> string(const json& obj, const std::string& path, const char* key,
                                      std::optional<std::string> dflt) {
        if (!obj.contains(key)) {
            if (!dflt) error(path + "/" + key, "required field is missing (expected a string)");
            return dflt;
        }
        const json& v = obj[key];
        if (!v.is_string()) {
            error(path + "/" + key, "expected a string, got " + type_name(v));
            return std::nullopt;
        }
        return v.get<std::string>();
    }

    std::optional<bool> boolean(const json& obj, const std::string& path, const char* key,
                                bool dflt) {
        if (!obj.contains(key)) return dflt;
        const json& v = obj[key];
        if (!v.is_boolean()) {
            error(path + "/" + key, "expected true or false, got " + type_name(v));
            return std::nullopt;
        }
        return v.get<bool>();
    }

    // A 64-bit number: a non-negative integer, or a string in hex ("0x1000") or decimal.
    std::optional<uint64_t> u64(const json& obj, const std::string& path, const char* key,
                                std::optional<uint64_t> dflt) {
        if (!obj.contains(key)) {
            if (!dflt)
                error(path + "/" + key,
                      "required field is missing (expected a number such as \"0x1000\")");
            return dflt;
        }
        auto v = number(obj[key]);
        if (!v)
            error(path + "/" + key,
                  "expected a non-negative integer or a string such as \"0x1000\", got " +
                      type_name(obj[key]));
        return v;
    }
    static std::optional<uint64_t> number(const json& v) {
        if (v.is_number_unsigned()) return v.get<uint64_t>();
        if (v.is_number_integer()) {
            if (v.get<int64_t>() < 0) return std::nullopt;
            return uint64_t(v.get<int64_t>());
        }
        if (!v.is_string()) return std::nullopt;
        const std::string t = v.get<std::string>();
        if (t.empty()) return std::nullopt;
        size_t used = 0;
        try {
            const uint64_t x = std::stoull(t, &used, 0);
            if (used != t.size()) return std::nullopt;
            return x;
        } catch (...) {
            return std::nullopt;
        }
    }

    // A size: integer bytes or a string with a unit.
    std::optional<uint64_t> size(const json& obj, const std::string& path, const char* key,
                                 std::optional<uint64_t> dflt) {
        if (!obj.contains(key)) {
            if (!dflt)
                error(path + "/" + key,
                      "required field is missing (expected a size such as \"1GiB\")");
            return dflt;
        }
        const json& v = obj[key];
        if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0))
            return v.get<uint64_t>();
        if (!v.is_string()) {
            error(path + "/" + key,
                  "expected a size such as \"1GiB\" or a number of bytes, got " + type_name(v));
            return std::nullopt;
        }
        std::string err;
        auto s = parse_size(v.get<std::string>(), err);
        if (!s) error(path + "/" + key, "expected " + err);
        return s;
    }

    std::optional<gfp_t> gfp(const json& obj, const std::string& path, const char* key,
                             const char* dflt) {
        std::string text;
        const std::string p = path + "/" + key;
        if (!obj.contains(key)) {
            text = dflt;
        } else if (obj[key].is_string()) {
            text = obj[key].get<std::string>();
        } else if (obj[key].is_array()) {
            for (const auto& e : obj[key]) {
                if (!e.is_string()) {
                    error(p, "expected GFP flag names, got " + type_name(e));
                    return std::nullopt;
                }
                text += (text.empty() ? "" : "|") + e.get<std::string>();
            }
        } else {
            error(p, "expected GFP flags such as \"GFP_KERNEL | __GFP_ZERO\", got " +
                         type_name(obj[key]));
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
};

} // namespace mmemu
