// The statistics as people read them: indented JSON in which each /proc-style row stays on one
// line. A row is an object inside an array whose members are all numbers, strings, flags, null
// or arrays of those (a buddyinfo row, a slabinfo row, a CPU's pageset); an array of scalars
// (the free counts of each order) is one line too. Everything else is indented one member per
// line, as nlohmann's dump(2) would. The text is valid JSON, equal to the compact form once
// parsed.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace mmemu {

std::string dump_rows(const nlohmann::ordered_json& v, int indent = 2);

} // namespace mmemu
