// The statistics groups of a state (docs/statistics-format.md, "state"): for kernel scenarios
// the /proc files a Linux user knows (meminfo, vmstat, buddyinfo, pagetypeinfo, zoneinfo,
// slabinfo) and debugfs extfrag; for bare machines each CPU's MMU. Each group is one table.
#include <algorithm>

#include "mmcore/kernel.h"
#include "mmcore/vmstat.h"
#include "system/system.h"
#include "workloads/statistics.h"

namespace mmemu {

namespace {

constexpr uint64_t KB_PER_PAGE = PAGE_SIZE >> 10;

std::string zone_suffix(zone_type t) {
    switch (t) {
    case zone_type::DMA: return "dma";
    case zone_type::DMA32: return "dma32";
    case zone_type::NORMAL: return "normal";
    case zone_type::HIGHMEM: return "high";
    case zone_type::MOVABLE: return "movable";
    }
    return "?";
}

// ---- meminfo ------------------------------------------------------------------------------

struct Meminfo {
    bool is32;
    uint64_t total = 0, free = 0, available = 0, high_total = 0, high_free = 0, srec = 0,
             sunrec = 0, cached = 0, mapped = 0, shmem = 0;
};

Meminfo meminfo_of(const Kernel& k) {
    Meminfo m;
    m.is32 = arch_is_32bit(k.machine.arch());
    uint64_t wmark_low = 0;
    for (const auto& n : k.buddy.nodes)
        for (const auto& z : n.node_zones) {
            m.total += z.managed_pages;
            m.free += uint64_t(z.vm_stat[NR_FREE_PAGES]);
            wmark_low += z.low_wmark();
            if (z.type == zone_type::HIGHMEM) {
                m.high_total += z.managed_pages;
                m.high_free += uint64_t(z.vm_stat[NR_FREE_PAGES]);
            }
        }
    m.cached = k.spaces.vmstat().nr_file_pages; // no swap cache, no buffers
    m.mapped = k.spaces.vmstat().nr_mapped;
    m.shmem = k.spaces.vmstat().nr_shmem;
    m.srec = k.slab.nr_slab_pages(true);
    m.sunrec = k.slab.nr_slab_pages(false);
    // si_mem_available(): free pages above the reserves, plus the part of reclaimable slab the
    // kernel could get back (there is no page cache yet).
    int64_t available = int64_t(m.free) - int64_t(k.tuning.totalreserve_pages);
    available += int64_t(m.srec) - int64_t(std::min(m.srec / 2, wmark_low));
    m.available = available < 0 ? 0 : uint64_t(available);
    return m;
}

const StatGroup<Meminfo> MEMINFO = {
    "state.meminfo",
    "meminfo",
    "/proc/meminfo, in kB.",
    {
        STAT("MemTotal", kB, "/proc/meminfo", "managed pages of every zone", r.total* KB_PER_PAGE),
        STAT(
            "MemFree", kB, "/proc/meminfo",
            "NR_FREE_PAGES: pages on the buddy free lists (pcp lists are not counted, as in Linux)",
            r.free* KB_PER_PAGE),
        STAT("MemAvailable", kB, "/proc/meminfo",
             "si_mem_available(): free pages above totalreserve_pages, plus the reclaimable slab "
             "the kernel could get back",
             r.available* KB_PER_PAGE),
        STAT("Cached", kB, "/proc/meminfo",
             "page-cache pages (NR_FILE_PAGES; shmem's are the only ones: no files, no swap cache)",
             r.cached* KB_PER_PAGE),
        {"HighTotal", Unit::kB, "/proc/meminfo", "32-bit only: managed HighMem pages",
         [](ojson& o, const Meminfo& r) {
             if (r.is32) o["HighTotal"] = r.high_total * KB_PER_PAGE;
         }},
        {"HighFree", Unit::kB, "/proc/meminfo", "32-bit only: free HighMem pages",
         [](ojson& o, const Meminfo& r) {
             if (r.is32) o["HighFree"] = r.high_free * KB_PER_PAGE;
         }},
        {"LowTotal", Unit::kB, "/proc/meminfo", "32-bit only: managed pages below HighMem",
         [](ojson& o, const Meminfo& r) {
             if (r.is32) o["LowTotal"] = (r.total - r.high_total) * KB_PER_PAGE;
         }},
        {"LowFree", Unit::kB, "/proc/meminfo", "32-bit only: free pages below HighMem",
         [](ojson& o, const Meminfo& r) {
             if (r.is32) o["LowFree"] = (r.free - r.high_free) * KB_PER_PAGE;
         }},
        STAT("Mapped", kB, "/proc/meminfo",
             "page-cache pages mapped by at least one process (NR_FILE_MAPPED)",
             r.mapped* KB_PER_PAGE),
        STAT("Shmem", kB, "/proc/meminfo",
             "shmem pages: shared anonymous memory (NR_SHMEM), also counted in Cached",
             r.shmem* KB_PER_PAGE),
        STAT("Slab", kB, "/proc/meminfo", "pages in slabs", (r.srec + r.sunrec) * KB_PER_PAGE),
        STAT("SReclaimable", kB, "/proc/meminfo", "pages in slabs of SLAB_RECLAIM_ACCOUNT caches",
             r.srec* KB_PER_PAGE),
        STAT("SUnreclaim", kB, "/proc/meminfo", "pages in the other slabs", r.sunrec* KB_PER_PAGE),
    }};

// ---- vmstat -------------------------------------------------------------------------------

struct Vmstat {
    const Kernel& k;
    int64_t zone_items[NR_VM_ZONE_STAT_ITEMS] = {};
    numa_stat numa{};
};

Vmstat vmstat_of(const Kernel& k) {
    Vmstat v{k, {}, {}};
    for (const auto& n : k.buddy.nodes)
        for (const auto& z : n.node_zones)
            for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) v.zone_items[i] += z.vm_stat[i];
    for (unsigned n = 0; n < k.buddy.nodes.size(); n++) {
        const numa_stat& s = k.buddy.numa(n);
        v.numa.numa_hit += s.numa_hit;
        v.numa.numa_miss += s.numa_miss;
        v.numa.numa_foreign += s.numa_foreign;
        v.numa.numa_interleave += s.numa_interleave;
        v.numa.numa_local += s.numa_local;
        v.numa.numa_other += s.numa_other;
    }
    return v;
}

// The per-zone event counters, one key per zone of the arch (TEXTS_FOR_ZONES).
template <katomic_u64 (vm_event_state::*Counter)[MAX_NR_ZONES]>
void per_zone(ojson& o, const Vmstat& v, const char* prefix) {
    for (unsigned i = 0; i < MAX_NR_ZONES; i++)
        o[prefix + zone_suffix(v.k.buddy.layout.types[i])] = (v.k.buddy.events().*Counter)[i];
}

const StatGroup<Vmstat> VMSTAT = {
    "state.vmstat",
    "vmstat",
    "/proc/vmstat, in the kernel's order. <zone> is dma, dma32, normal, movable on x86_64 and "
    "dma, normal, high, movable on 32-bit.",
    {
        {"<zone counter>", Unit::pages, "/proc/vmstat",
         "the zone counters summed over zones, named as the kernel names them: nr_free_pages, "
         "nr_zone_inactive_anon, nr_zone_active_anon, nr_zone_inactive_file, "
         "nr_zone_active_file, nr_zone_unevictable, nr_zone_write_pending, nr_mlock, nr_bounce, "
         "nr_free_cma",
         [](ojson& o, const Vmstat& v) {
             for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
                 o[std::string(zone_stat_name(i))] = v.zone_items[i];
         }},
        STAT("numa_hit", count, "/proc/vmstat", "allocations satisfied on the preferred node",
             r.numa.numa_hit),
        STAT("numa_miss", count, "/proc/vmstat", "allocations satisfied on another node",
             r.numa.numa_miss),
        STAT("numa_foreign", count, "/proc/vmstat",
             "counted on the preferred node when an allocation was satisfied elsewhere",
             r.numa.numa_foreign),
        STAT("numa_interleave", count, "/proc/vmstat",
             "interleaved allocations that got the node the interleaving chose",
             r.numa.numa_interleave),
        STAT("numa_local", count, "/proc/vmstat", "allocations on the allocating CPU's node",
             r.numa.numa_local),
        STAT("numa_other", count, "/proc/vmstat", "allocations on another node than the CPU's",
             r.numa.numa_other),
        STAT("nr_slab_reclaimable", pages, "/proc/vmstat",
             "pages in slabs of SLAB_RECLAIM_ACCOUNT caches", r.k.slab.nr_slab_pages(true)),
        STAT("nr_slab_unreclaimable", pages, "/proc/vmstat", "pages in the other slabs",
             r.k.slab.nr_slab_pages(false)),
        STAT("nr_anon_pages", pages, "/proc/vmstat",
             "anonymous pages mapped by at least one process (NR_ANON_MAPPED)",
             r.k.spaces.vmstat().nr_anon_pages),
        STAT("nr_file_pages", pages, "/proc/vmstat",
             "page-cache pages (NR_FILE_PAGES): here shmem's", r.k.spaces.vmstat().nr_file_pages),
        STAT("nr_mapped", pages, "/proc/vmstat",
             "page-cache pages mapped by at least one process (NR_FILE_MAPPED)",
             r.k.spaces.vmstat().nr_mapped),
        STAT("nr_shmem", pages, "/proc/vmstat", "shmem pages (NR_SHMEM)",
             r.k.spaces.vmstat().nr_shmem),
        STAT("nr_page_table_pages", pages, "/proc/vmstat",
             "user page-table pages, PGDs included (NR_PAGETABLE)",
             r.k.spaces.vmstat().nr_page_table_pages),
        {"pgalloc_<zone>", Unit::pages, "/proc/vmstat",
         "pages allocated from the zone (2^order per allocation)",
         [](ojson& o, const Vmstat& v) { per_zone<&vm_event_state::pgalloc>(o, v, "pgalloc_"); }},
        {"allocstall_<zone>", Unit::count, "/proc/vmstat",
         "entries into direct reclaim, by the highest zone the allocation could use",
         [](ojson& o, const Vmstat& v) {
             per_zone<&vm_event_state::allocstall>(o, v, "allocstall_");
         }},
        STAT("pgfree", pages, "/proc/vmstat",
             "pages freed, including the boot-time release of all free memory",
             r.k.buddy.events().pgfree),
        STAT("pgfault", count, "/proc/vmstat", "page faults handled (mm_account_fault)",
             r.k.spaces.vmstat().pgfault),
        STAT("pgmajfault", count, "/proc/vmstat",
             "of those, major faults (none: there is no file or swap I/O)",
             r.k.spaces.vmstat().pgmajfault),
        STAT("pglazyfree", count, "/proc/vmstat",
             "pages MADV_FREE made lazily freeable (counted as each batch of 31 goes through)",
             r.k.spaces.vmstat().pglazyfree),
        STAT("pgreuse", count, "/proc/vmstat",
             "write faults that reused an anonymous page in place (wp_page_reuse)",
             r.k.spaces.vmstat().pgreuse),
        STAT("oom_kill", count, "/proc/vmstat", "processes the OOM killer killed (OOM_KILL)",
             r.k.spaces.vmstat().oom_kill),
        STAT("ksm_swpin_copy", count, "/proc/vmstat",
             "KSM pages copied at swap-in (KSM_SWPIN_COPY; 0: there is no swap)", 0),
        STAT("cow_ksm", count, "/proc/vmstat",
             "write or unshare faults that copied a KSM page (COW_KSM)",
             r.k.spaces.vmstat().cow_ksm),
    }};

// ---- per-zone groups ----------------------------------------------------------------------

struct ZoneRow {
    const Kernel& k;
    const zone& z;
};

template <class F> void each_zone(const Kernel& k, bool populated_only, F f) {
    for (const auto& n : k.buddy.nodes)
        for (const auto& z : n.node_zones)
            if (!populated_only || z.populated()) f(z);
}

// The rows of `group`, one per zone (populated ones only, if asked).
ojson zone_rows(const StatGroup<ZoneRow>& group, const Kernel& k, bool populated_only) {
    ojson rows = ojson::array();
    each_zone(k, populated_only, [&](const zone& z) { rows.push_back(group.object({k, z})); });
    return rows;
}

// /sys/devices/system/node/nodeN/numastat (drivers/base/node.c node_read_numastat): the node's
// NUMA counters under the names that file gives them.
struct NumastatRow {
    unsigned node;
    const numa_stat& s;
};

const StatGroup<NumastatRow> NUMASTAT = {
    "state.numastat[]",
    "numastat",
    "/sys/devices/system/node/nodeN/numastat: a row per node (summed in vmstat's numa_* "
    "counters). Each page allocation counts on the node it came from: a hit when that is the "
    "preferred node (the first node the allocation's zonelist allowed), a miss there and a "
    "foreign on the preferred node when not; local_node when it is the node of the allocating "
    "CPU, other_node when not.",
    {
        STAT("node", count, "/sys/devices/system/node/nodeN/numastat", "the node", r.node),
        STAT("numa_hit", count, "/sys/devices/system/node/nodeN/numastat",
             "pages allocated here that the allocation preferred here", r.s.numa_hit),
        STAT("numa_miss", count, "/sys/devices/system/node/nodeN/numastat",
             "pages allocated here that the allocation preferred on another node", r.s.numa_miss),
        STAT("numa_foreign", count, "/sys/devices/system/node/nodeN/numastat",
             "pages preferred here and allocated on another node", r.s.numa_foreign),
        STAT("interleave_hit", count, "/sys/devices/system/node/nodeN/numastat",
             "interleaved allocations (an INTERLEAVE or WEIGHTED_INTERLEAVE policy's) that got "
             "the node the interleaving chose",
             r.s.numa_interleave),
        STAT("local_node", count, "/sys/devices/system/node/nodeN/numastat",
             "pages allocated here by a CPU of this node", r.s.numa_local),
        STAT("other_node", count, "/sys/devices/system/node/nodeN/numastat",
             "pages allocated here by a CPU of another node", r.s.numa_other),
    }};

const StatGroup<ZoneRow> BUDDYINFO = {
    "state.buddyinfo[]",
    "buddyinfo",
    "/proc/buddyinfo: a row per populated zone.",
    {
        STAT("node", count, "/proc/buddyinfo", "the node", r.z.nid),
        STAT("zone", text, "/proc/buddyinfo", "the zone (DMA, DMA32, Normal, HighMem, Movable)",
             zone_type_name(r.z.type)),
        {"nr_free", Unit::blocks, "/proc/buddyinfo", "free blocks of each order, 0 to 10",
         [](ojson& o, const ZoneRow& r) {
             ojson nr = ojson::array();
             for (unsigned ord = 0; ord < NR_PAGE_ORDERS; ord++)
                 nr.push_back(r.z.free_area[ord].nr_free);
             o["nr_free"] = nr;
         }},
    }};

struct Pagetype {
    const Kernel& k;
    const zone& z;
    unsigned mt;
};

const StatGroup<Pagetype> PAGETYPE_FREE = {
    "state.pagetypeinfo.free[]",
    "pagetypeinfo free lists",
    "/proc/pagetypeinfo's free-page table: a row per populated zone and migratetype.",
    {
        STAT("node", count, "/proc/pagetypeinfo", "the node", r.z.nid),
        STAT("zone", text, "/proc/pagetypeinfo", "the zone", zone_type_name(r.z.type)),
        STAT("type", text, "/proc/pagetypeinfo",
             "the migratetype (Unmovable, Movable, Reclaimable, HighAtomic, Isolate)",
             migratetype_name(r.mt)),
        {"nr_free", Unit::blocks, "/proc/pagetypeinfo",
         "free blocks of each order on that migratetype's list",
         [](ojson& o, const Pagetype& r) {
             ojson nr = ojson::array();
             for (unsigned ord = 0; ord < NR_PAGE_ORDERS; ord++)
                 nr.push_back(r.z.free_area[ord].free_list[r.mt].size(r.k.buddy.mem_map()));
             o["nr_free"] = nr;
         }},
    }};

const StatGroup<ZoneRow> PAGETYPE_BLOCKS = {
    "state.pagetypeinfo.blocks[]",
    "pagetypeinfo pageblocks",
    "/proc/pagetypeinfo's block table: a row per populated zone.",
    {
        STAT("node", count, "/proc/pagetypeinfo", "the node", r.z.nid),
        STAT("zone", text, "/proc/pagetypeinfo", "the zone", zone_type_name(r.z.type)),
        {"<migratetype>", Unit::count, "/proc/pagetypeinfo",
         "pageblocks of each migratetype (Unmovable, Movable, Reclaimable, HighAtomic, Isolate) "
         "whose first pfn lies in the zone (pagetypeinfo_showblockcount())",
         [](ojson& o, const ZoneRow& r) {
             const PageAllocator& pa = r.k.buddy;
             uint64_t count[MIGRATE_TYPES] = {};
             const uint64_t pb = pa.pageblock_nr_pages();
             for (uint64_t pfn = (r.z.zone_start_pfn + pb - 1) / pb * pb; pfn < r.z.zone_end_pfn();
                  pfn += pb)
                 count[pa.get_pageblock_migratetype(Pfn{pfn})]++;
             // The kernel rounds the first block down to the zone start.
             if (r.z.zone_start_pfn % pb)
                 count[pa.get_pageblock_migratetype(Pfn{r.z.zone_start_pfn})]++;
             for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++)
                 o[std::string(migratetype_name(mt))] = count[mt];
         }},
    }};

const StatGroup<Kernel> PAGETYPEINFO = {
    "state.pagetypeinfo",
    "pagetypeinfo",
    "/proc/pagetypeinfo's header.",
    {
        STAT("page_block_order", count, "/proc/pagetypeinfo",
             "pageblock order: 9 on PAE and x86_64, 10 on i386", r.buddy.pageblock_order),
        STAT("pages_per_block", pages, "/proc/pagetypeinfo", "pages per pageblock",
             r.buddy.pageblock_nr_pages()),
        {"free", Unit::none, "/proc/pagetypeinfo", "free blocks by migratetype (below)",
         [](ojson& o, const Kernel& k) {
             ojson rows = ojson::array();
             each_zone(k, true, [&](const zone& z) {
                 for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++)
                     rows.push_back(PAGETYPE_FREE.object({k, z, mt}));
             });
             o["free"] = rows;
         }},
        {"blocks", Unit::none, "/proc/pagetypeinfo", "pageblocks by migratetype (below)",
         [](ojson& o, const Kernel& k) { o["blocks"] = zone_rows(PAGETYPE_BLOCKS, k, true); }},
    }};

struct PagesetRow {
    size_t cpu;
    const per_cpu_pages& pcp;
};

const StatGroup<PagesetRow> PAGESETS = {
    "state.zoneinfo[].pagesets[]",
    "zoneinfo pagesets",
    "/proc/zoneinfo's pagesets of a populated zone: one per CPU.",
    {
        STAT("cpu", count, "/proc/zoneinfo", "the CPU", r.cpu),
        STAT("count", pages, "/proc/zoneinfo", "pages on its pcp lists", r.pcp.count),
        STAT("high", pages, "/proc/zoneinfo", "pcp->high (zone_highsize())", r.pcp.high),
        STAT("batch", pages, "/proc/zoneinfo", "pcp->batch (zone_batchsize())", r.pcp.batch),
    }};

const StatGroup<ZoneRow> ZONEINFO = {
    "state.zoneinfo[]",
    "zoneinfo",
    "/proc/zoneinfo: a row per zone of every node, populated or not.",
    {
        STAT("node", count, "/proc/zoneinfo", "the node", r.z.nid),
        STAT("zone", text, "/proc/zoneinfo", "the zone", zone_type_name(r.z.type)),
        STAT("pages_free", pages, "/proc/zoneinfo", "NR_FREE_PAGES", r.z.vm_stat[NR_FREE_PAGES]),
        STAT("boost", pages, "/proc/zoneinfo", "watermark_boost (always 0: no kswapd)",
             r.z.watermark_boost),
        STAT("min", pages, "/proc/zoneinfo", "the min watermark", r.z.min_wmark()),
        STAT("low", pages, "/proc/zoneinfo", "the low watermark", r.z.low_wmark()),
        STAT("high", pages, "/proc/zoneinfo", "the high watermark", r.z.high_wmark()),
        STAT("promo", pages, "/proc/zoneinfo", "the promo watermark",
             r.z._watermark[WMARK_PROMO] + r.z.watermark_boost),
        STAT("spanned", pages, "/proc/zoneinfo", "spanned_pages", r.z.spanned_pages),
        STAT("present", pages, "/proc/zoneinfo", "present_pages", r.z.present_pages),
        STAT("managed", pages, "/proc/zoneinfo", "managed_pages", r.z.managed_pages),
        STAT("cma", pages, "/proc/zoneinfo", "CMA pages (always 0)", 0),
        {"protection", Unit::pages, "/proc/zoneinfo", "lowmem_reserve against each zone index",
         [](ojson& o, const ZoneRow& r) {
             ojson prot = ojson::array();
             for (unsigned j = 0; j < MAX_NR_ZONES; j++) prot.push_back(r.z.lowmem_reserve[j]);
             o["protection"] = prot;
         }},
        {"<zone counter>", Unit::pages, "/proc/zoneinfo",
         "populated zones: the zone counters (nr_free_pages, ... as in vmstat)",
         [](ojson& o, const ZoneRow& r) {
             if (!r.z.populated()) return;
             for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
                 o[std::string(zone_stat_name(i))] = r.z.vm_stat[i];
         }},
        {"pagesets", Unit::none, "/proc/zoneinfo", "populated zones: the pagesets (below)",
         [](ojson& o, const ZoneRow& r) {
             if (!r.z.populated()) return;
             ojson sets = ojson::array();
             for (size_t c = 0; c < r.z.pcp.size(); c++)
                 sets.push_back(PAGESETS.object(PagesetRow{c, r.z.pcp[c]}));
             o["pagesets"] = sets;
         }},
        {"start_pfn", Unit::pfn, "/proc/zoneinfo", "populated zones: zone_start_pfn",
         [](ojson& o, const ZoneRow& r) {
             if (r.z.populated()) o["start_pfn"] = r.z.zone_start_pfn;
         }},
        {"reserved_highatomic", Unit::pages, "/proc/zoneinfo",
         "populated zones: nr_reserved_highatomic",
         [](ojson& o, const ZoneRow& r) {
             if (r.z.populated()) o["reserved_highatomic"] = r.z.nr_reserved_highatomic;
         }},
    }};

// ---- slabinfo -----------------------------------------------------------------------------

struct CacheRow {
    const kmem_cache& c;
    uint64_t active_objs = 0, active_slabs = 0, num_slabs = 0, shared_avail = 0;
};

CacheRow cache_row(const kmem_cache& c) {
    CacheRow r{c};
    for (const auto& l3 : c.nodelists) {
        // s_show(): every object of a full slab plus the in-use ones of partial slabs (objects
        // cached in the per-CPU and shared arrays count as active).
        const uint64_t free_in_partial = l3.free_objects - l3.nr_free * c.g.num;
        r.active_objs += (l3.nr_full + l3.nr_partial) * c.g.num - free_in_partial;
        r.active_slabs += l3.nr_full + l3.nr_partial;
        r.num_slabs += l3.nr_full + l3.nr_partial + l3.nr_free;
        if (l3.shared) r.shared_avail += l3.shared->avail;
    }
    return r;
}

const StatGroup<CacheRow> SLABINFO = {
    "state.slabinfo[]",
    "slabinfo",
    "/proc/slabinfo (version 2.1): a row per cache, newest first, kmem_cache last.",
    {
        STAT("name", text, "/proc/slabinfo", "the cache", r.c.name),
        STAT("active_objs", objects, "/proc/slabinfo",
             "objects in full slabs plus the in-use objects of partial slabs (objects in the "
             "per-CPU and shared arrays count as active, as in SLAB)",
             r.active_objs),
        STAT("num_objs", objects, "/proc/slabinfo", "objects in all slabs", r.num_slabs* r.c.g.num),
        STAT("objsize", bytes, "/proc/slabinfo", "bytes per object slot (buffer_size)",
             r.c.g.buffer_size),
        STAT("objperslab", objects, "/proc/slabinfo", "objects per slab", r.c.g.num),
        STAT("pagesperslab", pages, "/proc/slabinfo", "pages per slab", 1u << r.c.g.gfporder),
        STAT("limit", objects, "/proc/slabinfo", "the per-CPU array's limit (tunable)",
             r.c.tun.limit),
        STAT("batchcount", objects, "/proc/slabinfo", "the per-CPU array's batchcount (tunable)",
             r.c.tun.batchcount),
        STAT("sharedfactor", count, "/proc/slabinfo", "the shared array's factor (tunable)",
             r.c.tun.shared),
        STAT("active_slabs", slabs, "/proc/slabinfo", "full and partial slabs", r.active_slabs),
        STAT("num_slabs", slabs, "/proc/slabinfo", "all slabs", r.num_slabs),
        STAT("sharedavail", objects, "/proc/slabinfo", "objects in the shared arrays",
             r.shared_avail),
    }};

// ---- extfrag ------------------------------------------------------------------------------

// One of the two debugfs extfrag files: a row per populated zone with the index of each order,
// computed by Index and printed by Format as the kernel prints it.
template <int (*Index)(unsigned, const contig_page_info&), std::string (*Format)(int)>
StatGroup<ZoneRow> extfrag_file(const char* path, const char* title, const char* file,
                                const char* meaning) {
    return {path,
            title,
            "debugfs extfrag: a row per populated zone.",
            {
                {"node", Unit::count, file, "the node",
                 [](ojson& o, const ZoneRow& r) { o["node"] = r.z.nid; }},
                {"zone", Unit::text, file, "the zone",
                 [](ojson& o, const ZoneRow& r) { o["zone"] = zone_type_name(r.z.type); }},
                {"index", Unit::milli, file, meaning,
                 [](ojson& o, const ZoneRow& r) {
                     ojson v = ojson::array();
                     for (unsigned ord = 0; ord < NR_PAGE_ORDERS; ord++)
                         v.push_back(Format(Index(ord, fill_contig_page_info(r.z, ord))));
                     o["index"] = v;
                 }},
            }};
}

const StatGroup<ZoneRow> UNUSABLE = extfrag_file<unusable_free_index, format_unusable_index>(
    "state.extfrag.unusable_index[]", "extfrag unusable_index",
    "/sys/kernel/debug/extfrag/unusable_index",
    "for each order, the share of free memory in blocks too small for it, printed \"%d.%03d\" as "
    "the kernel prints it");

const StatGroup<ZoneRow> EXTFRAG = extfrag_file<fragmentation_index, format_extfrag_index>(
    "state.extfrag.extfrag_index[]", "extfrag extfrag_index",
    "/sys/kernel/debug/extfrag/extfrag_index",
    "for each order, __fragmentation_index() printed \"%2d.%03d\" as the kernel prints it: "
    "\"-1.000\" when an allocation would succeed, \" 0.-500\" for -500");

const StatGroup<Kernel> EXTFRAG_FILES = {
    "state.extfrag",
    "extfrag",
    "The two debugfs files of /sys/kernel/debug/extfrag.",
    {
        {"unusable_index", Unit::none, "/sys/kernel/debug/extfrag/unusable_index",
         "a row per populated zone (below)",
         [](ojson& o, const Kernel& k) { o["unusable_index"] = zone_rows(UNUSABLE, k, true); }},
        {"extfrag_index", Unit::none, "/sys/kernel/debug/extfrag/extfrag_index",
         "a row per populated zone (below)",
         [](ojson& o, const Kernel& k) { o["extfrag_index"] = zone_rows(EXTFRAG, k, true); }},
    }};

// ---- bare machines: each CPU's MMU ------------------------------------------------------------

struct CpuRow {
    unsigned cpu;
    const Mmu& mmu;
};

const StatGroup<CpuRegs> REGS = {
    "state.cpus[].regs",
    "CPU registers",
    "The registers that decide segmentation and paging.",
    {
        STAT("cr0", hex, "", "CR0", hex(r.cr0)),
        STAT("cr2", hex, "", "CR2: the last page-fault address", hex(r.cr2)),
        STAT("cr3", hex, "", "CR3", hex(r.cr3)),
        STAT("cr4", hex, "", "CR4", hex(r.cr4)),
        STAT("efer", hex, "", "IA32_EFER", hex(r.efer)),
        STAT("rflags", hex, "", "RFLAGS", hex(r.rflags)),
        STAT("pkru", hex, "", "PKRU", hex(r.pkru)),
        STAT("maxphyaddr", count, "", "the CPU's physical-address width", r.maxphyaddr),
    }};

const StatGroup<TlbArray> TLB = {
    "state.cpus[].tlb.<array>",
    "TLB arrays",
    "Per TLB array, by its name (itlb_4k, dtlb_4k, stlb_4k_2m, ... docs/cpu-model.md).",
    {
        STAT("entries", entries, "", "its size", r.config().entries),
        STAT("ways", count, "", "its associativity", r.config().ways),
        STAT("valid", entries, "", "entries valid now", r.valid_entries()),
        STAT("hits", count, "", "lookups that hit", r.stats.hits),
        STAT("misses", count, "", "lookups that missed", r.stats.misses),
        STAT("fills", count, "", "entries written", r.stats.fills),
        STAT("evictions", count, "", "valid entries replaced", r.stats.evictions),
        STAT("invalidations", count, "", "entries invalidated", r.stats.invalidations),
    }};

const StatGroup<PagingStructureCache> PSC = {
    "state.cpus[].paging_structure_caches.<cache>",
    "paging-structure caches",
    "pde_cache, pdpte_cache, pml4e_cache, pml5e_cache.",
    {
        STAT("entries", entries, "", "its size", r.size()),
        STAT("hits", count, "", "lookups that hit", r.stats.hits),
        STAT("misses", count, "", "lookups that missed", r.stats.misses),
        STAT("fills", count, "", "entries written", r.stats.fills),
        STAT("evictions", count, "", "valid entries replaced", r.stats.evictions),
        STAT("invalidations", count, "", "entries invalidated", r.stats.invalidations),
    }};

const StatGroup<MmuStats> FLUSHES = {
    "state.cpus[].flushes",
    "TLB flushes",
    "Invalidations by cause (SDM 4.10.4.1).",
    {
        {"<cause>", Unit::count, "",
         "mov_cr3, mov_cr3_noflush, invlpg, invpcid, cr4_pge, cr4_pcide, cr4_pae_smep, cr0_pg",
         [](ojson& o, const MmuStats& st) {
             for (size_t i = 0; i < size_t(FlushCause::count); i++)
                 o[flush_cause_name(FlushCause(i))] = st.flushes[i];
         }},
    }};

const StatGroup<MmuStats> PF_CODES = {
    "state.cpus[].pf_by_error_code",
    "page faults by error code",
    "Page faults by error code, e.g. \"0x7\": 2.",
    {
        {"<error code>", Unit::count, "", "page faults with that error code",
         [](ojson& o, const MmuStats& st) {
             for (const auto& [code, n] : st.pf_by_error_code) o[hex(code)] = n;
         }},
    }};

const StatGroup<CpuRow> CPUS = {
    "state.cpus[]",
    "CPUs",
    "Bare machines: a state is {\"cpus\": [...]}, one row per CPU.",
    {
        STAT("cpu", count, "", "the CPU", r.cpu),
        STAT("cycles", cycles, "", "its cycle counter (docs/cpu-model.md)", r.mmu.cycles()),
        {"regs", Unit::none, "", "its registers (below)",
         [](ojson& o, const CpuRow& r) { o["regs"] = REGS.object(r.mmu.regs()); }},
        {"tlb", Unit::none, "", "its TLB arrays (below)",
         [](ojson& o, const CpuRow& r) {
             ojson t = ojson::object();
             for (const auto* set : {&r.mmu.itlb(), &r.mmu.dtlb(), &r.mmu.stlb()})
                 for (const auto& a : *set) t[a->config().name] = TLB.object(*a);
             o["tlb"] = t;
         }},
        {"paging_structure_caches", Unit::none, "", "its paging-structure caches (below)",
         [](ojson& o, const CpuRow& r) {
             ojson p = ojson::object();
             for (const auto& c : r.mmu.pscs()) p[c->name()] = PSC.object(*c);
             o["paging_structure_caches"] = p;
         }},
        STAT("accesses", count, "", "translations requested", r.mmu.accesses()),
        STAT("walks", count, "", "page walks", r.mmu.stats().walks),
        STAT("walk_mem_refs", count, "", "paging-structure entries the walks read",
             r.mmu.stats().walk_mem_refs),
        STAT("ad_writes", count, "", "accessed/dirty updates the walks wrote",
             r.mmu.stats().ad_writes),
        STAT("faults", count, "", "faults raised by translation", r.mmu.stats().faults),
        {"flushes", Unit::none, "", "invalidations by cause (below)",
         [](ojson& o, const CpuRow& r) { o["flushes"] = FLUSHES.object(r.mmu.stats()); }},
        {"pf_by_error_code", Unit::none, "", "page faults by error code (below)",
         [](ojson& o, const CpuRow& r) { o["pf_by_error_code"] = PF_CODES.object(r.mmu.stats()); }},
    }};

// ---- processes ------------------------------------------------------------------------------

// /proc/PID/status of a live process: its mm's counters in kB; smaps_rollup's sums.
// A row: the task, and its smaps_rollup when it has an mm.
struct ProcRow {
    const task_struct& t;
    SmapsRollup smaps;
    std::vector<uint64_t> numa_pages; // per node: numa_maps's N<node>= summed
    uint64_t oom_score = 0;
    int64_t ksm_profit = 0;     // ksm_process_profit()
    bool ksm_mergeable = false; // ksm_process_mergeable()
};

// A row of a task: its smaps_rollup and OOM score, and /proc/PID/ksm_stat's computed fields.
ProcRow proc_row(const System& s, const task_struct& t) {
    const AddressSpaces& as = s.kernel().spaces;
    ProcRow r{t, t.mm ? as.smaps_rollup(t.mm) : SmapsRollup{}, {}, as.oom_score(t)};
    if (!t.mm) return r;
    r.numa_pages = as.numa_maps(t.mm, t.mempolicy).node_pages;
    const mm_struct& m = *t.mm;
    const int64_t item = s.ksm() ? int64_t(s.ksm()->rmap_item_size()) : 0;
    r.ksm_profit = int64_t(m.ksm_merging_pages + m.ksm_zero_pages) * int64_t(PAGE_SIZE) -
                   int64_t(m.ksm_rmap_items) * item;
    m.mm_mt.for_each([&](const MapleRange& range) {
        if (reinterpret_cast<const vm_area_struct*>(range.entry)->vm_flags & VM_MERGEABLE)
            r.ksm_mergeable = true;
    });
    return r;
}

template <class F> void if_mm(ojson& o, const ProcRow& r, const char* key, F f) {
    if (r.t.mm) o[key] = f(*r.t.mm);
}
#define MM_KB(name, mirrors, meaning, expr)                                                        \
    {                                                                                              \
        name, Unit::kB, mirrors, meaning, [](ojson& o, const ProcRow& row) {                       \
            if_mm(o, row, name, [](const mm_struct& m) { return uint64_t(expr) * KB_PER_PAGE; });  \
        }                                                                                          \
    }

// A smaps_rollup field of a live process, in kB (pss fields shifted down from fixed point).
#define SMAPS_KB(name, meaning, expr)                                                              \
    {                                                                                              \
        name, Unit::kB, "/proc/PID/smaps_rollup", meaning, [](ojson& o, const ProcRow& row) {      \
            if (!row.t.mm) return;                                                                 \
            const SmapsRollup& s = row.smaps;                                                      \
            o[name] = uint64_t(expr) >> 10;                                                        \
        }                                                                                          \
    }

const StatGroup<ProcRow> PROCESSES = {
    "state.processes[]",
    "processes",
    "Kernel scenarios: a row per task (a process, or a thread of one) in creation order. A task "
    "that has exited keeps pid, tgid, ppid, name, state, exit, minflt and majflt; a live one has "
    "the memory fields of /proc/PID/status and the sums of /proc/PID/smaps_rollup (a thread's "
    "are its process's).",
    {
        STAT("pid", count, "/proc/PID/status", "Pid (1, 2, ... in spawn order)", r.t.pid),
        STAT("name", text, "/proc/PID/status", "the process's name in the scenario", r.t.comm),
        STAT("tgid", count, "/proc/PID/status", "Tgid: the process (its leader's pid)", r.t.tgid),
        STAT("ppid", count, "/proc/PID/status", "PPid: the parent process (0: the scenario)",
             r.t.real_parent ? r.t.real_parent->pid : 0),
        STAT("state", text, "/proc/PID/status",
             "\"running\", \"zombie\" (exited, not yet reaped by its parent) or \"exited\"",
             r.t.zombie   ? "zombie"
             : r.t.exited ? "exited"
                          : "running"),
        STAT("exit", text, "",
             "why it exited: \"exit\", \"SIGSEGV\", \"SIGBUS\", \"SIGKILL (the OOM killer)\", "
             "\"SIGKILL (out of memory)\"",
             r.t.exit_reason),
        STAT("minflt", count, "/proc/PID/stat", "minor page faults (field 10)", r.t.min_flt),
        STAT("majflt", count, "/proc/PID/stat", "major page faults (field 12)", r.t.maj_flt),
        MM_KB("VmPeak", "/proc/PID/status", "peak virtual memory size (hiwater_vm)",
              m.get_hiwater_vm()),
        MM_KB("VmSize", "/proc/PID/status", "virtual memory size (total_vm)", m.total_vm),
        MM_KB("VmLck", "/proc/PID/status", "locked memory (locked_vm)", m.locked_vm),
        MM_KB("VmHWM", "/proc/PID/status", "peak resident set (hiwater_rss)", m.get_hiwater_rss()),
        MM_KB("VmRSS", "/proc/PID/status", "resident set: RssAnon + RssFile + RssShmem",
              m.get_mm_rss()),
        MM_KB("RssAnon", "/proc/PID/status", "resident anonymous pages (MM_ANONPAGES)",
              m.get_mm_counter(MM_ANONPAGES)),
        MM_KB("RssFile", "/proc/PID/status",
              "resident file pages (MM_FILEPAGES; 0: text and data are anonymous here)",
              m.get_mm_counter(MM_FILEPAGES)),
        MM_KB("RssShmem", "/proc/PID/status", "resident shmem pages (MM_SHMEMPAGES)",
              m.get_mm_counter(MM_SHMEMPAGES)),
        MM_KB("VmData", "/proc/PID/status", "private writable non-stack memory (data_vm)",
              m.data_vm),
        MM_KB("VmStk", "/proc/PID/status", "stack memory (stack_vm)", m.stack_vm),
        MM_KB("VmExe", "/proc/PID/status", "the text: PAGE_ALIGN(end_code) - start_code",
              (((m.end_code + PAGE_SIZE - 1) & PAGE_MASK) - (m.start_code & PAGE_MASK)) /
                  PAGE_SIZE),
        {"VmPTE", Unit::kB, "/proc/PID/status", "page tables below the PGD (pgtables_bytes)",
         [](ojson& o, const ProcRow& r) {
             if_mm(o, r, "VmPTE", [](const mm_struct& m) { return m.pgtables_bytes >> 10; });
         }},
        {"mempolicy", Unit::text, "/proc/PID/numa_maps",
         "the task's memory policy (set_mempolicy) as numa_maps shows it: \"default\" "
         "(none: its CPU's node), \"local\", \"prefer:1\", \"bind:0-1\", "
         "\"interleave:0-1\", \"prefer (many):0,2\", \"weighted interleave:0-1\"; "
         "=static, =relative or =balancing after the mode for its flags",
         [](ojson& o, const ProcRow& r) {
             if (r.t.mm) o["mempolicy"] = mpol_to_str(r.t.mempolicy);
         }},
        {"numa_pages", Unit::pages, "/proc/PID/numa_maps",
         "the pages it maps on each node, node 0 first: the N<node>= counts of numa_maps summed "
         "over its VMAs (what numastat -p shows; the zero page is not counted)",
         [](ojson& o, const ProcRow& r) {
             if (r.t.mm) o["numa_pages"] = r.numa_pages;
         }},
        {"map_count", Unit::count, "", "VMAs (mm->map_count; the lines of /proc/PID/maps)",
         [](ojson& o, const ProcRow& r) {
             if_mm(o, r, "map_count", [](const mm_struct& m) { return m.map_count; });
         }},
        {"oom_score_adj", Unit::count, "/proc/PID/oom_score_adj",
         "-1000 (never OOM-killed) .. 1000, added in thousandths of RAM to the OOM score",
         [](ojson& o, const ProcRow& r) {
             if (r.t.mm) o["oom_score_adj"] = r.t.oom_score_adj;
         }},
        {"oom_score", Unit::count, "/proc/PID/oom_score",
         "the OOM killer's badness scaled to 0..1333: (1000 + points * 1000 / totalpages) * 2/3",
         [](ojson& o, const ProcRow& r) {
             if (r.t.mm) o["oom_score"] = r.oom_score;
         }},
        {"ksm_rmap_items", Unit::count, "/proc/PID/ksm_stat", "KSM's rmap_items for this mm",
         [](ojson& o, const ProcRow& r) {
             if_mm(o, r, "ksm_rmap_items", [](const mm_struct& m) { return m.ksm_rmap_items; });
         }},
        {"ksm_zero_pages", Unit::pages, "/proc/PID/ksm_stat",
         "its pages KSM merged with the zero page",
         [](ojson& o, const ProcRow& r) {
             if_mm(o, r, "ksm_zero_pages", [](const mm_struct& m) { return m.ksm_zero_pages; });
         }},
        {"ksm_merging_pages", Unit::pages, "/proc/PID/ksm_stat", "its pages that map KSM pages",
         [](ojson& o, const ProcRow& r) {
             if_mm(o, r, "ksm_merging_pages",
                   [](const mm_struct& m) { return m.ksm_merging_pages; });
         }},
        {"ksm_process_profit", Unit::bytes, "/proc/PID/ksm_stat",
         "(ksm_merging_pages + ksm_zero_pages) * 4096 - its rmap_items' bytes",
         [](ojson& o, const ProcRow& r) {
             if (r.t.mm) o["ksm_process_profit"] = r.ksm_profit;
         }},
        {"ksm_merge_any", Unit::flag, "/proc/PID/ksm_stat",
         "prctl(PR_SET_MEMORY_MERGE) is on (MMF_VM_MERGE_ANY)",
         [](ojson& o, const ProcRow& r) {
             if_mm(o, r, "ksm_merge_any", [](const mm_struct& m) { return m.mmf_vm_merge_any; });
         }},
        {"ksm_mergeable", Unit::flag, "/proc/PID/ksm_stat", "some VMA is VM_MERGEABLE",
         [](ojson& o, const ProcRow& r) {
             if (r.t.mm) o["ksm_mergeable"] = r.ksm_mergeable;
         }},
        SMAPS_KB("Rss", "resident pages with a struct page (the zero page not counted)",
                 s.resident),
        SMAPS_KB("Pss", "proportional set: each page's size divided by its mappings",
                 s.pss >> SmapsRollup::PSS_SHIFT),
        SMAPS_KB("Pss_Dirty", "the dirty part of Pss", s.pss_dirty >> SmapsRollup::PSS_SHIFT),
        SMAPS_KB("Pss_Anon", "the anonymous part of Pss", s.pss_anon >> SmapsRollup::PSS_SHIFT),
        SMAPS_KB("Pss_Shmem", "the shmem part of Pss (shared anonymous mappings)",
                 s.pss_shmem >> SmapsRollup::PSS_SHIFT),
        SMAPS_KB("Shared_Clean", "clean pages mapped more than once", s.shared_clean),
        SMAPS_KB("Shared_Dirty", "dirty pages mapped more than once", s.shared_dirty),
        SMAPS_KB("Private_Clean", "clean pages mapped once (or with refcount 1)", s.private_clean),
        SMAPS_KB("Private_Dirty", "dirty pages mapped once (or with refcount 1)", s.private_dirty),
        SMAPS_KB("Anonymous", "resident anonymous pages", s.anonymous),
        SMAPS_KB("KSM", "KSM pages mapped (each counted in full; KSM's zero pages are not)", s.ksm),
        SMAPS_KB("LazyFree", "anonymous pages MADV_FREE marked and nothing wrote since",
                 s.lazyfree),
        SMAPS_KB("Locked", "the Pss of the pages of mlocked VMAs",
                 s.pss_locked >> SmapsRollup::PSS_SHIFT),
    }};

struct PercpuRow {
    unsigned cpu;
    const AddressSpaces& as;
    const Mmu& mmu;
    unsigned mhz;
};

const StatGroup<PercpuRow> PERCPU = {
    "state.percpu[]",
    "per-CPU scheduling and TLB state",
    "Kernel scenarios: a row per CPU: the task it runs, its ASID (arch/x86/mm/tlb.c: "
    "cpu_tlbstate), context switches, TLB shootdowns, and its MMU's counts.",
    {
        STAT("cpu", count, "", "the CPU", r.cpu),
        STAT("current", text, "", "the task running there (\"\": idle)",
             r.as.current(r.cpu) ? r.as.current(r.cpu)->comm : std::string()),
        STAT("lazy", flag, "",
             "idle in lazy TLB mode: the last task's mm still loaded (flushes pass it by)",
             r.as.tlbstate(r.cpu).is_lazy),
        STAT("asid", count, "", "loaded_mm_asid: the ASID slot in use (PCID = ASID + 1)",
             r.as.tlbstate(r.cpu).loaded_mm_asid),
        STAT("context_switches", count, "", "times a different task was made current here",
             r.as.tlbstate(r.cpu).context_switches),
        STAT("switch_flushes", count, "",
             "switch_mm()s that had to flush (a new ASID slot, or one whose tlb_gen was behind)",
             r.as.tlbstate(r.cpu).switch_flushes),
        STAT("tlb_shootdowns", count, "/proc/interrupts",
             "TLB flush IPIs received (the TLB row, irq_tlb_count)",
             r.as.tlbstate(r.cpu).irq_tlb_count),
        STAT("tlb_ipis_sent", count, "", "TLB flush IPIs this CPU sent to others",
             r.as.tlbstate(r.cpu).ipis_sent),
        STAT("cycles", cycles, "",
             "its cycle counter: translations and the kernel paths it ran (docs/cpu-model.md)",
             r.mmu.cycles()),
        STAT("time_ns", ns, "", "its virtual time: cycles / machine.cpu_mhz",
             r.mmu.cycles() / r.mhz * 1000 + r.mmu.cycles() % r.mhz * 1000 / r.mhz),
        STAT("accesses", count, "", "translations requested", r.mmu.accesses()),
        STAT("walks", count, "", "page walks (TLB misses)", r.mmu.stats().walks),
        STAT("cr3_flushes", count, "", "MOV to CR3 that flushed the PCID's translations",
             r.mmu.stats().flushes[size_t(FlushCause::mov_cr3)]),
        STAT("cr3_noflush", count, "", "MOV to CR3 with the no-flush bit (the ASID was current)",
             r.mmu.stats().flushes[size_t(FlushCause::mov_cr3_noflush)]),
        STAT("invlpg", count, "", "INVLPG executed",
             r.mmu.stats().flushes[size_t(FlushCause::invlpg)]),
    }};

// mmemu's own counts of what the fault path did (Linux keeps none of these).
const StatGroup<AddressSpaces> MMEMU_FAULTS = {
    "state.mmemu_faults",
    "mmemu's fault counts",
    "Kernel scenarios: what the page-fault path did, counted by mmemu (not Linux counters; "
    "vmstat has the kernel's own).",
    {
        STAT("anonymous", count, "", "do_anonymous_page gave a fresh zeroed page",
             r.fault_counts().anonymous),
        STAT("zero_page", count, "", "do_anonymous_page mapped the shared zero page (a read)",
             r.fault_counts().zero_page),
        STAT("cow_copy", count, "",
             "wp_page_copy gave a new page (a write to the zero page or a "
             "shared page)",
             r.fault_counts().cow_copy),
        STAT("spurious", count, "", "the PTE already allowed the access",
             r.fault_counts().spurious),
        STAT("sigsegv", count, "", "faults that ended in SIGSEGV", r.fault_counts().sigsegv),
        STAT("sigbus", count, "", "faults that ended in SIGBUS (beyond a shmem object's end)",
             r.fault_counts().sigbus),
        STAT("oom", count, "", "faults that found no memory (VM_FAULT_OOM)", r.fault_counts().oom),
        STAT("oom_no_victim", count, "",
             "OOM killer calls that found no process to kill (where Linux panics; the "
             "allocation fails)",
             r.fault_counts().oom_no_victim),
        STAT("tlb_flushes", count, "", "TLB flushes the kernel asked for (flush_tlb_mm_range)",
             r.fault_counts().tlb_flushes),
        STAT("tlb_flush_pages", count, "", "pages of those flushed one by one with INVLPG",
             r.fault_counts().tlb_flush_pages),
        STAT("kmap_local", count, "",
             "highmem frames the kernel mapped in a kmap_local fixmap slot to reach their bytes "
             "(zeroing, COW copies, exec's loads; 0 without highmem)",
             r.fault_counts().kmap_local),
    }};

// ---- KSM ----------------------------------------------------------------------------------

struct KsmRow {
    const Ksm& ksm;
    KsmStats s;
};

#define KNOB(name, meaning, expr) STAT(name, count, "/sys/kernel/mm/ksm/" name, meaning, expr)
#define KSM_STAT(name, meaning) STAT(#name, pages, "/sys/kernel/mm/ksm/" #name, meaning, r.s.name)

const StatGroup<KsmRow> KSM = {
    "state.ksm",
    "KSM",
    "Kernel scenarios that run processes: /sys/kernel/mm/ksm, its files in `ls` order "
    "(definitions: ../shared/reference/linux-mm-facts.md 1.12; Linux 6.18). merge_across_nodes "
    "is absent on i386 (no CONFIG_NUMA).",
    {
        KNOB("advisor_max_cpu", "the advisor's cap on ksmd's CPU use (percent)",
             r.ksm.knobs().advisor_max_cpu),
        KNOB("advisor_max_pages_to_scan", "the advisor's highest pages_to_scan",
             r.ksm.knobs().advisor_max_pages_to_scan),
        KNOB("advisor_min_pages_to_scan", "the advisor's starting pages_to_scan",
             r.ksm.knobs().advisor_min_pages_to_scan),
        STAT("advisor_mode", text, "/sys/kernel/mm/ksm/advisor_mode",
             "\"none\" or \"scan-time\" (the file shows the choice in brackets)",
             r.ksm.knobs().advisor_scan_time ? "scan-time" : "none"),
        KNOB("advisor_target_scan_time", "the advisor's target seconds per full scan",
             r.ksm.knobs().advisor_target_scan_time),
        STAT("full_scans", count, "/sys/kernel/mm/ksm/full_scans",
             "full scans finished (ksm_scan.seqnr; run=2 resets it)", r.s.full_scans),
        STAT("general_profit", bytes, "/sys/kernel/mm/ksm/general_profit",
             "bytes saved: (pages_sharing + ksm_zero_pages) * 4096 - the rmap_items' bytes",
             r.s.general_profit),
        KSM_STAT(ksm_zero_pages, "zero-filled pages merged with the zero page (use_zero_pages)"),
        KNOB("max_page_sharing", "the most mappings of one KSM page",
             r.ksm.knobs().max_page_sharing),
        {"merge_across_nodes", Unit::count, "/sys/kernel/mm/ksm/merge_across_nodes",
         "1: one tree for all nodes; 0: a tree per NUMA node (x86_64 only)",
         [](ojson& o, const KsmRow& r) {
             if (r.ksm.has_numa()) o["merge_across_nodes"] = int(r.ksm.knobs().merge_across_nodes);
         }},
        STAT("pages_scanned", count, "/sys/kernel/mm/ksm/pages_scanned",
             "rmap_items ksmd has scanned (smart_scan's skips not counted)", r.s.pages_scanned),
        KSM_STAT(pages_shared, "KSM pages in use (stable tree nodes with a page)"),
        KSM_STAT(pages_sharing, "mappings of KSM pages beyond the first of each: the pages saved"),
        STAT("pages_skipped", count, "/sys/kernel/mm/ksm/pages_skipped", "pages smart_scan skipped",
             r.s.pages_skipped),
        KNOB("pages_to_scan", "pages per ksmd batch", r.ksm.knobs().pages_to_scan),
        KSM_STAT(pages_unshared, "pages in the unstable tree: unique so far"),
        KSM_STAT(pages_volatile,
                 "rmap_items in no tree (changing too fast, or just seen): rmap_items - shared - "
                 "sharing - unshared"),
        KNOB("run", "0 stopped, 1 ksmd runs, 2 stopped with everything unmerged",
             r.ksm.knobs().run),
        KNOB("sleep_millisecs", "ksmd's sleep between batches", r.ksm.knobs().sleep_millisecs),
        KNOB("smart_scan", "1: skip pages that did not merge for a while",
             int(r.ksm.knobs().smart_scan)),
        STAT("stable_node_chains", count, "/sys/kernel/mm/ksm/stable_node_chains",
             "stable nodes that are chains (a page shared max_page_sharing times or more)",
             r.s.stable_node_chains),
        KNOB("stable_node_chains_prune_millisecs", "how often a chain's stale dups are pruned",
             r.ksm.knobs().stable_node_chains_prune_millisecs),
        STAT("stable_node_dups", count, "/sys/kernel/mm/ksm/stable_node_dups",
             "KSM pages on chains (each holds up to max_page_sharing mappings)",
             r.s.stable_node_dups),
        KNOB("use_zero_pages", "1: zero-filled pages merge with the zero page",
             int(r.ksm.knobs().use_zero_pages)),
    }};

#undef KNOB
#undef KSM_STAT

const char* ksmd_state_name(Ksmd::State s) {
    switch (s) {
    case Ksmd::State::idle: return "idle";
    case Ksmd::State::sleeping: return "sleeping";
    case Ksmd::State::runnable: return "runnable";
    }
    return "";
}

const StatGroup<Ksmd> KSMD = {
    "state.ksmd",
    "ksmd",
    "Kernel scenarios that run processes: the ksmd thread in virtual time (mmemu's own view; "
    "docs/model.md, \"KSM\").",
    {
        STAT("state", text, "",
             "\"idle\" (waiting for run=1 and a registered process), \"sleeping\" (between "
             "batches) or \"runnable\" (its next batch is due)",
             ksmd_state_name(r.state())),
        {"next_batch_ns", Unit::ns, "", "sleeping or runnable: the virtual time of its next batch",
         [](ojson& o, const Ksmd& r) {
             if (r.state() != Ksmd::State::idle) o["next_batch_ns"] = r.at_ns();
         }},
        STAT("batches", count, "", "wake-ups that ran ksm_do_scan or found nothing to do",
             r.batches()),
        STAT("cputime_ns", ns, "/proc/PID/sched",
             "ksmd's CPU time (sum_exec_runtime): its batches' costs (docs/cpu-model.md)",
             r.cputime_ns()),
        STAT("cpu", count, "", "the CPU whose TLB its page-table work flushes", r.cpu()),
    }};

// A state: the kernel's /proc and debugfs view, or a bare machine's CPUs.
const StatGroup<System> STATE = {
    "state",
    "a state",
    "What a checkpoint (checkpoints[].state) and the end of the run (final) show: the kernel's "
    "files in a kernel scenario, the CPUs in a bare one.",
    {
        {"meminfo", Unit::none, "/proc/meminfo", "kernel scenarios (below)",
         [](ojson& o, const System& s) {
             if (!s.bare()) o["meminfo"] = MEMINFO.object(meminfo_of(s.kernel()));
         }},
        {"vmstat", Unit::none, "/proc/vmstat", "kernel scenarios (below)",
         [](ojson& o, const System& s) {
             if (!s.bare()) o["vmstat"] = VMSTAT.object(vmstat_of(s.kernel()));
         }},
        {"numastat", Unit::none, "/sys/devices/system/node/nodeN/numastat",
         "kernel scenarios: a row per node (below)",
         [](ojson& o, const System& s) {
             if (s.bare()) return;
             ojson rows = ojson::array();
             const Kernel& k = s.kernel();
             for (unsigned n = 0; n < k.buddy.nodes.size(); n++)
                 rows.push_back(NUMASTAT.object({n, k.buddy.numa(n)}));
             o["numastat"] = rows;
         }},
        {"buddyinfo", Unit::none, "/proc/buddyinfo",
         "kernel scenarios: a row per populated zone (below)",
         [](ojson& o, const System& s) {
             if (!s.bare()) o["buddyinfo"] = zone_rows(BUDDYINFO, s.kernel(), true);
         }},
        {"pagetypeinfo", Unit::none, "/proc/pagetypeinfo", "kernel scenarios (below)",
         [](ojson& o, const System& s) {
             if (!s.bare()) o["pagetypeinfo"] = PAGETYPEINFO.object(s.kernel());
         }},
        {"zoneinfo", Unit::none, "/proc/zoneinfo", "kernel scenarios: a row per zone (below)",
         [](ojson& o, const System& s) {
             if (!s.bare()) o["zoneinfo"] = zone_rows(ZONEINFO, s.kernel(), false);
         }},
        {"slabinfo", Unit::none, "/proc/slabinfo", "kernel scenarios: a row per cache (below)",
         [](ojson& o, const System& s) {
             if (s.bare()) return;
             ojson rows = ojson::array();
             for (const kmem_cache* c : s.kernel().slab.caches())
                 rows.push_back(SLABINFO.object(cache_row(*c)));
             o["slabinfo"] = rows;
         }},
        {"processes", Unit::none, "/proc/PID/status", "kernel scenarios: a row per process (below)",
         [](ojson& o, const System& s) {
             if (s.bare()) return;
             ojson rows = ojson::array();
             const AddressSpaces& as = s.kernel().spaces;
             for (const auto& t : as.tasks()) rows.push_back(PROCESSES.object(proc_row(s, *t)));
             o["processes"] = rows;
         }},
        {"ksm", Unit::none, "/sys/kernel/mm/ksm", "kernel scenarios with processes (below)",
         [](ojson& o, const System& s) {
             if (s.ksm()) o["ksm"] = KSM.object({*s.ksm(), s.ksm()->stats()});
         }},
        {"ksmd", Unit::none, "", "kernel scenarios with processes (below)",
         [](ojson& o, const System& s) {
             if (s.ksmd()) o["ksmd"] = KSMD.object(*s.ksmd());
         }},
        {"mmemu_faults", Unit::none, "", "kernel scenarios: mmemu's fault counts (below)",
         [](ojson& o, const System& s) {
             if (!s.bare()) o["mmemu_faults"] = MMEMU_FAULTS.object(s.kernel().spaces);
         }},
        {"extfrag", Unit::none, "/sys/kernel/debug/extfrag", "kernel scenarios (below)",
         [](ojson& o, const System& s) {
             if (!s.bare()) o["extfrag"] = EXTFRAG_FILES.object(s.kernel());
         }},
        {"percpu", Unit::none, "", "kernel scenarios: a row per CPU (below)",
         [](ojson& o, const System& s) {
             if (s.bare()) return;
             ojson rows = ojson::array();
             for (unsigned c = 0; c < s.machine().nr_cpus(); c++)
                 rows.push_back(PERCPU.object(
                     {c, s.kernel().spaces, s.machine().mmu(c), s.machine().config().cpu_mhz}));
             o["percpu"] = rows;
         }},
        {"cpus", Unit::none, "", "bare machines: a row per CPU (below)",
         [](ojson& o, const System& s) {
             if (!s.bare()) return;
             ojson rows = ojson::array();
             for (unsigned c = 0; c < s.machine().nr_cpus(); c++)
                 rows.push_back(CPUS.object({c, s.machine().mmu(c)}));
             o["cpus"] = rows;
         }},
    }};

} // namespace

ojson state_json(const System& sys) {
    return STATE.object(sys);
}

ojson state_json(const System& sys, const std::vector<std::string>& groups) {
    ojson o = ojson::object();
    for (const auto& s : STATE.stats)
        if (std::find(groups.begin(), groups.end(), s.name) != groups.end()) s.emit(o, sys);
    return o;
}

std::vector<std::string> state_group_names() {
    std::vector<std::string> names;
    for (const auto& s : STATE.stats) names.push_back(s.name);
    return names;
}

std::vector<StatGroupDoc> state_reference() {
    return {STATE.doc(),         MEMINFO.doc(),      VMSTAT.doc(),        NUMASTAT.doc(),
            BUDDYINFO.doc(),     PAGETYPEINFO.doc(), PAGETYPE_FREE.doc(), PAGETYPE_BLOCKS.doc(),
            ZONEINFO.doc(),      PAGESETS.doc(),     SLABINFO.doc(),      PROCESSES.doc(),
            KSM.doc(),           KSMD.doc(),         PERCPU.doc(),        MMEMU_FAULTS.doc(),
            EXTFRAG_FILES.doc(), UNUSABLE.doc(),     EXTFRAG.doc(),       CPUS.doc(),
            REGS.doc(),          TLB.doc(),          PSC.doc(),           FLUSHES.doc(),
            PF_CODES.doc()};
}

} // namespace mmemu
