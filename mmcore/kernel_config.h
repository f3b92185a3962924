// The emulated kernel's boot parameters and sysctls (the scenario's `kernel` section).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "mmcore/mmzone.h"

namespace mmemu {

enum class SlabDebug : uint8_t {
    off,    // a kernel without CONFIG_DEBUG_SLAB: SLAB_POISON / SLAB_RED_ZONE do nothing
    flags,  // debug code built in, applied to caches created with SLAB_POISON / SLAB_RED_ZONE
    forced, // CONFIG_DEBUG_SLAB's FORCED_DEBUG: every cache poisoned and red-zoned
};

struct KernelConfig {
    // vm.min_free_kbytes; unset means the kernel's default (init_per_zone_wmark_min).
    std::optional<uint64_t> min_free_kbytes;
    uint64_t watermark_scale_factor = 10; // vm.watermark_scale_factor
    // vm.lowmem_reserve_ratio, by zone index; unset uses the kernel's 256/256/32/0.
    std::optional<std::array<uint32_t, MAX_NR_ZONES>> lowmem_reserve_ratio;
    uint64_t kernelcore_bytes = 0;  // kernelcore=
    uint64_t movablecore_bytes = 0; // movablecore=
    // i386/PAE user/kernel split (CONFIG_VMSPLIT_*): PAGE_OFFSET = 4 GiB - kernel part.
    uint64_t page_offset_32 = 0xC0000000; // VMSPLIT_3G
    // The kernel image reserved at CONFIG_PHYSICAL_START (16 MiB).
    uint64_t kernel_image_bytes = uint64_t{16} << 20;
    bool pcp_enabled = true;
    // The "nopcid" boot parameter: X86_FEATURE_PCID cleared, so CR4.PCIDE stays 0 and every
    // switch to another mm flushes the TLB (x86_64; a 32-bit kernel never uses PCIDs).
    bool nopcid = false;
    uint32_t percpu_pagelist_high_fraction = 0; // vm.percpu_pagelist_high_fraction, 0 = auto
    SlabDebug slab_debug = SlabDebug::flags;
    // vm.max_map_count (DEFAULT_MAX_MAP_COUNT: USHRT_MAX - 5).
    uint64_t max_map_count = 65530;
};

} // namespace mmemu
