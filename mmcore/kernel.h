// The emulated kernel's memory manager for one Machine: boot (memblock, zones, buddy), zone
// tuning, and the slab allocator. Owns all of its state; many Kernels can live side by side.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "emulator/machine.h"
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
    // Boots: throws std::invalid_argument for a configuration the kernel could not boot with.
    Kernel(Machine& m, const KernelConfig& cfg);

    Machine& machine;
    const KernelConfig config;
    BootLayout layout;
    Memblock memblock;
    MemMap mem_map;
    PageAllocator buddy;
    ZoneTuning tuning;
    SlabAllocator slab;

    // Re-run init_per_zone_wmark_min() after a sysctl change.
    void retune(const KernelConfig& cfg);
    // The "nothing lost" invariant: every frame below max_pfn is reserved, free in exactly one
    // buddy or pcp list, a slab page, or one of `held` (blocks of 2^order pages starting at a
    // pfn that a caller owns). Returns "" or the first violation.
    std::string audit(const std::vector<std::pair<uint64_t, unsigned>>& held) const;
    uint64_t page_offset() const { return page_offset_; }

private:
    uint64_t page_offset_;
};

} // namespace mmemu
