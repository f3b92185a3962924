// Boot-time memory set-up (mm/mm_init.c, arch/x86/mm/init.c, mm/memblock.c): memblock from e820
// and the boot reservations, zone boundaries per arch, ZONE_MOVABLE from kernelcore= /
// movablecore=, spanned/present/managed pages, the initial state of mem_map, and the release
// of all free memory to the buddy allocator.
#pragma once

#include <cstdint>

#include "emulator/machine.h"
#include "mmcore/kernel_config.h"
#include "mmcore/memblock.h"
#include "mmcore/page_alloc.h"

namespace mmemu {

// What boot decided, for the statistics and for tests.
struct BootLayout {
    uint64_t max_pfn = 0;     // first pfn above RAM
    uint64_t max_low_pfn = 0; // end of the direct-mapped lowmem (== max_pfn on x86_64)
    uint64_t zone_max_pfn[MAX_NR_ZONES] = {};   // max_zone_pfns[] as zone_sizes_init() sets them
    uint64_t zone_movable_pfn[64] = {};         // per node, 0 = no ZONE_MOVABLE
    uint64_t totalram_pages = 0;                // Σ managed
    zone_type movable_zone = zone_type::NORMAL; // the zone ZONE_MOVABLE is carved from
};

// Builds memblock for the machine (reservations: the first MiB, the kernel image, mem_map).
Memblock boot_memblock(const Machine& m, const KernelConfig& cfg, BootLayout& layout);

// free_area_init() + memblock_free_all(): sets up every node and zone in `pa`, marks reserved
// frames in mem_map, and frees the rest into the buddy lists.
void free_area_init(PageAllocator& pa, const Machine& m, const KernelConfig& cfg,
                    const Memblock& mb, BootLayout& layout);

// Lowest address of the lowmem limit for i386/PAE: MAXMEM = 4 GiB - PAGE_OFFSET - 128 MiB
// (__VMALLOC_RESERVE), the classic 896 MiB with the 3G/1G split.
uint64_t maxmem_32(uint64_t page_offset);

} // namespace mmemu
