// The parts of the scenario compiler (scenario.cpp dispatches to them).
#pragma once

#include "workloads/json_checker.h"

namespace mmemu {

// Kernel events: alloc_pages, kmalloc, kmem_cache_*, ... (kernel_events.cpp).
void parse_kernel_events(Checker& ck, const json& events, Scenario& sc);
// Bare-machine events: registers, physical memory, accesses with expectations (bare_events.cpp).
void parse_bare_events(Checker& ck, const json& events, Scenario& sc);

} // namespace mmemu
