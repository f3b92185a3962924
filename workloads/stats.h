// Statistics format v1 (docs/statistics-format.md): the state of the emulated kernel as the
// /proc files a Linux user knows (meminfo, vmstat, buddyinfo, pagetypeinfo, zoneinfo, slabinfo)
// and the extfrag indices of debugfs, as JSON.
#pragma once

#include <nlohmann/json.hpp>

#include "mmcore/kernel.h"

namespace mmemu {

inline constexpr int STATS_FORMAT_VERSION = 1;

using ojson = nlohmann::ordered_json;

ojson snapshot_state(const Kernel& k);
// Per-CPU MMU state: registers, TLB and paging-structure-cache counters, walks, faults, cycles.
ojson cpu_stats(const Machine& m);
std::string hex_string(uint64_t v);
ojson boot_summary(const Kernel& k);

} // namespace mmemu
