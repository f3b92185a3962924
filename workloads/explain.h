// mmemu explain: a translation step by step (seed 003's worked example of 0x08048568 is the
// model): the index into each level, each entry read and its decoded bits, the physical address,
// the memory references, and the permission decision with the rule that made it.
#pragma once

#include <string>

#include "emulator/paging.h"

namespace mmemu {

// Explains `req` on the tables in `ram` reached from `regs` (the walk sets A/D bits as the
// hardware would). Returns the text.
std::string explain_translation(const CpuRegs& regs, const PdpteRegs& pdptes, PhysicalMemory& ram,
                                const AccessRequest& req);

// Builds demonstration tables in `ram` that map `la` with a 4 KiB user page (P, R/W, U/S) to
// frame 0x200000, sets `regs` (and `pdptes`) for `mode`, and returns a line saying so.
std::string build_demo_tables(PagingMode mode, uint64_t la, PhysicalMemory& ram, CpuRegs& regs,
                              PdpteRegs& pdptes);

} // namespace mmemu
