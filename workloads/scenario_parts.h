// The parts of the scenario compiler (scenario.cpp dispatches to them).
#pragma once

#include <set>
#include <string>

#include "workloads/json_checker.h"

namespace mmemu {

// Kernel events: alloc_pages, kmalloc, kmem_cache_*, ... (kernel_events.cpp).
void parse_kernel_events(Checker& ck, const json& events, Scenario& sc);
// Bare-machine events: registers, physical memory, accesses with expectations (bare_events.cpp).
void parse_bare_events(Checker& ck, const json& events, Scenario& sc);
// The checkpoint event, the same in both modes: {"op": "checkpoint", "name": unique name}.
void parse_checkpoint(Checker& ck, const json& e, const std::string& p, Scenario& sc,
                      std::set<std::string>& seen, Op& op);

} // namespace mmemu
