#include "workloads/json_checker.h"

namespace mmemu {

std::string type_name(const json& v) {
    switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "the string " + v.dump();
    case json::value_t::boolean: return v.dump();
    case json::value_t::number_float: return "the number " + v.dump();
    default: return "the number " + v.dump();
    }
}

} // namespace mmemu
