// The parts of the scenario compiler (scenario.cpp dispatches to them).
#pragma once

#include <functional>
#include <set>
#include <string>

#include "workloads/json_checker.h"

namespace mmemu {

// Kernel events: alloc_pages, kmalloc, kmem_cache_*, ... (kernel_events.cpp).
void parse_kernel_events(Checker& ck, const json& events, Scenario& sc);
// Bare-machine events: registers, physical memory, accesses with expectations (bare_events.cpp).
void parse_bare_events(Checker& ck, const json& events, Scenario& sc);
// The loop both modes share: `events` must be an array of objects with an "op"; `checkpoint` is
// handled here; every other op goes to `one(event, json_path, op_name, op)`, which returns false
// for an op it does not know (reported as an unknown `what`, expecting `expected`). An op with no
// errors is appended to sc.ops.
using EventParser =
    std::function<bool(const json& e, const std::string& p, const std::string& o, Op& op)>;
void parse_event_list(Checker& ck, const json& events, Scenario& sc, const char* what,
                      const char* expected, const EventParser& one);
// The checkpoint event, the same in both modes: {"op": "checkpoint", "name": unique name}.
void parse_checkpoint(Checker& ck, const json& e, const std::string& p, Scenario& sc,
                      std::set<std::string>& seen, Op& op);

} // namespace mmemu
