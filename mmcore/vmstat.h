// Event counters (/proc/vmstat's vm_event_item part and the NUMA counters) and the
// fragmentation figures of mm/vmstat.c.
#pragma once

#include <cstdint>
#include <string>

#include "mmcore/kernel_atomic.h"
#include "mmcore/mmzone.h"

namespace mmemu {

// Counters kept per zone index where the kernel keeps one per zone (TEXTS_FOR_ZONES).
struct vm_event_state {
    katomic_u64 pgalloc[MAX_NR_ZONES] = {};
    katomic_u64 allocstall[MAX_NR_ZONES] = {};
    katomic_u64 pgfree = 0;
};

// Per-node NUMA counters (/sys/devices/system/node/nodeN/numastat; summed in /proc/vmstat).
struct numa_stat {
    katomic_u64 numa_hit = 0;
    katomic_u64 numa_miss = 0;
    katomic_u64 numa_foreign = 0;
    katomic_u64 numa_interleave = 0;
    katomic_u64 numa_local = 0;
    katomic_u64 numa_other = 0;
};

// mm/vmstat.c fill_contig_page_info().
struct contig_page_info {
    uint64_t free_pages = 0;
    uint64_t free_blocks_total = 0;
    uint64_t free_blocks_suitable = 0;
};
contig_page_info fill_contig_page_info(const zone& z, unsigned suitable_order);
// unusable_free_index(): 0..1000 (printed as %d.%03d).
int unusable_free_index(unsigned order, const contig_page_info& info);
// __fragmentation_index(): 0..1000, or -1000 when an allocation of this order would succeed.
int fragmentation_index(unsigned order, const contig_page_info& info);
// The text debugfs prints for each value (without the separating space): unusable_index with
// "%d.%03d", extfrag_index with "%2d.%03d" (so " 0.250", "-1.000", and " 0.-500" for -500).
std::string format_unusable_index(int value);
std::string format_extfrag_index(int value);

} // namespace mmemu
