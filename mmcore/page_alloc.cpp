// The buddy allocator. Function names and the order of decisions follow Linux 6.1
// mm/page_alloc.c; comments cite the function whose rule a block implements.
#include "mmcore/page_alloc.h"

#include <algorithm>
#include <cstring>

#include "mmcore/bug.h"

namespace mmemu {

namespace {

// fallbacks[] (mm/page_alloc.c): the migratetypes an allocation may steal from, in order.
constexpr int kFallbacks[MIGRATE_PCPTYPES][2] = {
    /* UNMOVABLE   */ {MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE},
    /* MOVABLE     */ {MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE},
    /* RECLAIMABLE */ {MIGRATE_UNMOVABLE, MIGRATE_MOVABLE},
};

bool migratetype_is_mergeable(unsigned mt) {
    return mt < MIGRATE_PCPTYPES;
}

} // namespace

PageAllocator::PageAllocator(MemMap& mem_map, PhysicalMemory& ram, Arch arch, unsigned nr_cpus)
    : layout(ZoneLayout::for_arch(arch)),
      // pageblock_order = HUGETLB_PAGE_ORDER: 2 MiB pages with PAE and on x86_64, 4 MiB
      // (order 10) with 2-level i386 paging (include/linux/pageblock-flags.h).
      pageblock_order(arch == Arch::i386 ? 10 : 9), cpu_to_node(nr_cpus, 0), mm_(mem_map),
      ram_(ram) {}

void PageAllocator::init_pageblocks(uint64_t nr_pages) {
    pageblock_mt_.assign((nr_pages + pageblock_nr_pages() - 1) >> pageblock_order,
                         MIGRATE_UNMOVABLE);
}

// ---------------------------------------------------------------------------------------------
// Free lists

void PageAllocator::add_to_free_list(Pfn pfn, zone& z, unsigned order, unsigned mt, bool tail) {
    page& p = mm_[pfn];
    p.set_zone(z.nid, z.idx);
    p.set(PG_buddy);
    p.private_ = order; // set_buddy_order()
    page_list& l = free_list_of(z, order, mt);
    if (tail)
        l.add_tail(mm_, pfn);
    else
        l.add_head(mm_, pfn);
    z.free_area[order].nr_free++;
}

void PageAllocator::del_page_from_free_list(Pfn pfn, zone& z, unsigned order, unsigned mt) {
    page& p = mm_[pfn];
    free_list_of(z, order, mt).del(mm_, pfn);
    p.clear(PG_buddy);
    p.private_ = 0;
    z.free_area[order].nr_free--;
}

// ---------------------------------------------------------------------------------------------
// Allocation: the core

// expand(): split a 2^high block, keeping the lowest 2^low pages and putting each upper half on
// the head of the free list of its order.
void PageAllocator::expand(zone& z, Pfn pfn, unsigned low, unsigned high, unsigned mt) {
    uint64_t size = uint64_t{1} << high;
    while (high > low) {
        high--;
        size >>= 1;
        add_to_free_list(pfn + size, z, high, mt, false);
        mm_[pfn + size].index = mt;
    }
}

// __rmqueue_smallest(): the first block at or above `order` on this type's lists.
Pfn PageAllocator::__rmqueue_smallest(zone& z, unsigned order, unsigned mt) {
    for (unsigned current_order = order; current_order < MAX_ORDER; ++current_order) {
        page_list& l = free_list_of(z, current_order, mt);
        if (l.empty()) continue;
        const Pfn pfn = l.head();
        del_page_from_free_list(pfn, z, current_order, mt);
        expand(z, pfn, order, current_order, mt);
        mm_[pfn].index = mt; // set_pcppage_migratetype()
        return pfn;
    }
    return PFN_NIL;
}

// can_steal_fallback()
static bool can_steal_fallback(unsigned order, unsigned start_mt, unsigned pageblock_order) {
    if (order >= pageblock_order) return true;
    return order >= pageblock_order / 2 || start_mt == MIGRATE_RECLAIMABLE ||
           start_mt == MIGRATE_UNMOVABLE;
}

int PageAllocator::find_suitable_fallback(const free_area& area, unsigned order, unsigned mt,
                                          bool only_stealable, bool& can_steal) const {
    can_steal = false;
    if (area.nr_free == 0) return -1;
    for (int fallback_mt : kFallbacks[mt]) {
        if (area.free_list[fallback_mt].empty()) continue;
        if (can_steal_fallback(order, mt, pageblock_order)) can_steal = true;
        if (!only_stealable) return fallback_mt;
        if (can_steal) return fallback_mt;
    }
    return -1;
}

// move_freepages_block(): move every free block in the pageblock of `pfn` to `mt`'s lists;
// returns the pages moved and counts in-use movable (LRU) pages.
uint64_t PageAllocator::move_freepages_block(zone& z, Pfn pfn, unsigned mt,
                                             uint64_t* movable_pages) {
    Pfn start = pageblock_start_pfn(pfn);
    const Pfn end = start + pageblock_nr_pages();
    if (movable_pages) *movable_pages = 0;
    // Do not cross zone boundaries: a block starting before the zone is moved from `pfn` on; one
    // ending beyond it is not moved at all.
    if (!z.spans(start)) start = pfn;
    if (!z.spans(Pfn{end.value - 1})) return 0;
    uint64_t moved = 0;
    for (Pfn p = start; p < end;) {
        page& pg = mm_[p];
        if (!pg.test(PG_buddy)) {
            if (movable_pages && pg.test(PG_lru)) ++*movable_pages;
            p = p + 1;
            continue;
        }
        const unsigned order = unsigned(pg.private_);
        const unsigned old_mt = unsigned(pg.index);
        free_list_of(z, order, old_mt).del(mm_, p);
        free_list_of(z, order, mt).add_tail(mm_, p); // move_to_free_list()
        pg.index = mt;
        p = p + (uint64_t{1} << order);
        moved += uint64_t{1} << order;
    }
    return moved;
}

// steal_suitable_fallback(): claim the whole pageblock when enough of it is free or compatible,
// otherwise take the single block.
void PageAllocator::steal_suitable_fallback(zone& z, Pfn pfn, migratetype start_type,
                                            bool whole_block) {
    page& pg = mm_[pfn];
    const unsigned current_order = unsigned(pg.private_);
    const unsigned old_block_type = get_pageblock_migratetype(pfn);
    auto single_page = [&] {
        const unsigned old_mt = unsigned(pg.index);
        free_list_of(z, current_order, old_mt).del(mm_, pfn);
        free_list_of(z, current_order, start_type).add_tail(mm_, pfn);
        pg.index = start_type;
    };
    if (old_block_type == MIGRATE_HIGHATOMIC) return single_page();
    // Take ownership for orders >= pageblock_order.
    if (current_order >= pageblock_order) {
        for (Pfn p = pfn; p < pfn + (uint64_t{1} << current_order); p = p + pageblock_nr_pages())
            set_pageblock_migratetype(p, start_type);
        stats_.pageblock_steals++;
        return single_page();
    }
    // (Watermark boosting is not modelled: there is no kswapd to undo it.)
    if (!whole_block) return single_page();
    uint64_t movable_pages = 0;
    const uint64_t free_pages = move_freepages_block(z, pfn, start_type, &movable_pages);
    if (!free_pages) return single_page(); // zone boundary
    uint64_t alike_pages;
    if (start_type == MIGRATE_MOVABLE)
        alike_pages = movable_pages;
    else if (old_block_type == MIGRATE_MOVABLE)
        alike_pages = pageblock_nr_pages() - (free_pages + movable_pages);
    else
        alike_pages = 0;
    if (free_pages + alike_pages >= (uint64_t{1} << (pageblock_order - 1))) {
        set_pageblock_migratetype(pfn, start_type);
        stats_.pageblock_steals++;
    }
}

// __rmqueue_fallback(): steal from the largest free block of a fallback type.
bool PageAllocator::__rmqueue_fallback(zone& z, unsigned order, migratetype start_mt,
                                       unsigned alloc_flags) {
    // ALLOC_NOFRAGMENT: do not steal from pageblocks of other types below pageblock_order.
    const int min_order = (alloc_flags & ALLOC_NOFRAGMENT) ? int(pageblock_order) : int(order);
    int current_order;
    int fallback_mt = -1;
    bool can_steal = false;
    for (current_order = MAX_ORDER - 1; current_order >= min_order; --current_order) {
        fallback_mt = find_suitable_fallback(z.free_area[current_order], current_order, start_mt,
                                             false, can_steal);
        if (fallback_mt == -1) continue;
        // Cannot steal the whole block for a movable request: split the smallest block instead.
        if (!can_steal && start_mt == MIGRATE_MOVABLE && current_order > int(order)) {
            for (current_order = order; current_order < int(MAX_ORDER); current_order++) {
                fallback_mt = find_suitable_fallback(z.free_area[current_order], current_order,
                                                     start_mt, false, can_steal);
                if (fallback_mt != -1) break;
            }
        }
        const Pfn pfn = free_list_of(z, current_order, fallback_mt).head();
        steal_suitable_fallback(z, pfn, start_mt, can_steal);
        stats_.extfrag_events++;
        return true;
    }
    return false;
}

// __rmqueue()
Pfn PageAllocator::__rmqueue(zone& z, unsigned order, migratetype mt, unsigned alloc_flags) {
    while (true) {
        const Pfn pfn = __rmqueue_smallest(z, order, mt);
        if (pfn != PFN_NIL) return pfn;
        if (!__rmqueue_fallback(z, order, mt, alloc_flags)) return PFN_NIL;
    }
}

// rmqueue_bulk(): take `count` blocks for a pcp list, oldest-first order kept by adding to tail.
unsigned PageAllocator::rmqueue_bulk(zone& z, unsigned order, unsigned count, page_list& list,
                                     migratetype mt, unsigned alloc_flags) {
    const LockGuard<spinlock_t> locked(z.lock); // spin_lock_irqsave(&zone->lock)
    unsigned i;
    for (i = 0; i < count; ++i) {
        const Pfn pfn = __rmqueue(z, order, mt, alloc_flags);
        if (pfn == PFN_NIL) break;
        list.add_tail(mm_, pfn);
    }
    z.vm_stat[NR_FREE_PAGES] -= int64_t(i) << order;
    stats_.pcp_refills++;
    return i;
}

// rmqueue_pcplist() / __rmqueue_pcplist(), under the list's lock (pcp_spin_trylock(); the
// caller goes to the buddy lists if another CPU holds it).
page* PageAllocator::rmqueue_pcplist(zone& z, unsigned order, migratetype mt, unsigned alloc_flags,
                                     unsigned cpu) {
    per_cpu_pages& pcp = z.pcp[cpu];
    const LockGuard<spinlock_t> locked(pcp.lock, AlreadyLocked{});
    pcp.free_factor >>= 1;
    page_list& list = pcp.lists[order_to_pindex(mt, order)];
    if (list.empty()) {
        int64_t batch = pcp.batch;
        // Scale batch count by order.
        if (batch > 1) batch = std::max<int64_t>(batch >> order, 2);
        const unsigned alloced = rmqueue_bulk(z, order, unsigned(batch), list, mt, alloc_flags);
        pcp.count += int64_t(alloced) << order;
        if (list.empty()) return nullptr;
    }
    const Pfn pfn = list.pop_head(mm_);
    pcp.count -= int64_t{1} << order;
    return &mm_[pfn];
}

// rmqueue()
page* PageAllocator::rmqueue(zone& preferred, zone& z, unsigned order, unsigned alloc_flags,
                             migratetype mt, unsigned cpu) {
    (void)preferred;
    // The pcp list, if its lock is had at once: else (another CPU drains it) the buddy lists,
    // as rmqueue() falls back to rmqueue_buddy() since pcp_spin_trylock() (Linux 6.0).
    if (pcp_enabled_ && order <= PAGE_ALLOC_COSTLY_ORDER && z.pcp[cpu].lock.trylock())
        return rmqueue_pcplist(z, order, mt, alloc_flags, cpu);
    // rmqueue_buddy()
    const LockGuard<spinlock_t> locked(z.lock);
    Pfn pfn = PFN_NIL;
    if (order > 0 && (alloc_flags & ALLOC_HARDER))
        pfn = __rmqueue_smallest(z, order, MIGRATE_HIGHATOMIC);
    if (pfn == PFN_NIL) pfn = __rmqueue(z, order, mt, alloc_flags);
    if (pfn == PFN_NIL) return nullptr;
    if (mm_[pfn].index != MIGRATE_ISOLATE) z.vm_stat[NR_FREE_PAGES] -= int64_t{1} << order;
    return &mm_[pfn];
}

// ---------------------------------------------------------------------------------------------
// Watermarks

bool PageAllocator::__zone_watermark_ok(const zone& z, unsigned order, uint64_t mark,
                                        unsigned highest_zoneidx, unsigned alloc_flags,
                                        int64_t free_pages) const {
    int64_t min = int64_t(mark);
    const bool alloc_harder = alloc_flags & (ALLOC_HARDER | ALLOC_OOM);
    // __zone_watermark_unusable_free()
    int64_t unusable = (int64_t{1} << order) - 1;
    if (!alloc_harder) unusable += int64_t(z.nr_reserved_highatomic);
    free_pages -= unusable;
    if (alloc_flags & ALLOC_HIGH) min -= min / 2;
    if (alloc_harder) {
        if (alloc_flags & ALLOC_OOM)
            min -= min / 2;
        else
            min -= min / 4;
    }
    if (free_pages <= min + z.lowmem_reserve[highest_zoneidx]) return false;
    if (!order) return true;
    // For a high-order request, check at least one suitable page is free.
    for (unsigned o = order; o < MAX_ORDER; o++) {
        const free_area& area = z.free_area[o];
        if (!area.nr_free) continue;
        for (unsigned mt = 0; mt < MIGRATE_PCPTYPES; mt++)
            if (!area.free_list[mt].empty()) return true;
        if (alloc_harder && !area.free_list[MIGRATE_HIGHATOMIC].empty()) return true;
    }
    return false;
}

bool PageAllocator::zone_watermark_fast(const zone& z, unsigned order, uint64_t mark,
                                        unsigned highest_zoneidx, unsigned alloc_flags) const {
    const int64_t free_pages = z.vm_stat[NR_FREE_PAGES];
    // Fast check for order-0 only.
    if (!order) {
        int64_t reserved =
            (alloc_flags & (ALLOC_HARDER | ALLOC_OOM)) ? 0 : int64_t(z.nr_reserved_highatomic);
        int64_t usable_free = free_pages - std::min(free_pages, reserved);
        if (usable_free > int64_t(mark) + z.lowmem_reserve[highest_zoneidx]) return true;
    }
    return __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags, free_pages);
}

// ---------------------------------------------------------------------------------------------
// The zonelist walk

void PageAllocator::prep_new_page(Pfn pfn, zone& z, unsigned order, gfp_t gfp, unsigned cpu) {
    page& p = mm_[pfn];
    p.set_zone(z.nid, z.idx);
    p.lru_next = p.lru_prev = 0;
    p.private_ = 0;
    p.index = 0;
    p._refcount = 1; // set_page_refcounted()
    // A free block's tail pages are all-zero here (memmap_init leaves free frames so), where
    // Linux's memmap init gave every struct page its node and zone: give the tail pages of a
    // block theirs, so that page_to_nid() of any page of it is right (a slab object in a
    // multi-page slab's second page, freed on its node, found its node as 0).
    for (uint64_t i = 1; i < (uint64_t{1} << order); i++) mm_[pfn + i].set_zone(z.nid, z.idx);
    // kernel_init_pages(): clear_highpage() of each page; a highmem page is reached through a
    // kmap_local mapping (the Highmem hook), a lowmem one through the direct map.
    if (gfp & __GFP_ZERO) {
        const bool high = highmem_ && z.type == zone_type::HIGHMEM;
        for (uint64_t i = 0; i < (uint64_t{1} << order); i++) {
            if (high)
                highmem_->clear_highpage(Pfn{pfn + i}, cpu);
            else
                ram_.clear_frame(Pfn{pfn + i});
        }
    }
}

void PageAllocator::zone_statistics(const zone& preferred, const zone& z, unsigned cpu) {
    numa_stat& zs = numa_[z.nid];
    if (z.nid != preferred.nid) {
        zs.numa_miss++;
        numa_[preferred.nid].numa_foreign++;
    } else {
        zs.numa_hit++;
    }
    if (z.nid == cpu_to_node[cpu])
        zs.numa_local++;
    else
        zs.numa_other++;
}

// reserve_highatomic_pageblock(): an order > 0 ALLOC_HARDER success reserves its pageblock.
void PageAllocator::reserve_highatomic_pageblock(Pfn pfn, zone& z) {
    // Limit the number reserved to 1 pageblock or roughly 1% of a zone.
    const uint64_t max_managed = z.managed_pages / 100 + pageblock_nr_pages();
    if (z.nr_reserved_highatomic >= max_managed) return;
    const LockGuard<spinlock_t> locked(z.lock);
    const unsigned mt = get_pageblock_migratetype(pfn);
    if (mt == MIGRATE_HIGHATOMIC || mt == MIGRATE_ISOLATE) return;
    z.nr_reserved_highatomic += pageblock_nr_pages();
    set_pageblock_migratetype(pfn, MIGRATE_HIGHATOMIC);
    move_freepages_block(z, pfn, MIGRATE_HIGHATOMIC, nullptr);
    stats_.highatomic_reserved++;
}

// unreserve_highatomic_pageblock(): give one reserved pageblock per zone back to `mt`.
bool PageAllocator::unreserve_highatomic_pageblock(const pglist_data& pref_node,
                                                   unsigned highest_zoneidx, migratetype mt,
                                                   bool force, uint64_t nodemask) {
    for (const zoneref& zr : pref_node.zonelist) {
        if (zr.zone_idx > highest_zoneidx || !(nodemask >> zr.nid & 1)) continue;
        zone& z = nodes[zr.nid].node_zones[zr.zone_idx];
        // Preserve at least one pageblock unless memory pressure is really high.
        if (!force && z.nr_reserved_highatomic <= pageblock_nr_pages()) continue;
        const LockGuard<spinlock_t> locked(z.lock);
        for (unsigned order = 0; order < MAX_ORDER; order++) {
            page_list& l = free_list_of(z, order, MIGRATE_HIGHATOMIC);
            if (l.empty()) continue;
            const Pfn pfn = l.head();
            if (get_pageblock_migratetype(pfn) == MIGRATE_HIGHATOMIC) {
                z.nr_reserved_highatomic -=
                    std::min<uint64_t>(pageblock_nr_pages(), z.nr_reserved_highatomic);
            }
            set_pageblock_migratetype(pfn, mt);
            if (move_freepages_block(z, pfn, mt, nullptr)) return true;
        }
    }
    return false;
}

page* PageAllocator::get_page_from_freelist(gfp_t gfp, unsigned order, unsigned alloc_flags,
                                            const pglist_data& pref_node, unsigned highest_zoneidx,
                                            migratetype mt, unsigned cpu, uint64_t nodemask) {
    // first_zones_zonelist(): the zones before it are all above highest_zoneidx (or outside
    // the nodemask).
    const int first = first_zone(pref_node.node_id, highest_zoneidx, nodemask).first;
    if (first < 0) return nullptr;
    const auto& zl = pref_node.zonelist;
    zone& preferred = nodes[zl[first].nid].node_zones[zl[first].zone_idx];
retry:
    const bool no_fallback = alloc_flags & ALLOC_NOFRAGMENT;
    for (size_t i = size_t(first); i < zl.size(); i++) {
        const zoneref& zr = zl[i];
        if (zr.zone_idx > highest_zoneidx || !(nodemask >> zr.nid & 1)) continue;
        if ((gfp & __GFP_THISNODE) && zr.nid != pref_node.node_id) continue;
        zone& z = nodes[zr.nid].node_zones[zr.zone_idx];
        // When fragmentation avoidance is on, prefer falling back to a remote node over
        // fragmenting the local one only after the local node's zones are tried.
        if (no_fallback && nodes.size() > 1 && &z != &preferred && z.nid != preferred.nid) {
            alloc_flags &= ~ALLOC_NOFRAGMENT;
            goto retry;
        }
        const uint64_t mark = z._watermark[alloc_flags & ALLOC_WMARK_MASK] + z.watermark_boost;
        if (!(alloc_flags & ALLOC_NO_WATERMARKS) &&
            !zone_watermark_fast(z, order, mark, highest_zoneidx, alloc_flags))
            continue; // node_reclaim_mode is 0
        if (page* p = rmqueue(preferred, z, order, alloc_flags, mt, cpu)) {
            const Pfn pfn = mm_.page_to_pfn(p);
            events_.pgalloc[z.idx] += uint64_t{1} << order;
            zone_statistics(preferred, z, cpu);
            prep_new_page(pfn, z, order, gfp, cpu);
            if (order && (alloc_flags & ALLOC_HARDER)) reserve_highatomic_pageblock(pfn, z);
            return p;
        }
    }
    // It's possible on a UMA machine to get through all zones that are fragmented. If avoiding
    // fragmentation, reset and try again.
    if (no_fallback) {
        alloc_flags &= ~ALLOC_NOFRAGMENT;
        goto retry;
    }
    return nullptr;
}

PageAllocator::zonelist_start PageAllocator::first_zone(unsigned nid, unsigned hz,
                                                        uint64_t nodemask) const {
    if (nodemask == NODEMASK_ALL) return zonelist_start_[nid][hz];
    zonelist_start st;
    const auto& zl = nodes[nid].zonelist;
    for (size_t i = 0; i < zl.size(); i++)
        if (zl[i].zone_idx <= hz && (nodemask >> zl[i].nid & 1)) {
            st.first = int16_t(i);
            break;
        }
    if (st.first < 0 || layout.types[1] != zone_type::DMA32) return st;
    const zoneref& zr = zl[size_t(st.first)];
    st.nofragment = layout.types[zr.zone_idx] == zone_type::NORMAL &&
                    (nodes.size() == 1 || nodes[zr.nid].node_zones[zr.zone_idx - 1].populated());
    return st;
}

page* PageAllocator::alloc_pages(gfp_t gfp, unsigned order, int nid, unsigned cpu,
                                 uint64_t nodemask) {
    alloc_percall::last_failure = AllocFailure::none;
    if (order >= MAX_ORDER || cpu >= cpu_to_node.size()) {
        stats_.alloc_fail++;
        alloc_percall::last_failure = AllocFailure::no_free_block;
        return nullptr;
    }
    const unsigned node = nid < 0 ? cpu_to_node[cpu] : unsigned(nid);
    const pglist_data& pref = nodes[node];
    const unsigned highest_zoneidx = gfp_zone_idx_[gfp & GFP_ZONEMASK];
    const migratetype mt = gfp_migratetype(gfp);
    // The fast path: the low watermark, and alloc_flags_nofragment().
    unsigned alloc_flags =
        ALLOC_WMARK_LOW | (gfp & __GFP_KSWAPD_RECLAIM ? unsigned(ALLOC_KSWAPD) : 0u);
    if (first_zone(node, highest_zoneidx, nodemask).nofragment) alloc_flags |= ALLOC_NOFRAGMENT;
    if (page* p = get_page_from_freelist(gfp, order, alloc_flags, pref, highest_zoneidx, mt, cpu,
                                         nodemask)) {
        stats_.alloc_success++;
        return p;
    }
    return alloc_pages_slowpath(gfp, order, pref, highest_zoneidx, mt, cpu, nodemask);
}

// __alloc_pages_slowpath(), without reclaim or compaction (mmemu has no reclaimable memory yet:
// no page cache, no swap), so the OOM killer is the one way memory comes back. The retry loop
// ends: a round goes on only when the OOM killer killed a task it had not chosen before, or
// when the allocating task is itself the victim, whose one further try may dip into the
// reserves (ALLOC_OOM) before it gives up.
page* PageAllocator::alloc_pages_slowpath(gfp_t gfp, unsigned order, const pglist_data& pref,
                                          unsigned highest_zoneidx, migratetype mt, unsigned cpu,
                                          uint64_t nodemask) {
    stats_.slowpath++;
    // gfp_to_alloc_flags()
    unsigned alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET;
    if (gfp & __GFP_HIGH) alloc_flags |= ALLOC_HIGH;
    if (gfp & __GFP_KSWAPD_RECLAIM) alloc_flags |= ALLOC_KSWAPD;
    if ((gfp & __GFP_ATOMIC) && !(gfp & __GFP_NOMEMALLOC)) alloc_flags |= ALLOC_HARDER;
    page* p =
        get_page_from_freelist(gfp, order, alloc_flags, pref, highest_zoneidx, mt, cpu, nodemask);
    while (!p && (gfp & __GFP_DIRECT_RECLAIM)) {
        // __alloc_pages_direct_reclaim(): the reclaim itself frees nothing here; the stall is
        // counted against the highest zone the allocation may use, then highatomic reserves
        // are released and the pcp lists drained before one more try.
        events_.allocstall[highest_zoneidx]++;
        unreserve_highatomic_pageblock(pref, highest_zoneidx, mt, false, nodemask);
        drain_all_pages();
        p = get_page_from_freelist(gfp, order, alloc_flags, pref, highest_zoneidx, mt, cpu,
                                   nodemask);
        // __GFP_NORETRY and costly orders give up before the OOM killer.
        if (p || order > PAGE_ALLOC_COSTLY_ORDER || (gfp & __GFP_NORETRY)) break;
        bool progress = false;
        p = alloc_pages_may_oom(gfp, order, pref, highest_zoneidx, mt, cpu, nodemask, progress);
        if (p) break;
        const bool victim = oom_ && oom_->current_is_oom_victim(cpu);
        // "Avoid allocations with no watermarks from looping endlessly".
        if ((victim && (alloc_flags & ALLOC_OOM)) || !progress) break;
        // retry: __gfp_pfmemalloc_flags() gives an OOM victim ALLOC_OOM (half the min
        // watermark), in place of the flags above but for ALLOC_KSWAPD.
        if (victim) alloc_flags = ALLOC_OOM | (alloc_flags & ALLOC_KSWAPD);
        p = get_page_from_freelist(gfp, order, alloc_flags, pref, highest_zoneidx, mt, cpu,
                                   nodemask);
    }
    if (p) {
        stats_.alloc_success++;
        return p;
    }
    stats_.alloc_fail++;
    if (order > PAGE_ALLOC_COSTLY_ORDER) stats_.alloc_fail_costly++;
    if (alloc_percall::last_failure == AllocFailure::none)
        alloc_percall::last_failure = AllocFailure::watermark;
    return nullptr;
}

// __alloc_pages_may_oom(): a last try at the high watermark (memory another task freed
// meanwhile), then out_of_memory() for the allocations the OOM killer serves. `progress` is
// set when the allocation is worth retrying.
page* PageAllocator::alloc_pages_may_oom(gfp_t gfp, unsigned order, const pglist_data& pref,
                                         unsigned highest_zoneidx, migratetype mt, unsigned cpu,
                                         uint64_t nodemask, bool& progress) {
    progress = false;
    if (page* p = get_page_from_freelist((gfp | __GFP_HARDWALL) & ~__GFP_DIRECT_RECLAIM, order,
                                         ALLOC_WMARK_HIGH | ALLOC_CPUSET, pref, highest_zoneidx, mt,
                                         cpu, nodemask))
        return p;
    alloc_percall::last_failure = AllocFailure::oom;
    // Not for __GFP_RETRY_MAYFAIL or __GFP_THISNODE, nor for an allocation limited to the zones
    // below ZONE_NORMAL ("the OOM killer does not needlessly kill tasks for lowmem").
    if ((gfp & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE)) ||
        highest_zoneidx < layout.index_of(zone_type::NORMAL) || !oom_)
        return nullptr;
    // oom_lock, tried: "if that fails, somebody else is making progress for us" (another CPU
    // is in the OOM killer), and the allocation is retried.
    if (!oom_lock_.trylock()) {
        progress = true;
        return nullptr;
    }
    const OomResult r = oom_->out_of_memory(gfp, order, cpu, nodemask);
    oom_lock_.unlock();
    progress = r == OomResult::killed ||
               (r == OomResult::victim_pending && oom_->current_is_oom_victim(cpu));
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Freeing

// __find_buddy_pfn(): the buddy of the 2^order block at `pfn`, and the 2^(order+1) block the two
// make, which starts at the lower of them.
constexpr Pfn find_buddy_pfn(Pfn pfn, unsigned order) {
    return Pfn{pfn.value ^ (uint64_t{1} << order)};
}
constexpr Pfn combined_pfn(Pfn buddy, Pfn pfn) {
    return Pfn{buddy.value & pfn.value};
}

// __free_one_page(): merge with free buddies, then put the block at the head of its list, or at
// the tail when the next-larger buddy is free too (buddy_merge_likely) or the caller asks.
void PageAllocator::__free_one_page(Pfn pfn, zone& z, unsigned order, unsigned mt, bool to_tail) {
    auto page_is_buddy = [&](Pfn buddy_pfn, unsigned o) {
        if (!mm_.pfn_valid(buddy_pfn)) return false;
        const page& b = mm_[buddy_pfn];
        return b.test(PG_buddy) && b.private_ == o && b.nid() == z.nid && b.zone_idx() == z.idx;
    };
    if (mt != MIGRATE_ISOLATE) z.vm_stat[NR_FREE_PAGES] += int64_t{1} << order;
    unsigned max_order = std::min(MAX_ORDER - 1, pageblock_order);
    Pfn buddy_pfn;
    while (true) {
        while (order < max_order) {
            buddy_pfn = find_buddy_pfn(pfn, order);
            if (!page_is_buddy(buddy_pfn, order)) goto done_merging;
            del_page_from_free_list(buddy_pfn, z, order, unsigned(mm_[buddy_pfn].index));
            pfn = combined_pfn(buddy_pfn, pfn);
            order++;
        }
        if (order < MAX_ORDER - 1) {
            // Merging above pageblock_order only between mergeable migratetypes.
            buddy_pfn = find_buddy_pfn(pfn, order);
            if (!page_is_buddy(buddy_pfn, order)) goto done_merging;
            const unsigned buddy_mt = get_pageblock_migratetype(buddy_pfn);
            if (mt != buddy_mt &&
                (!migratetype_is_mergeable(mt) || !migratetype_is_mergeable(buddy_mt)))
                goto done_merging;
            max_order = order + 1;
            continue;
        }
        break;
    }
done_merging:
    if (!to_tail && order < MAX_ORDER - 2) {
        // buddy_merge_likely(): is the buddy of the combined block free at order + 1?
        const Pfn combined = combined_pfn(find_buddy_pfn(pfn, order), pfn);
        to_tail = page_is_buddy(find_buddy_pfn(combined, order + 1), order + 1);
    }
    add_to_free_list(pfn, z, order, mt, to_tail);
    mm_[pfn].index = mt;
}

void PageAllocator::free_boot_block(Pfn pfn, unsigned order) {
    page& p = mm_[pfn];
    zone& z = nodes[p.nid()].node_zones[p.zone_idx()];
    // __free_pages_core() frees boot memory with FPI_TO_TAIL; it counts in pgfree.
    const LockGuard<spinlock_t> locked(z.lock);
    __free_one_page(pfn, z, order, get_pageblock_migratetype(pfn), true);
    events_.pgfree += uint64_t{1} << order;
}

// free_pcppages_bulk(): return `count` pages to the buddy lists, round-robin over the lists
// starting after `pindex`, oldest (tail) first.
void PageAllocator::free_pcppages_bulk(zone& z, int64_t count, per_cpu_pages& pcp,
                                       unsigned pindex) {
    count = std::min(pcp.count, count);
    stats_.pcp_bulk_frees++;
    const LockGuard<spinlock_t> locked(z.lock);
    int p = int(pindex) - 1;
    while (count > 0) {
        page_list* list;
        do {
            if (++p > int(NR_PCP_LISTS) - 1) p = 0;
            list = &pcp.lists[p];
        } while (list->empty());
        const unsigned order = unsigned(p) / MIGRATE_PCPTYPES;
        const int64_t nr_pages = int64_t{1} << order;
        do {
            const Pfn pfn = list->pop_tail(mm_);
            const unsigned mt = unsigned(mm_[pfn].index);
            count -= nr_pages;
            pcp.count -= nr_pages;
            __free_one_page(pfn, z, order, mt, false);
        } while (count > 0 && !list->empty());
    }
}

// drain_pages_zone(): any CPU's list, under its lock (6.0 and later drain another CPU's lists
// from the draining CPU under pcp->lock, no IPI).
void PageAllocator::drain_zone_pages(zone& z, per_cpu_pages& pcp) {
    const LockGuard<spinlock_t> locked(pcp.lock);
    if (pcp.count) free_pcppages_bulk(z, pcp.count, pcp, 0);
}

void PageAllocator::drain_all_pages() {
    for (auto& n : nodes)
        for (auto& z : n.node_zones)
            for (auto& pcp : z.pcp) drain_zone_pages(z, pcp);
}

void PageAllocator::set_pcp_enabled(bool on) {
    if (!on) drain_all_pages();
    pcp_enabled_ = on;
}

// free_unref_page() / free_unref_page_commit()
void PageAllocator::free_unref_page(Pfn pfn, zone& z, unsigned order, unsigned cpu) {
    const unsigned block_mt = get_pageblock_migratetype(pfn);
    unsigned mt = block_mt;
    mm_[pfn].index = mt; // set_pcppage_migratetype()
    if (mt >= MIGRATE_PCPTYPES) {
        if (mt == MIGRATE_ISOLATE) {
            const LockGuard<spinlock_t> locked(z.lock); // free_one_page()
            __free_one_page(pfn, z, order, mt, false);
            return;
        }
        mt = MIGRATE_MOVABLE;
    }
    per_cpu_pages& pcp = z.pcp[cpu];
    // pcp_spin_trylock(): another CPU draining this list sends the page to the buddy lists.
    if (!pcp.lock.trylock()) {
        const LockGuard<spinlock_t> locked(z.lock); // free_one_page()
        __free_one_page(pfn, z, order, block_mt, false);
        return;
    }
    const LockGuard<spinlock_t> locked(pcp.lock, AlreadyLocked{});
    const unsigned pindex = order_to_pindex(mt, order);
    pcp.lists[pindex].add_head(mm_, pfn);
    pcp.count += int64_t{1} << order;
    // Free everything if batch freeing high-order pages (free_high); nr_pcp_high().
    const bool free_high = pcp.free_factor && order && order <= PAGE_ALLOC_COSTLY_ORDER;
    const int64_t high = (!pcp.high || free_high) ? 0 : pcp.high;
    if (pcp.count >= high) {
        // nr_pcp_free()
        const int64_t batch = pcp.batch;
        int64_t nr;
        if (free_high) {
            nr = pcp.count;
        } else if (high < batch) {
            nr = 1;
        } else {
            // Leave at least pcp->batch pages on the list; double the number freed each time
            // frees run on without an allocation in between.
            const int64_t min_nr_free = batch, max_nr_free = high - batch;
            int64_t b = batch << pcp.free_factor;
            if (b < max_nr_free) pcp.free_factor++;
            nr = std::min(std::max(b, min_nr_free), max_nr_free); // the kernel's clamp()
        }
        free_pcppages_bulk(z, nr, pcp, pindex);
    }
}

void PageAllocator::free_pages(page* p, unsigned order, unsigned cpu) {
    const Pfn pfn = mm_.page_to_pfn(p);
    // The reference dropped atomically (another CPU may drop another one at once); only the
    // thread that drops the last one frees.
    if (p->test(PG_buddy) || p->test(PG_reserved) || p->_refcount <= 0)
        throw KernelBug("bad_page: freeing pfn " + to_string(pfn) +
                        " which is not an allocated page");
    if (--p->_refcount > 0) return;
    free_frozen_pages(p, order, cpu);
}

void PageAllocator::free_frozen_pages(page* p, unsigned order, unsigned cpu) {
    const Pfn pfn = mm_.page_to_pfn(p);
    if (p->test(PG_slab) || p->_mapcount != 0)
        throw KernelBug("bad_page: freeing pfn " + to_string(pfn) +
                        " which is still a slab page or mapped");
    if (p->test(PG_ksm)) ksm_pages_freed_++;
    p->clear_all_flags();
    p->mapping = 0;
    zone& z = page_zone(p);
    events_.pgfree += uint64_t{1} << order;
    if (pcp_enabled_ && order <= PAGE_ALLOC_COSTLY_ORDER && cpu < z.pcp.size())
        free_unref_page(pfn, z, order, cpu);
    else {
        const LockGuard<spinlock_t> locked(z.lock); // free_one_page()
        __free_one_page(pfn, z, order, get_pageblock_migratetype(pfn), false);
    }
}

// ---------------------------------------------------------------------------------------------
// Inspection

uint64_t PageAllocator::totalram_pages() const {
    uint64_t n = 0;
    for (const auto& nd : nodes)
        for (const auto& z : nd.node_zones) n += z.managed_pages;
    return n;
}

uint64_t PageAllocator::nr_free_pages() const {
    uint64_t n = 0;
    for (const auto& node : nodes)
        for (const auto& z : node.node_zones) n += uint64_t(z.vm_stat[NR_FREE_PAGES]);
    return n;
}

uint64_t PageAllocator::nr_pcp_pages() const {
    uint64_t n = 0;
    for (const auto& node : nodes)
        for (const auto& z : node.node_zones)
            for (const auto& pcp : z.pcp) n += uint64_t(pcp.count);
    return n;
}

std::string PageAllocator::audit_free_lists(std::vector<OwnedFrames>& owned) const {
    for (const auto& node : nodes) {
        for (const auto& z : node.node_zones) {
            const std::string where =
                "node " + std::to_string(z.nid) + " zone " + std::string(zone_type_name(z.type));
            int64_t free_pages = 0;
            for (unsigned order = 0; order < MAX_ORDER; order++) {
                uint64_t blocks = 0;
                for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++) {
                    std::string err;
                    z.free_area[order].free_list[mt].for_each(mm_, [&](Pfn pfn) {
                        const page& p = mm_[pfn];
                        if (!p.test(PG_buddy) || p.test(PG_reserved) || p.private_ != order ||
                            p.index != mt || p.nid() != z.nid || p.zone_idx() != z.idx ||
                            !z.spans(pfn) || (pfn.value & ((uint64_t{1} << order) - 1)))
                            err = where + ": bad free block at pfn " + to_string(pfn);
                        owned.push_back(
                            {pfn, pfn + (uint64_t{1} << order), "buddy free list", order});
                        blocks++;
                    });
                    if (!err.empty()) return err;
                }
                if (blocks != z.free_area[order].nr_free)
                    return where + ": nr_free[" + std::to_string(order) + "] is " +
                           std::to_string(z.free_area[order].nr_free) + " but the lists hold " +
                           std::to_string(blocks);
                free_pages += int64_t(blocks) << order;
            }
            if (free_pages != z.vm_stat[NR_FREE_PAGES])
                return where + ": NR_FREE_PAGES is " + std::to_string(z.vm_stat[NR_FREE_PAGES]) +
                       " but the free lists hold " + std::to_string(free_pages);
            for (const auto& pcp : z.pcp) {
                int64_t n = 0;
                for (unsigned i = 0; i < NR_PCP_LISTS; i++)
                    pcp.lists[i].for_each(mm_, [&](Pfn pfn) {
                        const unsigned order = i / MIGRATE_PCPTYPES;
                        owned.push_back({pfn, pfn + (uint64_t{1} << order), "pcp list", order});
                        n += int64_t{1} << order;
                    });
                if (n != pcp.count)
                    return where + ": pcp count " + std::to_string(pcp.count) +
                           " but its lists hold " + std::to_string(n);
            }
        }
    }
    return {};
}

// build_zonelists(): for each node, its own managed zones from the highest index down, then
// those of the other nodes in order of distance. All remote nodes are at the same distance on
// mmemu's machines (SLIT 10/20); ties go round from the local node (node n: n+1, n+2, ...),
// which is the order the kernel's node_load balancing gives for equidistant nodes.
void PageAllocator::build_zonelists() {
    const unsigned nr = unsigned(nodes.size());
    for (unsigned nid = 0; nid < nr; nid++) {
        auto& zl = nodes[nid].zonelist;
        zl.clear();
        for (unsigned k = 0; k < nr; k++) {
            const unsigned other = (nid + k) % nr;
            for (int i = MAX_NR_ZONES - 1; i >= 0; i--)
                if (nodes[other].node_zones[i].managed()) zl.push_back({other, unsigned(i)});
        }
    }
    for (gfp_t g = 0; g <= GFP_ZONEMASK; g++)
        gfp_zone_idx_[g] = uint8_t(layout.index_of(gfp_zone_type(g, layout)));
    // alloc_flags_nofragment(): where ZONE_DMA32 exists, an allocation whose preferred zone is
    // ZONE_NORMAL avoids fragmenting pageblocks (on NUMA only if the node's DMA32 is populated).
    zonelist_start_.assign(nr, {});
    for (unsigned nid = 0; nid < nr; nid++) {
        const auto& zl = nodes[nid].zonelist;
        for (unsigned hz = 0; hz < MAX_NR_ZONES; hz++) {
            zonelist_start& st = zonelist_start_[nid][hz];
            for (size_t i = 0; i < zl.size(); i++)
                if (zl[i].zone_idx <= hz) {
                    st.first = int16_t(i);
                    break;
                }
            if (st.first < 0 || layout.types[1] != zone_type::DMA32) continue;
            const zoneref& zr = zl[size_t(st.first)];
            st.nofragment = layout.types[zr.zone_idx] == zone_type::NORMAL &&
                            (nr == 1 || nodes[zr.nid].node_zones[zr.zone_idx - 1].populated());
        }
    }
    numa_.assign(nr, numa_stat{});
}

} // namespace mmemu
