// `mmemu show`: sections of a statistics file printed in the kernel's own text formats, so they
// read (and diff) like the real files: /proc/meminfo, /proc/vmstat, /proc/buddyinfo,
// /proc/pagetypeinfo, /proc/zoneinfo, /proc/slabinfo, /proc/PID/status and
// /proc/PID/smaps_rollup of each live process, and /sys/kernel/mm/ksm as `grep . *` prints it.
// The layouts are those of Linux 6.18 (mm/vmstat.c, mm/slab_common.c, fs/proc/meminfo.c,
// fs/proc/task_mmu.c, fs/proc/array.c); lines for what mmemu does not model are left out.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mmemu {

// The sections `show` knows, in the order it prints them.
const std::vector<std::string>& show_section_names();

// The text of `sections` (all that the state has, when empty) of the state after the checkpoint
// named `checkpoint` ("" or "final": the final state). nullopt with `error` set when a section
// or the checkpoint is not in the file.
std::optional<std::string> show_sections(const nlohmann::ordered_json& stats,
                                         const std::vector<std::string>& sections,
                                         const std::string& checkpoint, std::string& error);

} // namespace mmemu
