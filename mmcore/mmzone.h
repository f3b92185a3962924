// Nodes, zones, free areas and per-CPU page lists (include/linux/mmzone.h).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "emulator/arch.h"
#include "mmcore/locks.h"
#include "mmcore/page_list.h"

namespace mmemu {

// MAX_ORDER 11 as in seed 003 (orders 0..10; Linux 6.4+ calls 10 MAX_PAGE_ORDER).
inline constexpr unsigned MAX_ORDER = 11;
inline constexpr unsigned NR_PAGE_ORDERS = MAX_ORDER;
inline constexpr unsigned PAGE_ALLOC_COSTLY_ORDER = 3;

enum migratetype : uint8_t {
    MIGRATE_UNMOVABLE,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_PCPTYPES, // the number of types on the pcp lists
    MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES,
    MIGRATE_ISOLATE,
    MIGRATE_TYPES
};
std::string_view migratetype_name(unsigned mt); // "Unmovable", ... as /proc/pagetypeinfo

// Zone types; which exist depends on the arch (ZoneLayout).
enum class zone_type : uint8_t { DMA, DMA32, NORMAL, HIGHMEM, MOVABLE };
std::string_view zone_type_name(zone_type t); // "DMA", "DMA32", "Normal", "HighMem", "Movable"

inline constexpr unsigned MAX_NR_ZONES = 4; // both x86 configurations have four zones

// The zones of one kernel configuration, in zone-index order:
//   x86_64:      DMA, DMA32, Normal, Movable
//   i386 / PAE:  DMA, Normal, HighMem, Movable
struct ZoneLayout {
    std::array<zone_type, MAX_NR_ZONES> types;
    static ZoneLayout for_arch(Arch a);
    // zone index of a type; a type the layout lacks maps as gfp_zone() folds it.
    unsigned index_of(zone_type t) const;
};

enum zone_watermarks { WMARK_MIN, WMARK_LOW, WMARK_HIGH, WMARK_PROMO, NR_WMARK };

struct free_area {
    page_list free_list[MIGRATE_TYPES];
    uint64_t nr_free = 0; // blocks of this order, all types
};

// Per-CPU page lists: orders 0..PAGE_ALLOC_COSTLY_ORDER, one list per pcp migratetype
// (order_to_pindex). The THP lists of Linux are omitted (no THP yet).
inline constexpr unsigned NR_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1);
inline unsigned order_to_pindex(unsigned mt, unsigned order) {
    return MIGRATE_PCPTYPES * order + mt;
}

// The lock (6.0 and later): the owning CPU takes it with a trylock (pcp_spin_trylock()) to
// allocate or free through the lists, and another CPU takes it to drain them
// (drain_pages_zone()); the owner that finds it taken goes to the buddy lists instead.
struct per_cpu_pages {
    spinlock_t lock{LockClass::pcp_lock};
    int64_t count = 0; // pages (not blocks) on the lists
    int64_t high = 0;
    int64_t batch = 0;
    int free_factor = 0; // doubles the bulk free while frees run without allocations
    page_list lists[NR_PCP_LISTS];
};

// Zone counters (enum zone_stat_item), those mmemu maintains.
enum zone_stat_item {
    NR_FREE_PAGES,
    NR_ZONE_LRU_BASE,
    NR_ZONE_INACTIVE_ANON = NR_ZONE_LRU_BASE,
    NR_ZONE_ACTIVE_ANON,
    NR_ZONE_INACTIVE_FILE,
    NR_ZONE_ACTIVE_FILE,
    NR_ZONE_UNEVICTABLE,
    NR_ZONE_WRITE_PENDING,
    NR_MLOCK,
    NR_BOUNCE,
    NR_FREE_CMA_PAGES,
    NR_VM_ZONE_STAT_ITEMS
};
std::string_view zone_stat_name(unsigned item);

struct zone {
    spinlock_t lock{LockClass::zone_lock}; // the free lists (free_area) and their counts
    zone_type type = zone_type::NORMAL;
    unsigned idx = 0; // index within the node (zone_idx)
    unsigned nid = 0;
    uint64_t zone_start_pfn = 0;
    uint64_t spanned_pages = 0;
    uint64_t present_pages = 0;
    uint64_t managed_pages = 0;
    uint64_t _watermark[NR_WMARK] = {};
    uint64_t watermark_boost = 0;
    uint64_t nr_reserved_highatomic = 0;
    int64_t lowmem_reserve[MAX_NR_ZONES] = {};
    struct free_area free_area[NR_PAGE_ORDERS];
    katomic_s64 vm_stat[NR_VM_ZONE_STAT_ITEMS] = {};
    std::vector<per_cpu_pages> pcp; // one per CPU
    uint64_t pcp_high_min = 0, pcp_high_max = 0;

    uint64_t zone_end_pfn() const { return zone_start_pfn + spanned_pages; }
    bool populated() const { return present_pages != 0; }
    bool managed() const { return managed_pages != 0; }
    bool spans(Pfn pfn) const { return pfn.value >= zone_start_pfn && pfn.value < zone_end_pfn(); }
    uint64_t min_wmark() const { return _watermark[WMARK_MIN] + watermark_boost; }
    uint64_t low_wmark() const { return _watermark[WMARK_LOW] + watermark_boost; }
    uint64_t high_wmark() const { return _watermark[WMARK_HIGH] + watermark_boost; }
    int64_t free_pages() const { return vm_stat[NR_FREE_PAGES]; }
};

struct zoneref {
    unsigned nid;
    unsigned zone_idx;
};

struct pglist_data {
    unsigned node_id = 0;
    uint64_t node_start_pfn = 0;
    uint64_t node_spanned_pages = 0;
    uint64_t node_present_pages = 0;
    zone node_zones[MAX_NR_ZONES];
    unsigned nr_zones = 0; // highest populated zone index + 1
    // The fallback zonelist (ZONELIST_FALLBACK): this node's zones from the highest index down,
    // then the other nodes' in order of distance.
    std::vector<zoneref> zonelist;
};

} // namespace mmemu
