// JSON Pointers (RFC 6901) as the scenario compiler writes them in its messages.
#pragma once

#include <string>

namespace mmemu {

// `base` + "/" + `key`, with "~" and "/" in the key escaped as "~0" and "~1".
inline std::string json_pointer_append(const std::string& base, const std::string& key) {
    std::string out = base;
    out += '/';
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

} // namespace mmemu
