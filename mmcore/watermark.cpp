#include "mmcore/watermark.h"

#include <algorithm>
#include <bit>

namespace mmemu {

namespace {

// sysctl_lowmem_reserve_ratio[] by zone type: DMA 256, DMA32 256, Normal 32, HighMem 0,
// Movable 0.
uint32_t default_lowmem_reserve_ratio(zone_type t) {
    switch (t) {
    case zone_type::DMA:
    case zone_type::DMA32: return 256;
    case zone_type::NORMAL: return 32;
    default: return 0;
    }
}

constexpr uint64_t SWAP_CLUSTER_MAX = 32;

} // namespace

uint64_t int_sqrt(uint64_t x) {
    uint64_t r = 0;
    for (uint64_t bit = uint64_t{1} << 62; bit; bit >>= 2) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
    }
    return r;
}

uint64_t default_min_free_kbytes(uint64_t lowmem_kbytes) {
    return std::clamp<uint64_t>(int_sqrt(lowmem_kbytes * 16), 128, 262144);
}

int64_t zone_batchsize(uint64_t managed_pages) {
    // The number of pages to batch allocate is either ~0.1% of the zone or 1MB, whichever is
    // smaller, then a quarter of that, rounded to 2^n - 1 to avoid cache aliasing.
    int64_t batch = int64_t(std::min<uint64_t>(managed_pages >> 10, (1u << 20) / PAGE_SIZE));
    batch /= 4;
    if (batch < 1) batch = 1;
    batch = int64_t(std::bit_floor(uint64_t(batch + batch / 2))) - 1;
    return std::max<int64_t>(1, batch); // zone_set_pageset_high_and_batch(): max(1, ...)
}

int64_t zone_highsize(const zone& z, int64_t batch, unsigned cpus_in_node, unsigned online_cpus,
                      uint32_t high_fraction) {
    const uint64_t total_pages = high_fraction ? z.managed_pages / high_fraction : z.low_wmark();
    // Split the high value across all online CPUs local to the zone (cpu_online is 0 for
    // every update after boot: setup_zone_pageset(), zone_pcp_update() from
    // setup_per_zone_wmarks()). A node without CPUs splits it across all online CPUs
    // (Linux 6.1 mm/page_alloc.c zone_highsize(): "if (!nr_split_cpus) nr_split_cpus =
    // num_online_cpus();").
    uint64_t nr_split_cpus = cpus_in_node;
    if (!nr_split_cpus) nr_split_cpus = online_cpus;
    const int64_t high = int64_t(total_pages / std::max<uint64_t>(1, nr_split_cpus));
    return std::max(high, batch << 2);
}

void zone_set_pageset_high_and_batch(PageAllocator& pa, zone& z, uint32_t high_fraction) {
    unsigned cpus_in_node = 0;
    for (unsigned c : pa.cpu_to_node) cpus_in_node += c == z.nid;
    const int64_t batch = zone_batchsize(z.managed_pages);
    const int64_t high =
        zone_highsize(z, batch, cpus_in_node, unsigned(pa.cpu_to_node.size()), high_fraction);
    for (auto& pcp : z.pcp) {
        pcp.batch = batch;
        pcp.high = high;
    }
}

void setup_per_cpu_pageset(PageAllocator& pa, const KernelConfig& cfg) {
    for (auto& n : pa.nodes)
        for (auto& z : n.node_zones)
            if (z.populated())
                zone_set_pageset_high_and_batch(pa, z, cfg.percpu_pagelist_high_fraction);
}

static void setup_per_zone_wmarks(PageAllocator& pa, const KernelConfig& cfg,
                                  uint64_t min_free_kbytes) {
    // Linux 6.1 counts every !is_highmem() zone as lowmem, ZONE_MOVABLE included unless it was
    // carved from ZONE_HIGHMEM.
    const uint64_t pages_min = min_free_kbytes >> (PAGE_SHIFT - 10);
    uint64_t lowmem_pages = 0;
    for (const auto& n : pa.nodes)
        for (const auto& z : n.node_zones)
            if (!pa.is_highmem(z)) lowmem_pages += z.managed_pages;
    for (auto& n : pa.nodes) {
        for (auto& z : n.node_zones) {
            uint64_t tmp = lowmem_pages ? pages_min * z.managed_pages / lowmem_pages : 0;
            if (pa.is_highmem(z)) {
                // __GFP_HIGH and PF_MEMALLOC allocations usually don't need highmem pages,
                // so cap pages_min to a small value here.
                z._watermark[WMARK_MIN] =
                    std::clamp<uint64_t>(z.managed_pages / 1024, SWAP_CLUSTER_MAX, 128);
            } else {
                z._watermark[WMARK_MIN] = tmp;
            }
            // Set the kswapd watermarks distance according to the scale factor in proportion
            // to available memory, but ensure a minimum size on small systems.
            tmp = std::max(tmp >> 2, z.managed_pages * cfg.watermark_scale_factor / 10000);
            z.watermark_boost = 0;
            z._watermark[WMARK_LOW] = z._watermark[WMARK_MIN] + tmp;
            z._watermark[WMARK_HIGH] = z._watermark[WMARK_LOW] + tmp;
            z._watermark[WMARK_PROMO] = z._watermark[WMARK_HIGH] + tmp;
        }
    }
    // The watermarks changed, so update the pagesets (zone_pcp_update(), every zone).
    for (auto& n : pa.nodes)
        for (auto& z : n.node_zones)
            zone_set_pageset_high_and_batch(pa, z, cfg.percpu_pagelist_high_fraction);
}

static void setup_per_zone_lowmem_reserve(PageAllocator& pa, const KernelConfig& cfg) {
    for (auto& n : pa.nodes) {
        for (unsigned i = 0; i < MAX_NR_ZONES; i++) {
            zone& z = n.node_zones[i];
            const uint32_t ratio = cfg.lowmem_reserve_ratio ? (*cfg.lowmem_reserve_ratio)[i]
                                                            : default_lowmem_reserve_ratio(z.type);
            const bool clear = !ratio || !z.managed_pages;
            uint64_t managed_pages = 0;
            for (unsigned j = 0; j < MAX_NR_ZONES; j++) z.lowmem_reserve[j] = 0;
            for (unsigned j = i + 1; j < MAX_NR_ZONES; j++) {
                managed_pages += n.node_zones[j].managed_pages;
                z.lowmem_reserve[j] = clear ? 0 : int64_t(managed_pages / ratio);
            }
        }
    }
}

static uint64_t calculate_totalreserve_pages(const PageAllocator& pa) {
    uint64_t reserve_pages = 0;
    for (const auto& n : pa.nodes) {
        for (unsigned i = 0; i < MAX_NR_ZONES; i++) {
            const zone& z = n.node_zones[i];
            int64_t max = 0;
            // Find valid and maximum lowmem_reserve in the zone.
            for (unsigned j = i; j < MAX_NR_ZONES; j++) max = std::max(max, z.lowmem_reserve[j]);
            // we treat the high watermark as reserved pages.
            uint64_t m = uint64_t(max) + z.high_wmark();
            reserve_pages += std::min(m, z.managed_pages);
        }
    }
    return reserve_pages;
}

ZoneTuning init_per_zone_wmark_min(PageAllocator& pa, const KernelConfig& cfg) {
    ZoneTuning t;
    if (cfg.min_free_kbytes) {
        t.min_free_kbytes = *cfg.min_free_kbytes;
    } else {
        // nr_free_buffer_pages(): managed minus high watermark of the zones GFP_USER may use
        // (everything up to ZONE_NORMAL), on every node; the watermarks are still 0 at boot.
        const unsigned normal = pa.layout.index_of(zone_type::NORMAL);
        uint64_t pages = 0;
        for (const auto& n : pa.nodes)
            for (unsigned i = 0; i <= normal; i++) {
                const zone& z = n.node_zones[i];
                if (z.managed_pages > z.high_wmark()) pages += z.managed_pages - z.high_wmark();
            }
        t.min_free_kbytes = default_min_free_kbytes(pages * (PAGE_SIZE >> 10));
    }
    setup_per_zone_wmarks(pa, cfg, t.min_free_kbytes);
    setup_per_zone_lowmem_reserve(pa, cfg);
    t.totalreserve_pages = calculate_totalreserve_pages(pa);
    return t;
}

} // namespace mmemu
