// Walking a scenario's JSON while collecting every problem with its JSON path: the typed field
// readers the scenario compiler and the op families share.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "mmcore/gfp.h"
#include "workloads/json_pointer.h"

namespace mmemu {

using json = nlohmann::json;

// One problem: where (a JSON Pointer, "" for the document) and what was expected.
struct Diagnostic {
    std::string path;
    std::string message;
    unsigned line = 0, column = 0; // where in the file (0: not in the file, e.g. a --set value)
};

// The events stop being compiled after this many errors (templates that use templates could
// otherwise repeat one error without bound); the last says so.
inline constexpr size_t MAX_DIAGNOSTICS = 1000;

// "the string \"x\"", "an object", ... for messages.
std::string type_name(const json& v);

// Sizes: an integer number of bytes, or a string with a unit: B, KiB, MiB, GiB, TiB (binary),
// K, M, G, T (binary, as the kernel command line), kB, MB, GB, TB (decimal).
std::optional<uint64_t> parse_size(const std::string& text, std::string& error);

// Collects diagnostics while walking the document.
// The candidate closest to a misspelt `got` ("ordr" -> "order"), or "" when none is close:
// within an edit distance (insertions, deletions, substitutions, swaps of neighbours; case
// ignored) of 1 for names up to 4 letters, 2 up to 8, 3 beyond.
std::string did_you_mean(const std::string& got, const std::vector<std::string>& candidates);
// ", did you mean \"x\"?" or "".
std::string did_you_mean_hint(const std::string& got, const std::vector<std::string>& candidates);

class Checker {
public:
    std::vector<Diagnostic> errors;

    void error(const std::string& path, std::string msg) {
        errors.push_back({path, std::move(msg)});
    }

    // Reports members of `obj` not in `known`.
    void only(const json& obj, const std::string& path, std::initializer_list<const char*> known);
    void only(const json& obj, const std::string& path, const std::vector<const char*>& known);

    std::optional<int64_t> integer(const json& obj, const std::string& path, const char* key,
                                   int64_t lo, int64_t hi, std::optional<int64_t> dflt);
    std::optional<std::string> string(const json& obj, const std::string& path, const char* key,
                                      std::optional<std::string> dflt);
    std::optional<bool> boolean(const json& obj, const std::string& path, const char* key,
                                bool dflt);
    // A 64-bit number: a non-negative integer, or a string in hex ("0x1000") or decimal.
    std::optional<uint64_t> u64(const json& obj, const std::string& path, const char* key,
                                std::optional<uint64_t> dflt);
    static std::optional<uint64_t> number(const json& v);
    // A size: integer bytes or a string with a unit.
    std::optional<uint64_t> size(const json& obj, const std::string& path, const char* key,
                                 std::optional<uint64_t> dflt);
    std::optional<gfp_t> gfp(const json& obj, const std::string& path, const char* key,
                             const char* dflt);
};

} // namespace mmemu
