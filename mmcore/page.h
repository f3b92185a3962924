// struct page: one per physical frame, in the flat mem_map array (include/linux/mm_types.h).
//
// Differences from the kernel's layout, chosen for a compact host array:
//  - PageBuddy is a page_type in Linux 6.x and PageAnon/PageKsm are low bits of ->mapping; here
//    all three are flag bits, so every page state is one test of ->flags.
//  - List links are pfn indices (32 bits each) instead of pointers.
//  - mem_map is lazily backed host memory that reads as zero, so an all-zero entry is a valid
//    free, unmapped, unlinked page.
//  - The zone and node of a page live in the top bits of ->flags as in the kernel
//    (page_zonenum/page_to_nid); they are written when a page becomes a buddy head or is
//    allocated, which are the only states in which they are read.
#pragma once

#include <cstdint>

#include "mmcore/kernel_atomic.h"

namespace mmemu {

enum pageflags : unsigned {
    PG_locked,
    PG_referenced,
    PG_uptodate,
    PG_dirty,
    PG_lru,
    PG_active,
    PG_slab,
    PG_reserved,
    PG_private,
    PG_writeback,
    PG_head,
    PG_swapbacked,
    PG_unevictable,
    PG_mlocked,
    PG_buddy,          // page_type PG_buddy in Linux: the first page of a free buddy block
    PG_anon,           // PAGE_MAPPING_ANON in Linux
    PG_ksm,            // PAGE_MAPPING_KSM in Linux
    PG_anon_exclusive, // PageAnonExclusive: mapped by one process only, may be reused on a write
    PG_lazyfree_batch, // mmemu: waiting in a CPU's lru_lazyfree batch (Linux: off the LRU then)
    __NR_PAGEFLAGS
};

inline constexpr unsigned ZONEID_SHIFT = 48; // zone index within the node: 3 bits
inline constexpr unsigned NODEID_SHIFT = 51; // node id: 6 bits (MAX_NUMNODES 64)
inline constexpr uint64_t ZONEID_MASK = 0x7;
inline constexpr uint64_t NODEID_MASK = 0x3f;
inline constexpr uint64_t PAGEFLAGS_MASK = (uint64_t{1} << __NR_PAGEFLAGS) - 1;

struct page {
    uint64_t flags = 0;
    uint32_t lru_next = 0; // buddy free_list / pcp list links (pfns; LIST_NIL ends a list)
    uint32_t lru_prev = 0;
    // anon: anon_vma; KSM: the stable node; slab: the kmem_cache's id (page_set_cache). Atomic:
    // ksmd reads a page's mapping without a reference (READ_ONCE in ksm_get_folio()).
    kernel_atomic<uint64_t> mapping = 0;
    uint64_t index = 0; // anon: linear page index; slab: the slab descriptor's id (page_set_slab)
    uint64_t private_ = 0; // buddy: the order of the free block (set_buddy_order)
    // _refcount, _mapcount and the flag bits are atomic, as in Linux (atomic_t, set_bit()): a
    // page shared by fork or KSM changes under different PTE locks on different CPUs.
    kernel_atomic<int32_t> _refcount = 0;
    // The number of page table entries mapping the page (page_mapcount()). Linux stores this
    // minus one so that a fresh page reads -1; here a never-written (zero) entry must be a
    // valid unmapped page, so the count itself is stored.
    kernel_atomic<int32_t> _mapcount = 0;

    bool test(pageflags f) const { return katomic::read(flags) >> f & 1; }
    void set(pageflags f) { katomic::fetch_or(flags, uint64_t{1} << f); }
    void clear(pageflags f) { katomic::fetch_and(flags, ~(uint64_t{1} << f)); }

    unsigned zone_idx() const {
        return unsigned(katomic::read(flags) >> ZONEID_SHIFT & ZONEID_MASK);
    }
    unsigned nid() const { return unsigned(katomic::read(flags) >> NODEID_SHIFT & NODEID_MASK); }
    // Of a page its caller owns alone (being allocated or freed); other CPUs may still read the
    // word (a buddy check of a neighbour), so it is stored whole.
    void set_zone(unsigned nid, unsigned zone_idx) {
        katomic::set(flags, (katomic::read(flags) & PAGEFLAGS_MASK) |
                                uint64_t(zone_idx) << ZONEID_SHIFT | uint64_t(nid) << NODEID_SHIFT);
    }
    void clear_all_flags() { katomic::set(flags, katomic::read(flags) & ~PAGEFLAGS_MASK); }
    int mapcount() const { return _mapcount; }
};

static_assert(sizeof(page) <= 64, "struct page must stay at most 64 bytes");

} // namespace mmemu
