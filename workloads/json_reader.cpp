#include "workloads/json_reader.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "workloads/json_pointer.h"

namespace mmemu {

namespace {

// A UTF-8 sequence starting at byte `at` of `text`: its length, or 0 if it is not valid.
size_t utf8_sequence_length(std::string_view text, size_t at) {
    const unsigned char c = static_cast<unsigned char>(text[at]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (at + n > text.size()) return 0;
    for (size_t i = 1; i < n; i++) {
        const unsigned char cc = static_cast<unsigned char>(text[at + i]);
        if ((cc & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (cc & 0x3f);
    }
    // Overlong forms, surrogates and code points above U+10FFFF are not UTF-8.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

} // namespace

bool valid_utf8(std::string_view text) {
    for (size_t at = 0; at < text.size();) {
        const size_t n = utf8_sequence_length(text, at);
        if (!n) return false;
        at += n;
    }
    return true;
}

TextPos JsonDocument::position_of(const std::string& pointer) const {
    std::string p = pointer;
    while (true) {
        auto it = positions.find(p);
        if (it != positions.end()) return it->second;
        if (p.empty()) return {};
        const size_t slash = p.rfind('/');
        p = slash == std::string::npos ? std::string() : p.substr(0, slash);
    }
}

namespace {

class Reader {
public:
    explicit Reader(std::string_view t) : text_(t) {}

    JsonReadResult run() {
        JsonReadResult r;
        skip_ws();
        if (!value(r.doc.value, "", 0, r.doc)) {
            r.error_pos = err_pos_;
            r.error = err_;
            return r;
        }
        skip_ws();
        if (at_ < text_.size()) {
            fail("the end of the document after the top-level value, got more text");
            r.error_pos = err_pos_;
            r.error = err_;
            return r;
        }
        r.ok = true;
        return r;
    }

private:
    std::string_view text_;
    size_t at_ = 0;
    unsigned line_ = 1, col_ = 1;
    TextPos err_pos_;
    std::string err_;

    TextPos pos() const { return {line_, col_}; }
    bool fail(std::string what) {
        if (err_.empty()) {
            err_pos_ = pos();
            err_ = std::move(what);
        }
        return false;
    }
    int peek() const { return at_ < text_.size() ? static_cast<unsigned char>(text_[at_]) : -1; }
    void advance() {
        if (text_[at_] == '\n') {
            line_++;
            col_ = 1;
        } else if ((static_cast<unsigned char>(text_[at_]) & 0xc0) != 0x80) {
            col_++; // columns count characters, not UTF-8 continuation bytes
        }
        at_++;
    }
    void skip_ws() {
        while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' ||
                                      text_[at_] == '\n' || text_[at_] == '\r'))
            advance();
    }
    std::string describe_here() const {
        if (at_ >= text_.size()) return "the end of the text";
        const unsigned char c = static_cast<unsigned char>(text_[at_]);
        if (c < 0x20 || c >= 0x7f) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
            return buf;
        }
        return std::string("'") + char(c) + "'";
    }

    bool value(json& out, const std::string& ptr, unsigned depth, JsonDocument& doc) {
        doc.positions[ptr] = pos();
        switch (peek()) {
        case '{': return object(out, ptr, depth, doc);
        case '[': return array(out, ptr, depth, doc);
        case '"': {
            std::string s;
            if (!string(s)) return false;
            out = std::move(s);
            return true;
        }
        case 't': return literal("true", out, json(true));
        case 'f': return literal("false", out, json(false));
        case 'n': return literal("null", out, json(nullptr));
        default:
            if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number(out);
            return fail("a value (object, array, string, number, true, false or null), got " +
                        describe_here());
        }
    }

    bool literal(const char* word, json& out, json v) {
        const std::string_view w(word);
        if (text_.substr(at_, w.size()) != w)
            return fail(std::string("a value, got ") + describe_here());
        for (size_t i = 0; i < w.size(); i++) advance();
        out = std::move(v);
        return true;
    }

    bool object(json& out, const std::string& ptr, unsigned depth, JsonDocument& doc) {
        if (depth >= MAX_JSON_DEPTH)
            return fail("at most " + std::to_string(MAX_JSON_DEPTH) + " levels of nesting");
        advance(); // {
        out = json::object();
        std::unordered_map<std::string, TextPos> seen;
        skip_ws();
        if (peek() == '}') {
            advance();
            return true;
        }
        while (true) {
            skip_ws();
            if (peek() != '"')
                return fail("a member name in double quotes, got " + describe_here());
            const TextPos key_pos = pos();
            std::string key;
            if (!string(key)) return false;
            if (auto it = seen.find(key); it != seen.end()) {
                err_pos_ = key_pos;
                err_ = "each key once per object, but \"" + key +
                       "\" appears again (first at line " + std::to_string(it->second.line) +
                       ", column " + std::to_string(it->second.column) + ")";
                return false;
            }
            seen.emplace(key, key_pos);
            skip_ws();
            if (peek() != ':') return fail("':' after the member name, got " + describe_here());
            advance();
            skip_ws();
            json v;
            if (!value(v, json_pointer_append(ptr, key), depth + 1, doc)) return false;
            out[key] = std::move(v);
            skip_ws();
            if (peek() == ',') {
                advance();
                continue;
            }
            if (peek() == '}') {
                advance();
                return true;
            }
            return fail("',' or '}' in an object, got " + describe_here());
        }
    }

    bool array(json& out, const std::string& ptr, unsigned depth, JsonDocument& doc) {
        if (depth >= MAX_JSON_DEPTH)
            return fail("at most " + std::to_string(MAX_JSON_DEPTH) + " levels of nesting");
        advance(); // [
        out = json::array();
        skip_ws();
        if (peek() == ']') {
            advance();
            return true;
        }
        while (true) {
            skip_ws();
            json v;
            if (!value(v, ptr + "/" + std::to_string(out.size()), depth + 1, doc)) return false;
            out.push_back(std::move(v));
            skip_ws();
            if (peek() == ',') {
                advance();
                continue;
            }
            if (peek() == ']') {
                advance();
                return true;
            }
            return fail("',' or ']' in an array, got " + describe_here());
        }
    }

    static void append_utf8(std::string& s, uint32_t cp) {
        if (cp < 0x80) {
            s += char(cp);
        } else if (cp < 0x800) {
            s += char(0xc0 | (cp >> 6));
            s += char(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            s += char(0xe0 | (cp >> 12));
            s += char(0x80 | ((cp >> 6) & 0x3f));
            s += char(0x80 | (cp & 0x3f));
        } else {
            s += char(0xf0 | (cp >> 18));
            s += char(0x80 | ((cp >> 12) & 0x3f));
            s += char(0x80 | ((cp >> 6) & 0x3f));
            s += char(0x80 | (cp & 0x3f));
        }
    }

    bool hex4(uint32_t& v) {
        v = 0;
        for (int i = 0; i < 4; i++) {
            const int c = peek();
            uint32_t d;
            if (c >= '0' && c <= '9')
                d = uint32_t(c - '0');
            else if (c >= 'a' && c <= 'f')
                d = uint32_t(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                d = uint32_t(c - 'A' + 10);
            else
                return fail("four hex digits after \\u, got " + describe_here());
            v = v * 16 + d;
            advance();
        }
        return true;
    }

    // A UTF-8 sequence starting at the current byte: its length, or 0 if it is not valid.
    size_t utf8_length() const { return utf8_sequence_length(text_, at_); }

    bool string(std::string& out) {
        advance(); // "
        while (true) {
            if (at_ >= text_.size()) return fail("a closing '\"' before the end of the text");
            const unsigned char c = static_cast<unsigned char>(text_[at_]);
            if (c == '"') {
                advance();
                return true;
            }
            if (c < 0x20)
                return fail("no control characters inside a string, got " + describe_here());
            if (c == '\\') {
                advance();
                const int e = peek();
                switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    advance();
                    uint32_t cp;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xd800 && cp <= 0xdbff) {
                        // A high surrogate must be followed by \uDC00..\uDFFF.
                        if (peek() != '\\')
                            return fail("a low surrogate after \\u" + std::to_string(cp));
                        advance();
                        if (peek() != 'u') return fail("a low surrogate \\uDC00-\\uDFFF");
                        advance();
                        uint32_t lo;
                        if (!hex4(lo)) return false;
                        if (lo < 0xdc00 || lo > 0xdfff)
                            return fail("a low surrogate \\uDC00-\\uDFFF after a high one");
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                        return fail("no lone low surrogate \\u" + std::to_string(cp));
                    }
                    append_utf8(out, cp);
                    continue;
                }
                default:
                    return fail("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX), got " +
                                describe_here());
                }
                advance();
                continue;
            }
            const size_t n = utf8_length();
            if (!n) return fail("UTF-8 text, got " + describe_here());
            out.append(text_.substr(at_, n));
            for (size_t i = 0; i < n; i++) advance();
        }
    }

    bool number(json& out) {
        const size_t start = at_;
        const TextPos start_pos = pos();
        bool neg = false, frac = false;
        if (peek() == '-') {
            neg = true;
            advance();
        }
        if (peek() == '0') {
            advance();
        } else if (peek() >= '1' && peek() <= '9') {
            while (peek() >= '0' && peek() <= '9') advance();
        } else {
            return fail("a digit, got " + describe_here());
        }
        if (peek() == '.') {
            frac = true;
            advance();
            if (!(peek() >= '0' && peek() <= '9'))
                return fail("a digit after the decimal point, got " + describe_here());
            while (peek() >= '0' && peek() <= '9') advance();
        }
        if (peek() == 'e' || peek() == 'E') {
            frac = true;
            advance();
            if (peek() == '+' || peek() == '-') advance();
            if (!(peek() >= '0' && peek() <= '9'))
                return fail("a digit in the exponent, got " + describe_here());
            while (peek() >= '0' && peek() <= '9') advance();
        }
        const std::string lit(text_.substr(start, at_ - start));
        if (!frac) {
            errno = 0;
            char* end = nullptr;
            if (neg) {
                const long long v = std::strtoll(lit.c_str(), &end, 10);
                if (errno != ERANGE) {
                    out = int64_t(v);
                    return true;
                }
            } else {
                const unsigned long long v = std::strtoull(lit.c_str(), &end, 10);
                if (errno != ERANGE) {
                    out = uint64_t(v);
                    return true;
                }
            }
            // An integer beyond 64 bits: kept as a double (a field expecting an integer says
            // so), as long as a double can hold it.
        }
        errno = 0;
        const double d = std::strtod(lit.c_str(), nullptr);
        if (errno == ERANGE && std::isinf(d)) {
            err_pos_ = start_pos;
            err_ = "a number a double can hold, got " + lit;
            return false;
        }
        out = d;
        return true;
    }
};

} // namespace

JsonReadResult read_json(std::string_view text) {
    return Reader(text).run();
}

} // namespace mmemu
