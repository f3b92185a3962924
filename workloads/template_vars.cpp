#include "workloads/template_vars.h"

#include <cctype>
#include <cstdint>

namespace mmemu {

using json = nlohmann::json;

bool valid_var_name(const std::string& n) {
    if (n.empty() || n.size() > 32) return false;
    if (!std::isalpha(static_cast<unsigned char>(n[0])) && n[0] != '_') return false;
    for (char c : n)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    return true;
}

namespace {

// The value of one ${...} expression; `known` false when it names no variable of `vars`.
bool evaluate(const std::string& expr, const std::map<std::string, json>& vars, json& out,
              bool& known, std::string& error) {
    size_t op = expr.find_first_of("+-*/%");
    const std::string name = expr.substr(0, op);
    const auto it = vars.find(name);
    known = it != vars.end();
    if (!known) return true;
    if (op == std::string::npos) {
        out = it->second;
        return true;
    }
    if (!it->second.is_number_integer()) {
        error = "${" + expr + "}: arithmetic needs an integer, and " + name + " is " +
                it->second.dump();
        return false;
    }
    const std::string k = expr.substr(op + 1);
    if (k.empty() || k.size() > 18 || k.find_first_not_of("0123456789") != std::string::npos) {
        error = "${" + expr +
                "}: expected NAME, NAME+N, NAME-N, NAME*N, NAME/N or NAME%N with N "
                "a decimal number";
        return false;
    }
    const __int128 a = it->second.get<int64_t>(), b = std::stoll(k);
    if (b == 0 && (expr[op] == '/' || expr[op] == '%')) {
        error = "${" + expr + "}: division by zero";
        return false;
    }
    const char o = expr[op];
    const __int128 r = o == '+'   ? a + b
                       : o == '-' ? a - b
                       : o == '*' ? a * b
                       : o == '/' ? a / b
                                  : a % b;
    if (r < INT64_MIN || r > INT64_MAX) {
        error = "${" + expr + "}: the value does not fit in 64 bits";
        return false;
    }
    out = int64_t(r);
    return true;
}

bool substitute_string(json& v, const std::map<std::string, json>& vars, std::string& error) {
    const std::string s = v.get<std::string>();
    if (s.find("${") == std::string::npos) return true;
    std::string out;
    size_t at = 0;
    while (at < s.size()) {
        const size_t open = s.find("${", at);
        if (open == std::string::npos) {
            out += s.substr(at);
            break;
        }
        const size_t close = s.find('}', open + 2);
        if (close == std::string::npos) {
            error = "\"" + s + "\": a ${ without its }";
            return false;
        }
        out += s.substr(at, open - at);
        const std::string expr = s.substr(open + 2, close - open - 2);
        json val;
        bool known = false;
        if (!evaluate(expr, vars, val, known, error)) return false;
        if (!known) {
            out += s.substr(open, close + 1 - open);
        } else if (open == 0 && close + 1 == s.size()) {
            v = val; // the whole string: the value itself
            return true;
        } else {
            out += val.is_string() ? val.get<std::string>() : val.dump();
        }
        at = close + 1;
    }
    v = out;
    return true;
}

} // namespace

bool substitute_vars(json& v, const std::map<std::string, json>& vars, std::string& error) {
    if (v.is_string()) return substitute_string(v, vars, error);
    if (v.is_structured())
        for (auto& x : v)
            if (!substitute_vars(x, vars, error)) return false;
    return true;
}

} // namespace mmemu
