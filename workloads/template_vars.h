// Parameters in scenarios: a repeat block's index variable ("as": "i") and a template's
// arguments are substituted into the strings of the events they cover before those are
// compiled. "${i}" alone in a string becomes the value itself (a number stays a number, so
// "cpu": "${i}" is an integer); inside a longer string it is written as text ("w${i}",
// "${i}MiB"). An integer variable takes one step of arithmetic: ${i+1}, ${i-1}, ${i*4},
// ${i/2}, ${i%2} (the C operators on 64-bit integers).
// docs/scenario-format.md, "Parameters".
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace mmemu {

// A variable's name: a letter or '_', then letters, digits or '_' (at most 32).
bool valid_var_name(const std::string& name);

// Substitutes `vars` into every string of `v` (not into object keys). A ${...} naming a
// variable not in `vars` is left as it is (an inner block may define it). False with `error`
// set on a malformed or overflowing expression.
bool substitute_vars(nlohmann::json& v, const std::map<std::string, nlohmann::json>& vars,
                     std::string& error);

} // namespace mmemu
