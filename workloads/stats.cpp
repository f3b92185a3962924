#include "workloads/stats.h"

#include <algorithm>
#include <cstdio>

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

ojson meminfo(const Kernel& k) {
    const PageAllocator& pa = k.buddy;
    uint64_t total = 0, free_pages = 0, high_total = 0, high_free = 0, wmark_low = 0;
    for (const auto& n : pa.nodes)
        for (const auto& z : n.node_zones) {
            total += z.managed_pages;
            free_pages += uint64_t(z.vm_stat[NR_FREE_PAGES]);
            wmark_low += z.low_wmark();
            if (z.type == zone_type::HIGHMEM) {
                high_total += z.managed_pages;
                high_free += uint64_t(z.vm_stat[NR_FREE_PAGES]);
            }
        }
    const uint64_t srec = k.slab.nr_slab_pages(true), sunrec = k.slab.nr_slab_pages(false);
    // si_mem_available(): free pages above the reserves, plus the part of reclaimable slab the
    // kernel could get back (there is no page cache in mmemu yet).
    int64_t available = int64_t(free_pages) - int64_t(k.tuning.totalreserve_pages);
    available += int64_t(srec) - int64_t(std::min(srec / 2, wmark_low));
    if (available < 0) available = 0;
    ojson m;
    m["MemTotal"] = total * KB_PER_PAGE;
    m["MemFree"] = free_pages * KB_PER_PAGE;
    m["MemAvailable"] = uint64_t(available) * KB_PER_PAGE;
    if (arch_is_32bit(k.machine.arch())) {
        m["HighTotal"] = high_total * KB_PER_PAGE;
        m["HighFree"] = high_free * KB_PER_PAGE;
        m["LowTotal"] = (total - high_total) * KB_PER_PAGE;
        m["LowFree"] = (free_pages - high_free) * KB_PER_PAGE;
    }
    m["Slab"] = (srec + sunrec) * KB_PER_PAGE;
    m["SReclaimable"] = srec * KB_PER_PAGE;
    m["SUnreclaim"] = sunrec * KB_PER_PAGE;
    return m;
}

ojson vmstat(const Kernel& k) {
    const PageAllocator& pa = k.buddy;
    ojson v;
    int64_t zone_items[NR_VM_ZONE_STAT_ITEMS] = {};
    for (const auto& n : pa.nodes)
        for (const auto& z : n.node_zones)
            for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++) zone_items[i] += z.vm_stat[i];
    for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
        v[std::string(zone_stat_name(i))] = zone_items[i];
    numa_stat ns;
    for (unsigned n = 0; n < pa.nodes.size(); n++) {
        const numa_stat& s = pa.numa(n);
        ns.numa_hit += s.numa_hit;
        ns.numa_miss += s.numa_miss;
        ns.numa_foreign += s.numa_foreign;
        ns.numa_interleave += s.numa_interleave;
        ns.numa_local += s.numa_local;
        ns.numa_other += s.numa_other;
    }
    v["numa_hit"] = ns.numa_hit;
    v["numa_miss"] = ns.numa_miss;
    v["numa_foreign"] = ns.numa_foreign;
    v["numa_interleave"] = ns.numa_interleave;
    v["numa_local"] = ns.numa_local;
    v["numa_other"] = ns.numa_other;
    v["nr_slab_reclaimable"] = k.slab.nr_slab_pages(true);
    v["nr_slab_unreclaimable"] = k.slab.nr_slab_pages(false);
    const vm_event_state& ev = pa.events();
    for (unsigned i = 0; i < MAX_NR_ZONES; i++)
        v["pgalloc_" + zone_suffix(pa.layout.types[i])] = ev.pgalloc[i];
    for (unsigned i = 0; i < MAX_NR_ZONES; i++)
        v["allocstall_" + zone_suffix(pa.layout.types[i])] = ev.allocstall[i];
    v["pgfree"] = ev.pgfree;
    return v;
}

ojson buddyinfo(const Kernel& k) {
    ojson rows = ojson::array();
    for (const auto& n : k.buddy.nodes)
        for (const auto& z : n.node_zones) {
            if (!z.populated()) continue;
            ojson nr = ojson::array();
            for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) nr.push_back(z.free_area[o].nr_free);
            rows.push_back({{"node", z.nid}, {"zone", zone_type_name(z.type)}, {"nr_free", nr}});
        }
    return rows;
}

ojson pagetypeinfo(const Kernel& k) {
    const PageAllocator& pa = k.buddy;
    ojson out;
    out["page_block_order"] = pa.pageblock_order;
    out["pages_per_block"] = pa.pageblock_nr_pages();
    ojson free_rows = ojson::array(), block_rows = ojson::array();
    for (const auto& n : pa.nodes)
        for (const auto& z : n.node_zones) {
            if (!z.populated()) continue;
            for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++) {
                ojson nr = ojson::array();
                for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
                    nr.push_back(z.free_area[o].free_list[mt].size(pa.mem_map()));
                free_rows.push_back({{"node", z.nid},
                                     {"zone", zone_type_name(z.type)},
                                     {"type", migratetype_name(mt)},
                                     {"nr_free", nr}});
            }
            // pagetypeinfo_showblockcount(): pageblocks whose first pfn lies in the zone.
            uint64_t count[MIGRATE_TYPES] = {};
            const uint64_t pb = pa.pageblock_nr_pages();
            for (uint64_t pfn = (z.zone_start_pfn + pb - 1) / pb * pb; pfn < z.zone_end_pfn();
                 pfn += pb)
                count[pa.get_pageblock_migratetype(pfn)]++;
            // The kernel rounds the first block down to the zone start.
            if (z.zone_start_pfn % pb) count[pa.get_pageblock_migratetype(z.zone_start_pfn)]++;
            ojson row = {{"node", z.nid}, {"zone", zone_type_name(z.type)}};
            for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++)
                row[std::string(migratetype_name(mt))] = count[mt];
            block_rows.push_back(row);
        }
    out["free"] = free_rows;
    out["blocks"] = block_rows;
    return out;
}

ojson zoneinfo(const Kernel& k) {
    ojson rows = ojson::array();
    for (const auto& n : k.buddy.nodes)
        for (const auto& z : n.node_zones) {
            ojson r;
            r["node"] = z.nid;
            r["zone"] = zone_type_name(z.type);
            r["pages_free"] = z.vm_stat[NR_FREE_PAGES];
            r["boost"] = z.watermark_boost;
            r["min"] = z.min_wmark();
            r["low"] = z.low_wmark();
            r["high"] = z.high_wmark();
            r["promo"] = z._watermark[WMARK_PROMO] + z.watermark_boost;
            r["spanned"] = z.spanned_pages;
            r["present"] = z.present_pages;
            r["managed"] = z.managed_pages;
            r["cma"] = 0;
            ojson prot = ojson::array();
            for (unsigned j = 0; j < MAX_NR_ZONES; j++) prot.push_back(z.lowmem_reserve[j]);
            r["protection"] = prot;
            if (z.populated()) {
                for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
                    r[std::string(zone_stat_name(i))] = z.vm_stat[i];
                ojson sets = ojson::array();
                for (size_t c = 0; c < z.pcp.size(); c++)
                    sets.push_back({{"cpu", c},
                                    {"count", z.pcp[c].count},
                                    {"high", z.pcp[c].high},
                                    {"batch", z.pcp[c].batch}});
                r["pagesets"] = sets;
                r["start_pfn"] = z.zone_start_pfn;
                r["reserved_highatomic"] = z.nr_reserved_highatomic;
            }
            rows.push_back(r);
        }
    return rows;
}

ojson slabinfo(const Kernel& k) {
    ojson rows = ojson::array();
    for (const kmem_cache* c : k.slab.caches()) {
        uint64_t active_objs = 0, active_slabs = 0, num_slabs = 0, shared_avail = 0;
        for (const auto& l3 : c->nodelists) {
            // s_show(): every object of a full slab plus the in-use ones of partial slabs
            // (objects cached in the per-CPU and shared arrays count as active).
            const uint64_t free_in_partial = l3.free_objects - l3.nr_free * c->g.num;
            active_objs += (l3.nr_full + l3.nr_partial) * c->g.num - free_in_partial;
            active_slabs += l3.nr_full + l3.nr_partial;
            num_slabs += l3.nr_full + l3.nr_partial + l3.nr_free;
            if (l3.shared) shared_avail += l3.shared->avail;
        }
        ojson r;
        r["name"] = c->name;
        r["active_objs"] = active_objs;
        r["num_objs"] = num_slabs * c->g.num;
        r["objsize"] = c->g.buffer_size;
        r["objperslab"] = c->g.num;
        r["pagesperslab"] = 1u << c->g.gfporder;
        r["limit"] = c->tun.limit;
        r["batchcount"] = c->tun.batchcount;
        r["sharedfactor"] = c->tun.shared;
        r["active_slabs"] = active_slabs;
        r["num_slabs"] = num_slabs;
        r["sharedavail"] = shared_avail;
        rows.push_back(r);
    }
    return rows;
}

ojson extfrag(const Kernel& k) {
    ojson unusable = ojson::array(), index = ojson::array();
    for (const auto& n : k.buddy.nodes)
        for (const auto& z : n.node_zones) {
            if (!z.populated()) continue;
            ojson u = ojson::array(), f = ojson::array();
            for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
                const contig_page_info info = fill_contig_page_info(z, o);
                u.push_back(format_unusable_index(unusable_free_index(o, info)));
                f.push_back(format_extfrag_index(fragmentation_index(o, info)));
            }
            unusable.push_back({{"node", z.nid}, {"zone", zone_type_name(z.type)}, {"index", u}});
            index.push_back({{"node", z.nid}, {"zone", zone_type_name(z.type)}, {"index", f}});
        }
    return {{"unusable_index", unusable}, {"extfrag_index", index}};
}

} // namespace

ojson snapshot_state(const Kernel& k) {
    ojson s;
    s["meminfo"] = meminfo(k);
    s["vmstat"] = vmstat(k);
    s["buddyinfo"] = buddyinfo(k);
    s["pagetypeinfo"] = pagetypeinfo(k);
    s["zoneinfo"] = zoneinfo(k);
    s["slabinfo"] = slabinfo(k);
    s["extfrag"] = extfrag(k);
    return s;
}

std::string hex_string(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

ojson cpu_stats(const Machine& m) {
    ojson cpus = ojson::array();
    for (unsigned c = 0; c < m.nr_cpus(); c++) {
        const Mmu& u = m.mmu(c);
        const CpuRegs& r = u.regs();
        ojson o;
        o["cpu"] = c;
        o["cycles"] = u.cycles();
        o["regs"] = {{"cr0", hex_string(r.cr0)},   {"cr2", hex_string(r.cr2)},
                     {"cr3", hex_string(r.cr3)},   {"cr4", hex_string(r.cr4)},
                     {"efer", hex_string(r.efer)}, {"rflags", hex_string(r.rflags)},
                     {"pkru", hex_string(r.pkru)}, {"maxphyaddr", r.maxphyaddr}};
        ojson tlbs;
        auto put = [&](const std::vector<std::unique_ptr<TlbArray>>& arrays) {
            for (const auto& a : arrays)
                tlbs[a->config().name] = {
                    {"entries", a->config().entries},  {"ways", a->config().ways},
                    {"valid", a->valid_entries()},     {"hits", a->stats.hits},
                    {"misses", a->stats.misses},       {"fills", a->stats.fills},
                    {"evictions", a->stats.evictions}, {"invalidations", a->stats.invalidations}};
        };
        put(u.itlb());
        put(u.dtlb());
        put(u.stlb());
        o["tlb"] = tlbs;
        ojson pscs;
        for (const auto& p : u.pscs())
            pscs[p->name()] = {{"entries", p->size()},
                               {"hits", p->stats.hits},
                               {"misses", p->stats.misses},
                               {"fills", p->stats.fills},
                               {"evictions", p->stats.evictions},
                               {"invalidations", p->stats.invalidations}};
        o["paging_structure_caches"] = pscs;
        const MmuStats& st = u.stats();
        o["accesses"] = u.accesses();
        o["walks"] = st.walks;
        o["walk_mem_refs"] = st.walk_mem_refs;
        o["ad_writes"] = st.ad_writes;
        o["faults"] = st.faults;
        ojson fl;
        for (size_t i = 0; i < size_t(FlushCause::count); i++)
            fl[flush_cause_name(FlushCause(i))] = st.flushes[i];
        o["flushes"] = fl;
        ojson pf = ojson::object();
        for (const auto& [code, n] : st.pf_by_error_code) pf[hex_string(code)] = n;
        o["pf_by_error_code"] = pf;
        cpus.push_back(o);
    }
    return cpus;
}

ojson boot_summary(const Kernel& k) {
    ojson b;
    b["max_pfn"] = k.layout.max_pfn;
    b["max_low_pfn"] = k.layout.max_low_pfn;
    b["totalram_pages"] = k.layout.totalram_pages;
    b["min_free_kbytes"] = k.tuning.min_free_kbytes;
    b["totalreserve_pages"] = k.tuning.totalreserve_pages;
    ojson e820 = ojson::array();
    for (const auto& e : k.machine.e820())
        e820.push_back({{"addr", e.addr}, {"size", e.size}, {"type", e820_type_name(e.type)}});
    b["e820"] = e820;
    ojson reserved = ojson::array();
    for (const auto& r : k.memblock.reserved())
        reserved.push_back({{"base", r.base}, {"size", r.size}, {"name", r.name}});
    b["memblock_reserved"] = reserved;
    return b;
}

} // namespace mmemu
