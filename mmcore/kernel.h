// The emulated kernel's memory manager for one Machine: memblock, mem_map, zones and the buddy
// allocator, zone tuning, the slab allocator, and the page-fault handler the CPUs deliver to.
// Constructing a Kernel builds the objects only; the boot steps below fill them, and
// System::start_kernel() (system/system.h) runs them in start_kernel()'s order. Owns all of its
// state; many Kernels can live side by side.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "emulator/machine.h"
#include "mmcore/address_spaces.h"
#include "mmcore/fault_handler.h"
#include "mmcore/kernel_config.h"
#include "mmcore/mem_map.h"
#include "mmcore/memblock.h"
#include "mmcore/mm_init.h"
#include "mmcore/page_alloc.h"
#include "mmcore/slab.h"
#include "mmcore/watermark.h"

namespace mmemu {

// PAGE_OFFSET: where the kernel's direct map of physical memory starts (x86_64 without KASLR:
// 0xffff888000000000; 32-bit: the VMSPLIT boundary).
uint64_t kernel_page_offset(Arch a, const KernelConfig& cfg);

class Kernel {
public:
    Kernel(Machine& m, const KernelConfig& cfg);
    Kernel(const Kernel&) = delete;
    Kernel& operator=(const Kernel&) = delete;

    // ---- Boot, the memory-management steps of start_kernel() (init/main.c, Linux 6.1) ------
    // Each step that can fail returns "" or why Linux could not boot on this machine (where it
    // would panic).
    // setup_arch(): memblock from the e820 table, the boot reservations (first MiB, kernel
    // image, mem_map placed per node) and the zone limits (zone_sizes_init()).
    std::string setup_arch();
    // free_area_init() (from paging_init()): nodes, zones, ZONE_MOVABLE, the state of mem_map;
    // every zone on the boot pageset.
    void free_area_init();
    // build_all_zonelists()
    void build_all_zonelists();
    // mm_core_init(): mem_init() releases all free memory to the buddy allocator
    // (memblock_free_all()), then kmem_cache_init() and kmem_cache_init_late() bring up SLAB.
    std::string mm_core_init();
    // setup_per_cpu_pageset(): the populated zones leave the boot pageset.
    void setup_per_cpu_pageset();
    // init_per_zone_wmark_min() (a core initcall): min_free_kbytes (the vm.min_free_kbytes
    // sysctl when the scenario sets one, as if applied by sysctl.conf), the watermarks,
    // lowmem_reserve and every pageset's high and batch; then mmemu's own pcp switch.
    void init_per_zone_wmark_min();
    // fork_init() + proc_caches_init() (and maple_tree_init()): the process side's caches, the
    // zero page and the kernel's page tables (AddressSpaces::init()).
    std::string proc_caches_init();
    bool booted() const { return booted_; }

    Machine& machine;
    const KernelConfig config;
    BootLayout layout;
    Memblock memblock;
    MemMap mem_map;
    PageAllocator buddy;
    ZoneTuning tuning;
    SlabAllocator slab;
    // mm_structs, VMAs, user page tables and the fault path.
    AddressSpaces spaces;
    // arch/x86/mm/fault.c: the handler System installs on every CPU.
    X86FaultHandler faults;

    // Re-run init_per_zone_wmark_min() after a sysctl change.
    void retune(const KernelConfig& cfg);
    // The "nothing lost" invariant: every frame below max_pfn is reserved, free in exactly one
    // buddy or pcp list, a slab page, or one of `held` (blocks of 2^order pages starting at a
    // pfn that a caller owns). Returns "" or the first violation.
    std::string audit(const std::vector<std::pair<uint64_t, unsigned>>& held) const;
    uint64_t page_offset() const { return page_offset_; }

private:
    uint64_t page_offset_;
    bool booted_ = false;
};

} // namespace mmemu
