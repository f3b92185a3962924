// Zone tuning computed at boot and whenever a sysctl changes (mm/page_alloc.c, Linux 6.1):
// min_free_kbytes, the min/low/high/promo watermarks, lowmem_reserve, totalreserve_pages and
// the per-CPU pageset batch and high.
#pragma once

#include <cstdint>

#include "mmcore/kernel_config.h"
#include "mmcore/page_alloc.h"

namespace mmemu {

struct ZoneTuning {
    uint64_t min_free_kbytes = 0;
    uint64_t totalreserve_pages = 0;
};

// int_sqrt(): floor of the square root.
uint64_t int_sqrt(uint64_t x);
// The default min_free_kbytes for `lowmem_kbytes` of nr_free_buffer_pages():
// clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144).
uint64_t default_min_free_kbytes(uint64_t lowmem_kbytes);
// zone_batchsize() as zone_set_pageset_high_and_batch() applies it (at least 1).
int64_t zone_batchsize(uint64_t managed_pages);
// zone_highsize()
int64_t zone_highsize(const zone& z, int64_t batch, unsigned cpus_in_node, unsigned online_cpus,
                      uint32_t high_fraction);
// zone_set_pageset_high_and_batch(): every CPU's pageset of the zone from its managed pages and
// watermarks.
void zone_set_pageset_high_and_batch(PageAllocator& pa, zone& z, uint32_t high_fraction);
// setup_per_cpu_pageset() (start_kernel, after the slab allocator is up): the populated zones
// leave the boot pageset.
void setup_per_cpu_pageset(PageAllocator& pa, const KernelConfig& cfg);

// init_per_zone_wmark_min(): min_free_kbytes (unless the config sets it), then
// setup_per_zone_wmarks() (which also updates every pageset), setup_per_zone_lowmem_reserve()
// and calculate_totalreserve_pages().
ZoneTuning init_per_zone_wmark_min(PageAllocator& pa, const KernelConfig& cfg);

} // namespace mmemu
