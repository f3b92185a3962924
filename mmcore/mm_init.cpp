#include "mmcore/mm_init.h"

#include "mmcore/bug.h"

#include <algorithm>
#include <vector>

namespace mmemu {

namespace {

constexpr uint64_t MiB = uint64_t{1} << 20;
constexpr uint64_t MAX_DMA_PFN = (16 * MiB) >> PAGE_SHIFT;            // arch/x86 dma.h
constexpr uint64_t MAX_DMA32_PFN = (uint64_t{4} << 30) >> PAGE_SHIFT; // 4 GiB
constexpr uint64_t MAX_ORDER_NR_PAGES = uint64_t{1} << (MAX_ORDER - 1);
constexpr uint64_t PAGES_PER_SECTION = (uint64_t{128} << 20) >> PAGE_SHIFT; // SECTION_SIZE_BITS 27

uint64_t round_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

// The zone that spans `pfn`, or nullptr (a hole between nodes' zones).
zone* zone_of(PageAllocator& pa, Pfn pfn) {
    for (auto& node : pa.nodes)
        for (auto& z : node.node_zones)
            if (z.spanned_pages && z.spans(pfn)) return &z;
    return nullptr;
}

} // namespace

uint64_t maxmem_32(uint64_t page_offset) {
    const uint64_t vmalloc_reserve = 128 * MiB;
    return (uint64_t{1} << 32) - page_offset - vmalloc_reserve;
}

std::string setup_memblock(const Machine& m, const KernelConfig& cfg, Memblock& mb,
                           BootLayout& layout) {
    mb = Memblock::from_e820(m.e820());
    layout.max_pfn = m.config().memory_bytes >> PAGE_SHIFT;
    // highmem_pfn_init() (arch/x86/mm/init_32.c): a 32-bit kernel uses at most 4 GiB
    // (MAX_NONPAE_PFN) even with PAE, "only 4GB will be used. Support for CONFIG_HIGHMEM64G
    // was removed!" (Linux 6.15). The memory above is never freed to the page allocator;
    // mmemu drops it from memblock.memory.
    constexpr uint64_t MAX_NONPAE_PFN = uint64_t{1} << 20;
    if (arch_is_32bit(m.arch()) && layout.max_pfn > MAX_NONPAE_PFN) {
        layout.max_pfn = MAX_NONPAE_PFN;
        mb.cap_memory(MAX_NONPAE_PFN << PAGE_SHIFT);
    }
    layout.max_low_pfn = layout.max_pfn;
    if (arch_is_32bit(m.arch()))
        layout.max_low_pfn = std::min(layout.max_pfn, maxmem_32(cfg.page_offset_32) >> PAGE_SHIFT);

    // x86 reserves the whole first MiB (arch/x86/kernel/setup.c, since 5.13: "x86/setup: Always
    // reserve the first 1M of RAM"), and the kernel image at CONFIG_PHYSICAL_START.
    mb.reserve(0, 1 * MiB, "first 1 MiB (BIOS, real mode)");
    const uint64_t image_base = 16 * MiB;
    if (image_base + cfg.kernel_image_bytes > (layout.max_low_pfn << PAGE_SHIFT))
        return "the kernel image (" + std::to_string(cfg.kernel_image_bytes) +
               " bytes at 16 MiB) does not fit in lowmem (" +
               std::to_string(layout.max_low_pfn << PAGE_SHIFT) + " bytes)";
    mb.reserve(image_base, cfg.kernel_image_bytes, "kernel image");

    // mem_map, allocated from each node's memory top-down. x86_64 (SPARSEMEM_VMEMMAP): 64-byte
    // struct pages, 2 MiB of vmemmap per 128 MiB section, PMD-mapped. 32-bit: 32-byte struct
    // pages below the lowmem limit. A node that cannot hold its own takes it from any memory,
    // as memblock_alloc_try_nid() falls back to NUMA_NO_NODE; if no memory can, Linux panics.
    for (unsigned nid = 0; nid < m.nr_nodes(); nid++) {
        const auto& n = m.nodes()[nid];
        const uint64_t start_pfn = n.start >> PAGE_SHIFT;
        const uint64_t end_pfn = std::min(n.end >> PAGE_SHIFT, layout.max_pfn);
        uint64_t bytes, align, limit, floor;
        if (m.arch() == Arch::x86_64) {
            const uint64_t sections =
                (end_pfn - (start_pfn & ~(PAGES_PER_SECTION - 1)) + PAGES_PER_SECTION - 1) /
                PAGES_PER_SECTION;
            bytes = sections * 2 * MiB;
            align = 2 * MiB;
            limit = n.end;
            floor = n.start;
        } else {
            bytes = round_up((end_pfn - start_pfn) * 32, PAGE_SIZE);
            align = PAGE_SIZE;
            limit = layout.max_low_pfn << PAGE_SHIFT;
            floor = 0;
        }
        if (mb.alloc_top_down(bytes, align, limit, floor, "mem_map")) continue;
        if (mb.alloc_top_down(bytes, align, layout.max_low_pfn << PAGE_SHIFT, 0, "mem_map"))
            continue;
        return "node " + std::to_string(nid) + "'s mem_map (" + std::to_string(bytes) +
               " bytes) does not fit in the free memory left by the boot reservations";
    }

    // zone_sizes_init()
    const ZoneLayout zl = ZoneLayout::for_arch(m.arch());
    for (unsigned i = 0; i < MAX_NR_ZONES; i++) {
        switch (zl.types[i]) {
        case zone_type::DMA:
            layout.zone_max_pfn[i] = std::min(MAX_DMA_PFN, layout.max_low_pfn);
            break;
        case zone_type::DMA32:
            layout.zone_max_pfn[i] = std::min(MAX_DMA32_PFN, layout.max_low_pfn);
            break;
        case zone_type::NORMAL: layout.zone_max_pfn[i] = layout.max_low_pfn; break;
        case zone_type::HIGHMEM: layout.zone_max_pfn[i] = layout.max_pfn; break;
        case zone_type::MOVABLE: layout.zone_max_pfn[i] = 0; break;
        }
    }
    return {};
}

namespace {

// find_zone_movable_pfns_for_nodes(): where ZONE_MOVABLE starts in each node.
void find_zone_movable_pfns(const Machine& m, const KernelConfig& cfg, const Memblock& mb,
                            const ZoneLayout& zl, BootLayout& layout) {
    // find_usable_zone_for_movable() (Linux 6.1 mm/page_alloc.c) is the first thing
    // find_zone_movable_pfns_for_nodes() does, on every boot, before it looks at kernelcore= or
    // movablecore=: the highest zone below ZONE_MOVABLE whose architectural pfn range is not
    // empty (arch_zone_highest_possible_pfn > arch_zone_lowest_possible_pfn; the ranges run from
    // the first memory pfn, each zone from where the one below ended). So on i386 and PAE with
    // HighMem, ZONE_MOVABLE is a highmem zone (is_highmem_idx()) even when it stays empty.
    int movable_zone = -1;
    uint64_t usable_startpfn = 0;
    uint64_t lower = mb.memory().empty() ? 0 : mb.memory().front().base >> PAGE_SHIFT;
    for (int i = 0; i < int(MAX_NR_ZONES) - 1; i++) {
        const uint64_t lo = lower, hi = std::max(lower, layout.zone_max_pfn[i]);
        if (hi > lo) {
            movable_zone = i;
            usable_startpfn = lo;
        }
        lower = hi;
    }
    if (movable_zone < 0) return;
    layout.movable_zone = zl.types[movable_zone];
    if (!cfg.kernelcore_bytes && !cfg.movablecore_bytes) return;
    const uint64_t totalpages = mb.memory_pages_in(0, layout.max_pfn);
    uint64_t required_kernelcore = cfg.kernelcore_bytes >> PAGE_SHIFT;
    if (cfg.movablecore_bytes) {
        // Convert movablecore= into the kernelcore it leaves; kernelcore= wins if larger.
        const uint64_t movable =
            std::min(round_up(cfg.movablecore_bytes >> PAGE_SHIFT, MAX_ORDER_NR_PAGES), totalpages);
        const uint64_t corepages = totalpages - movable;
        required_kernelcore = std::max(required_kernelcore, corepages);
    }
    // If kernelcore was not specified or is larger than all memory, there is no ZONE_MOVABLE.
    if (!required_kernelcore || required_kernelcore >= totalpages) return;

    // Spread kernelcore as evenly as possible over the nodes with memory; memory below the
    // movable zone counts towards it. What a node cannot take is pushed onto the others by
    // another pass with one node fewer.
    const unsigned nr_nodes = m.nr_nodes();
    std::vector<uint64_t> movable_pfn(nr_nodes, 0);
    unsigned usable_nodes = nr_nodes;
    while (true) {
        uint64_t kernelcore_node = required_kernelcore / usable_nodes;
        for (unsigned nid = 0; nid < nr_nodes; nid++) {
            // Once kernelcore is satisfied, the remaining nodes are movable from the start.
            if (required_kernelcore < kernelcore_node)
                kernelcore_node = required_kernelcore / usable_nodes;
            uint64_t kernelcore_remaining = kernelcore_node;
            const uint64_t node_start = m.nodes()[nid].start >> PAGE_SHIFT;
            const uint64_t node_end = std::min(m.nodes()[nid].end >> PAGE_SHIFT, layout.max_pfn);
            for (const auto& r : mb.memory()) {
                uint64_t start_pfn = std::max(r.base >> PAGE_SHIFT, node_start);
                const uint64_t end_pfn = std::min(r.end() >> PAGE_SHIFT, node_end);
                if (end_pfn <= start_pfn) continue;
                // Account for what is only usable for kernelcore (below the movable zone).
                start_pfn = std::max(start_pfn, movable_pfn[nid]);
                if (start_pfn >= end_pfn) continue;
                if (start_pfn < usable_startpfn) {
                    const uint64_t kernel_pages = std::min(end_pfn, usable_startpfn) - start_pfn;
                    kernelcore_remaining -= std::min(kernel_pages, kernelcore_remaining);
                    required_kernelcore -= std::min(kernel_pages, required_kernelcore);
                    if (end_pfn <= usable_startpfn) {
                        // Continue to the next range; ZONE_MOVABLE starts no lower.
                        movable_pfn[nid] = end_pfn;
                        continue;
                    }
                    start_pfn = usable_startpfn;
                }
                const uint64_t size_pages = std::min(end_pfn - start_pfn, kernelcore_remaining);
                movable_pfn[nid] = start_pfn + size_pages;
                required_kernelcore -= std::min(required_kernelcore, size_pages);
                kernelcore_remaining -= size_pages;
                if (!kernelcore_remaining) break;
            }
        }
        usable_nodes--;
        if (!usable_nodes || required_kernelcore <= usable_nodes) break;
    }
    // Align the start of ZONE_MOVABLE on every node to MAX_ORDER_NR_PAGES; a node whose
    // movable start is at or beyond its end has none.
    for (unsigned nid = 0; nid < nr_nodes; nid++) {
        const uint64_t pfn = round_up(movable_pfn[nid], MAX_ORDER_NR_PAGES);
        if (pfn < std::min(m.nodes()[nid].end >> PAGE_SHIFT, layout.max_pfn))
            layout.zone_movable_pfn[nid] = pfn;
    }
}

} // namespace

void free_area_init(PageAllocator& pa, const Machine& m, const KernelConfig& cfg,
                    const Memblock& mb, BootLayout& layout) {
    const ZoneLayout& zl = pa.layout;
    MemMap& mm = pa.mem_map();
    find_zone_movable_pfns(m, cfg, mb, zl, layout);
    pa.movable_zone = layout.movable_zone;
    pa.init_pageblocks(layout.max_pfn);
    pa.nodes.assign(m.nr_nodes(), pglist_data{});
    pa.cpu_to_node.assign(m.nr_cpus(), 0);
    // CPUs are spread over the nodes in blocks: cpu c is on node c * nodes / cpus.
    for (unsigned c = 0; c < m.nr_cpus(); c++) pa.cpu_to_node[c] = c * m.nr_nodes() / m.nr_cpus();

    unsigned movable_idx = zl.index_of(zone_type::MOVABLE);
    for (unsigned nid = 0; nid < m.nr_nodes(); nid++) {
        pglist_data& node = pa.nodes[nid];
        node.node_id = nid;
        const uint64_t node_start = m.nodes()[nid].start >> PAGE_SHIFT;
        const uint64_t node_end = std::min(m.nodes()[nid].end >> PAGE_SHIFT, layout.max_pfn);
        // get_pfn_range_for_nid(): from the node's first memory pfn.
        uint64_t first_mem = node_end;
        for (const auto& r : mb.memory())
            if ((r.end() >> PAGE_SHIFT) > node_start && (r.base >> PAGE_SHIFT) < node_end) {
                first_mem = std::max(node_start, r.base >> PAGE_SHIFT);
                break;
            }
        node.node_start_pfn = first_mem;
        node.node_spanned_pages = node_end - first_mem;
        const uint64_t movable_start = layout.zone_movable_pfn[nid];
        uint64_t lower = 0;
        for (unsigned i = 0; i < MAX_NR_ZONES; i++) {
            zone& z = node.node_zones[i];
            z.type = zl.types[i];
            z.idx = i;
            z.nid = nid;
            // zone_pcp_init(): every zone starts on the boot pageset (BOOT_PAGESET_HIGH 0,
            // BOOT_PAGESET_BATCH 1), which holds no pages: setup_per_cpu_pageset() later.
            z.pcp.assign(m.nr_cpus(), per_cpu_pages{});
            for (auto& pcp : z.pcp) {
                pcp.high = 0;
                pcp.batch = 1;
            }
            uint64_t lo, hi;
            if (i == movable_idx) {
                lo = movable_start ? movable_start : node_end;
                hi = movable_start ? node_end : node_end;
            } else {
                lo = lower;
                hi = std::max(lower, layout.zone_max_pfn[i]);
                lower = hi;
                // adjust_zone_range_for_zone_movable(): the zone ends where ZONE_MOVABLE starts.
                if (movable_start) hi = std::min(hi, std::max(lo, movable_start));
            }
            lo = std::max(lo, first_mem);
            hi = std::min(hi, node_end);
            if (hi <= lo) {
                z.zone_start_pfn = 0;
                z.spanned_pages = 0;
                continue;
            }
            z.zone_start_pfn = lo;
            z.spanned_pages = hi - lo;
            z.present_pages = mb.memory_pages_in(lo, hi);
            z.managed_pages = z.present_pages - mb.reserved_pages_in(lo, hi);
            node.node_present_pages += z.present_pages;
            if (z.present_pages) node.nr_zones = i + 1;
            layout.totalram_pages += z.managed_pages;
        }
    }

    // memmap_init_range() marks a pageblock MIGRATE_MOVABLE when it visits the block's first
    // pfn, which it does for memory pfns inside a zone; other blocks keep the zeroed type
    // (MIGRATE_UNMOVABLE), as the DMA zone's first block does (pfn 0 is not memory).
    for (const auto& r : mb.memory()) {
        const uint64_t pb = pa.pageblock_nr_pages();
        for (uint64_t pfn = ((r.base >> PAGE_SHIFT) + pb - 1) / pb * pb;
             pfn < (r.end() >> PAGE_SHIFT); pfn += pb)
            pa.set_pageblock_movable_at_init(Pfn{pfn});
    }

    // memmap_init(): every frame that will not be freed is PageReserved with one reference
    // (holes in the e820 map and memblock reservations); everything else stays all-zero.
    auto mark_reserved = [&](uint64_t from, uint64_t to) {
        for (uint64_t pfn = from; pfn < to && pfn < layout.max_pfn; pfn++) {
            page& p = mm[Pfn{pfn}];
            p.set(PG_reserved);
            p._refcount = 1;
            if (zone* z = zone_of(pa, Pfn{pfn})) p.set_zone(z->nid, z->idx);
        }
    };
    uint64_t at = 0;
    for (const auto& [from, to] : mb.free_pfn_ranges()) {
        mark_reserved(at, from);
        at = to;
    }
    mark_reserved(at, layout.max_pfn);
}

void memblock_free_all(PageAllocator& pa, const Memblock& mb) {
    MemMap& mm = pa.mem_map();
    // Free every range in the largest naturally aligned blocks, split at zone boundaries
    // (highmem is released separately on 32-bit, so no block straddles).
    for (const auto& [from, to] : mb.free_pfn_ranges()) {
        uint64_t start = from;
        while (start < to) {
            zone* z = zone_of(pa, Pfn{start});
            if (!z) throw KernelBug("memblock_free_all: free memory outside every zone");
            const uint64_t end = std::min(to, z->zone_end_pfn());
            while (start < end) {
                unsigned order = MAX_ORDER - 1;
                while (order && (start & ((uint64_t{1} << order) - 1))) order--;
                while (start + (uint64_t{1} << order) > end) order--;
                mm[Pfn{start}].set_zone(z->nid, z->idx);
                pa.free_boot_block(Pfn{start}, order);
                start += uint64_t{1} << order;
            }
        }
    }
}

} // namespace mmemu
