// A strict JSON reader (RFC 8259) for scenario files. It builds the nlohmann::json value the
// compiler reads, and besides what a general parser does it
//  - remembers where every value starts (line and column by JSON Pointer), so every error can
//    name its place in the file;
//  - rejects a key given twice in one object, naming both places;
//  - rejects numbers a double cannot hold (1e400) and nesting deeper than MAX_JSON_DEPTH,
//    instead of failing later or exhausting the stack.
// Errors are values; it throws nothing.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mmemu {

using json = nlohmann::json;

inline constexpr unsigned MAX_JSON_DEPTH = 64;

struct TextPos {
    unsigned line = 0; // 1-based; 0: unknown
    unsigned column = 0;
};

struct JsonDocument {
    json value;
    // Where the value at each JSON Pointer ("" is the document) starts.
    std::unordered_map<std::string, TextPos> positions;
    // The position of `pointer`, or of its nearest enclosing value that has one.
    TextPos position_of(const std::string& pointer) const;
};

struct JsonReadResult {
    JsonDocument doc;
    bool ok = false;
    TextPos error_pos; // where the text went wrong
    std::string error; // what was expected, in words
};

JsonReadResult read_json(std::string_view text);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF), as every JSON string must be (RFC 8259, section 8.1).
bool valid_utf8(std::string_view text);

} // namespace mmemu
