// Boot-time memory set-up (mm/mm_init.c, arch/x86/mm/init.c, mm/memblock.c): memblock from e820
// and the boot reservations, zone boundaries per arch, ZONE_MOVABLE from kernelcore= /
// movablecore=, spanned/present/managed pages, the initial state of mem_map, and the release
// of all free memory to the buddy allocator.
#pragma once

#include <cstdint>
#include <string>

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

// setup_arch()'s memory part: memblock from the e820 table with the boot reservations (the
// first MiB, the kernel image, mem_map) and the zone limits. Returns "" or why Linux could not
// boot on this machine.
std::string setup_memblock(const Machine& m, const KernelConfig& cfg, Memblock& mb,
                           BootLayout& layout);

// free_area_init(): every node and zone of `pa` (spans, present and managed pages, ZONE_MOVABLE,
// the boot pagesets) and the initial state of mem_map (reserved frames marked).
void free_area_init(PageAllocator& pa, const Machine& m, const KernelConfig& cfg,
                    const Memblock& mb, BootLayout& layout);

// memblock_free_all() (mem_init()): every free range into the buddy lists.
void memblock_free_all(PageAllocator& pa, const Memblock& mb);

// Lowest address of the lowmem limit for i386/PAE: MAXMEM = 4 GiB - PAGE_OFFSET - 128 MiB
// (__VMALLOC_RESERVE), the classic 896 MiB with the 3G/1G split.
uint64_t maxmem_32(uint64_t page_offset);

} // namespace mmemu
