// The zoned buddy allocator (mm/page_alloc.c, Linux 6.1 semantics): free_area lists per order and
// migratetype, split on allocation (expand), merge on free (__free_one_page), pageblock
// migratetypes with the fallback and steal rules, per-CPU page lists, watermark checks with
// lowmem_reserve, the zonelist walk and a slow path that ends in a counted failure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "emulator/phys_mem.h"
#include "mmcore/frame_audit.h"
#include "mmcore/gfp.h"
#include "mmcore/kernel_atomic.h"
#include "mmcore/mem_map.h"
#include "mmcore/mmzone.h"
#include "mmcore/vmstat.h"

namespace mmemu {

// alloc_flags (mm/internal.h), those mmemu uses.
enum : unsigned {
    ALLOC_WMARK_MIN = WMARK_MIN,
    ALLOC_WMARK_LOW = WMARK_LOW,
    ALLOC_WMARK_HIGH = WMARK_HIGH,
    ALLOC_NO_WATERMARKS = 0x04,
    ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1,
    ALLOC_OOM = 0x08,
    ALLOC_HARDER = 0x10,
    ALLOC_HIGH = 0x20, // __GFP_HIGH
    ALLOC_CPUSET = 0x40,
    ALLOC_NOFRAGMENT = 0x100,
    ALLOC_KSWAPD = 0x800, // __GFP_KSWAPD_RECLAIM
};

// Why the last allocation failed (for the statistics; the kernel would warn or OOM).
enum class AllocFailure : uint8_t { none, watermark, no_free_block, oom };
// Why the calling thread's last allocation failed (PageAllocator::last_failure()): thread-local,
// as each CPU's thread allocates on its own in the concurrent mode.
namespace alloc_percall {
inline thread_local AllocFailure last_failure = AllocFailure::none;
} // namespace alloc_percall

// What out_of_memory() did for an allocation that reclaim could not satisfy.
enum class OomResult : uint8_t {
    killed,         // a victim was killed and its memory freed: retry the allocation
    victim_pending, // the allocating task is itself a victim (it may dip into the reserves)
                    // or a victim is still exiting
    no_victim,      // no process could be killed (Linux panics here; mmemu fails the allocation)
    not_invoked,    // an allocation the OOM killer does not serve (GFP_NOFS)
};

// The OOM killer as the page allocator calls it (mm/oom_kill.c; AddressSpaces implements it,
// System wires it). Without one, the slow path's last step finds nothing to kill.
class OomKiller {
public:
    // out_of_memory() for an allocation on `cpu` (whose current task is the allocating one),
    // limited to the nodes of `nodemask` (a memory policy's).
    virtual OomResult out_of_memory(gfp_t gfp, unsigned order, unsigned cpu, uint64_t nodemask) = 0;
    // tsk_is_oom_victim(current): the task running on `cpu` was chosen by the OOM killer.
    virtual bool current_is_oom_victim(unsigned cpu) const = 0;

protected:
    ~OomKiller() = default;
};

// How the kernel reaches a highmem frame's bytes (kmap_local: AddressSpaces implements it on
// 32-bit machines, System wires it). Without one, every frame is cleared directly.
class Highmem {
public:
    // clear_highpage(): zero a ZONE_HIGHMEM frame through a temporary mapping on `cpu`.
    virtual void clear_highpage(Pfn pfn, unsigned cpu) = 0;

protected:
    ~Highmem() = default;
};

struct PageAllocatorStats {
    katomic_u64 alloc_success = 0;
    katomic_u64 alloc_fail = 0;
    katomic_u64 alloc_fail_costly = 0; // order > PAGE_ALLOC_COSTLY_ORDER
    katomic_u64 slowpath = 0;          // allocations that missed the low watermark fast path
    katomic_u64 extfrag_events = 0;    // fallbacks into another migratetype (mm_page_alloc_extfrag)
    katomic_u64 pageblock_steals = 0;  // of those, whole pageblocks claimed
    katomic_u64 pcp_refills = 0;       // rmqueue_bulk calls
    katomic_u64 pcp_bulk_frees = 0;    // free_pcppages_bulk calls
    katomic_u64 highatomic_reserved = 0;
};

// Every node: no nodemask.
inline constexpr uint64_t NODEMASK_ALL = ~uint64_t{0};

class PageAllocator {
public:
    PageAllocator(MemMap& mem_map, PhysicalMemory& ram, Arch arch, unsigned nr_cpus);

    // --- the public API (include/linux/gfp.h) ---
    // Returns the first page of a 2^order block, or nullptr (a counted failure). `nid` < 0
    // means the node of `cpu`. `nodemask` (a bit per node) limits the nodes the allocation may
    // use, as __alloc_pages()'s nodemask does (a memory policy's): the preferred zone is the
    // first of the zonelist of `nid` in it.
    page* alloc_pages(gfp_t gfp, unsigned order, int nid, unsigned cpu,
                      uint64_t nodemask = NODEMASK_ALL);
    // __free_pages(): drops the reference taken by alloc_pages and frees on the last one.
    // Throws KernelBug for a page that is not allocated (bad_page()).
    void free_pages(page* p, unsigned order, unsigned cpu);
    // free_frozen_pages(): frees a page whose last reference its caller has just dropped.
    void free_frozen_pages(page* p, unsigned order, unsigned cpu);
    // drain_all_pages(): give every pcp list back to the buddy lists.
    void drain_all_pages();
    // percpu page lists on/off (off drains them and sends every free to the buddy lists).
    void set_pcp_enabled(bool on);
    bool pcp_enabled() const { return pcp_enabled_; }
    // The OOM killer the slow path invokes (nullptr: none).
    void set_oom_killer(OomKiller* k) { oom_ = k; }
    // The kmap_local path for zeroing highmem pages (nullptr: none, 64-bit).
    void set_highmem(Highmem* h) { highmem_ = h; }

    // --- set-up (mm_init.cpp, watermark.cpp) ---
    std::vector<pglist_data> nodes;
    ZoneLayout layout;
    unsigned pageblock_order;
    std::vector<unsigned> cpu_to_node;
    // __free_pages_core(): a boot-time free of a block that was never allocated.
    void free_boot_block(Pfn pfn, unsigned order);
    // memmap_init_range(): every pageblock starts MIGRATE_UNMOVABLE (zeroed pageblock flags) and
    // becomes MIGRATE_MOVABLE when its first pfn is memory inside a zone (see mm_init.cpp).
    void init_pageblocks(uint64_t nr_pages);
    void set_pageblock_movable_at_init(Pfn pfn) { set_pageblock_migratetype(pfn, MIGRATE_MOVABLE); }
    // The zone ZONE_MOVABLE was carved from (movable_zone); ZONE_MOVABLE is highmem when it is
    // ZONE_HIGHMEM (is_highmem_idx()).
    zone_type movable_zone = zone_type::NORMAL;
    bool is_highmem(const zone& z) const {
        return z.type == zone_type::HIGHMEM ||
               (z.type == zone_type::MOVABLE && movable_zone == zone_type::HIGHMEM);
    }
    void build_zonelists();

    // --- inspection ---
    MemMap& mem_map() { return mm_; }
    const MemMap& mem_map() const { return mm_; }
    zone& page_zone(const page* p) { return nodes[p->nid()].node_zones[p->zone_idx()]; }
    unsigned get_pageblock_migratetype(Pfn pfn) const {
        return pageblock_mt_[pfn.value >> pageblock_order];
    }
    uint64_t pageblock_nr_pages() const { return uint64_t{1} << pageblock_order; }
    Pfn pageblock_start_pfn(Pfn pfn) const { return Pfn{pfn.value & ~(pageblock_nr_pages() - 1)}; }
    uint64_t nr_pageblocks() const { return pageblock_mt_.size(); }
    const vm_event_state& events() const { return events_; }
    const numa_stat& numa(unsigned nid) const { return numa_[nid]; }
    // NUMA_INTERLEAVE_HIT: an interleaved page landed on the node its policy chose.
    void count_interleave_hit(unsigned nid) { numa_[nid].numa_interleave++; }
    // gfp_zone(): the index of the highest zone `gfp` may use.
    unsigned gfp_zone_index(gfp_t gfp) const { return gfp_zone_idx_[gfp & GFP_ZONEMASK]; }
    const PageAllocatorStats& stats() const { return stats_; }
    AllocFailure last_failure() const { return alloc_percall::last_failure; }
    uint64_t nr_free_pages() const; // Σ NR_FREE_PAGES (buddy lists only, as the kernel)
    // KSM pages freed so far (their last reference dropped): KSM's stable nodes of them went
    // stale at that moment (ksm/ caches what it knows of its chains against this).
    uint64_t ksm_pages_freed() const { return ksm_pages_freed_; }
    uint64_t totalram_pages() const; // Σ managed_pages (totalram_pages())
    uint64_t nr_pcp_pages() const;
    // Checks the lists against the pages and counters; "" when consistent. Appends every free
    // block (buddy and pcp lists) to `owned`.
    std::string audit_free_lists(std::vector<OwnedFrames>& owned) const;

private:
    katomic_u64 ksm_pages_freed_ = 0;
    // mm/page_alloc.c internals, named as there.
    page* get_page_from_freelist(gfp_t gfp, unsigned order, unsigned alloc_flags,
                                 const pglist_data& pref_node, unsigned highest_zoneidx,
                                 migratetype mt, unsigned cpu, uint64_t nodemask);
    page* alloc_pages_slowpath(gfp_t gfp, unsigned order, const pglist_data& pref,
                               unsigned highest_zoneidx, migratetype mt, unsigned cpu,
                               uint64_t nodemask);
    page* alloc_pages_may_oom(gfp_t gfp, unsigned order, const pglist_data& pref,
                              unsigned highest_zoneidx, migratetype mt, unsigned cpu,
                              uint64_t nodemask, bool& progress);
    page* rmqueue(zone& preferred, zone& z, unsigned order, unsigned alloc_flags, migratetype mt,
                  unsigned cpu);
    page* rmqueue_pcplist(zone& z, unsigned order, migratetype mt, unsigned alloc_flags,
                          unsigned cpu);
    unsigned rmqueue_bulk(zone& z, unsigned order, unsigned count, page_list& list, migratetype mt,
                          unsigned alloc_flags);
    Pfn __rmqueue(zone& z, unsigned order, migratetype mt, unsigned alloc_flags);
    Pfn __rmqueue_smallest(zone& z, unsigned order, unsigned mt);
    bool __rmqueue_fallback(zone& z, unsigned order, migratetype start_mt, unsigned alloc_flags);
    int find_suitable_fallback(const free_area& area, unsigned order, unsigned mt,
                               bool only_stealable, bool& can_steal) const;
    void steal_suitable_fallback(zone& z, Pfn pfn, migratetype start_type, bool whole_block);
    uint64_t move_freepages_block(zone& z, Pfn pfn, unsigned mt, uint64_t* movable_pages);
    void expand(zone& z, Pfn pfn, unsigned low, unsigned high, unsigned mt);
    void __free_one_page(Pfn pfn, zone& z, unsigned order, unsigned mt, bool to_tail);
    void free_unref_page(Pfn pfn, zone& z, unsigned order, unsigned cpu);
    void free_pcppages_bulk(zone& z, int64_t count, per_cpu_pages& pcp, unsigned pindex);
    void drain_zone_pages(zone& z, per_cpu_pages& pcp);
    bool zone_watermark_fast(const zone& z, unsigned order, uint64_t mark, unsigned highest_zoneidx,
                             unsigned alloc_flags) const;
    bool __zone_watermark_ok(const zone& z, unsigned order, uint64_t mark, unsigned highest_zoneidx,
                             unsigned alloc_flags, int64_t free_pages) const;
    void prep_new_page(Pfn pfn, zone& z, unsigned order, gfp_t gfp, unsigned cpu);
    void reserve_highatomic_pageblock(Pfn pfn, zone& z);
    bool unreserve_highatomic_pageblock(const pglist_data& pref_node, unsigned highest_zoneidx,
                                        migratetype mt, bool force,
                                        uint64_t nodemask = NODEMASK_ALL);
    void zone_statistics(const zone& preferred, const zone& z, unsigned cpu);

    void add_to_free_list(Pfn pfn, zone& z, unsigned order, unsigned mt, bool tail);
    void del_page_from_free_list(Pfn pfn, zone& z, unsigned order, unsigned mt);
    void set_pageblock_migratetype(Pfn pfn, unsigned mt) {
        pageblock_mt_[pfn.value >> pageblock_order] = uint8_t(mt);
    }
    page_list& free_list_of(zone& z, unsigned order, unsigned mt) {
        return z.free_area[order].free_list[mt];
    }

    // Computed by build_zonelists() so an allocation does no searching: the zone index
    // gfp_zone() gives for each combination of zone modifiers, and for every node and highest
    // zone index where the zonelist walk starts (first_zones_zonelist(), -1: no zone) and
    // whether alloc_flags_nofragment() applies.
    struct zonelist_start {
        int16_t first = -1;
        bool nofragment = false;
    };
    uint8_t gfp_zone_idx_[GFP_ZONEMASK + 1] = {};
    std::vector<std::array<zonelist_start, MAX_NR_ZONES>> zonelist_start_;
    // first_zones_zonelist() with a nodemask, and alloc_flags_nofragment()'s test on the zone it
    // finds.
    zonelist_start first_zone(unsigned nid, unsigned highest_zoneidx, uint64_t nodemask) const;

    MemMap& mm_;
    PhysicalMemory& ram_;
    bool pcp_enabled_ = true;
    std::vector<uint8_t> pageblock_mt_;
    vm_event_state events_;
    std::vector<numa_stat> numa_;
    PageAllocatorStats stats_;
    OomKiller* oom_ = nullptr;
    kernel_mutex oom_lock_{LockClass::oom_lock};
    Highmem* highmem_ = nullptr;
};

} // namespace mmemu
