// Paths into a statistics document, as `mmemu compare`, the time series and their docs write
// them: the keys and array indices from the top joined by dots ("final.buddyinfo.1.nr_free.3";
// a key's own '.', '*' or '\' is escaped with '\'). A pattern names paths with '*' for any one
// component and '**' for any number of them, and covers everything below what it names.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mmemu {

class PathPattern {
public:
    // A pattern is non-empty dot-separated components; nullopt with `error` set.
    static std::optional<PathPattern> parse(const std::string& text, std::string& error);
    // True when the pattern names `path` (its components) or a value that contains it.
    bool covers(const std::vector<std::string>& path) const;
    // True when the pattern could cover something below `prefix` (a walk may skip what not).
    bool may_cover_below(const std::vector<std::string>& prefix) const;
    // The first component when it is a plain key, else "".
    const std::string& first_key() const;
    const std::string& text() const { return text_; }

private:
    struct Component {
        enum class Kind { key, one, any } kind;
        std::string key;
    };
    std::vector<Component> comps_;
    std::string text_;
};

// The components joined by dots, each key's own '.', '*' and '\' escaped.
std::string join_path(const std::vector<std::string>& path);

} // namespace mmemu
