// Buddy allocator, zones, watermarks, fragmentation indices and GFP parsing (mm/page_alloc.c and
// mm/vmstat.c, Linux 6.1), checked against values worked out by hand from the kernel's formulas
// (fact sheets: /tmp/facts/buddy.md). The working is in the comment beside each expected value.
//
// Common hand facts used below (x86_64 machines as mmemu builds them):
//  * e820: usable [0, 0x9fc00), reserved [0x9fc00, 0xa0000) and [0xf0000, 1 MiB), usable
//    [1 MiB, end). memblock.memory trims to whole pages and drops page 0 (trim_bios_range):
//    pfns [1, 0x9f) = [1, 159) (158 pages) and [256, end).
//  * Reserved: [0, 1 MiB) = pfns 0..255 (so all 158 low pages), the kernel image 16 MiB at
//    16 MiB = pfns [4096, 8192), and mem_map: 2 MiB per 128 MiB section, 2 MiB aligned, from
//    the top of each node.
//  * So the DMA zone [1, 4096) always has spanned 4095, present 158 + 3840 = 3998 and managed
//    3840, and its free memory [256, 4096) is released as 256..511 (order 8), 512..1023
//    (order 9), 1024, 2048, 3072 (order 10 each).
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>

#include "mmcore/gfp.h"
#include "mmcore/kernel.h"
#include "mmcore/vmstat.h"
#include "mmcore/watermark.h"
#include "tests/mmcore/test_helpers.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {

// DMA after boot, before anything allocates from it: [0,0,0,0,0,0,0,0,1,1,3] (see above).
const Row kDmaBoot = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3};

page* alloc(Kernel& k, gfp_t gfp, unsigned order, int nid = -1, unsigned cpu = 0) {
    return k.buddy.alloc_pages(gfp, order, nid, cpu);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Boot state

TEST_CASE("boot: 64 MiB x86_64 memblock, zones and DMA buddyinfo", "[buddy][boot]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    Kernel& k = b.k;

    // memblock.memory: [0x1000, 0x9f000) (page 0 dropped, 0x9fc00 rounded down to 0x9f000) and
    // [1 MiB, 64 MiB).
    REQUIRE(k.memblock.memory().size() == 2);
    CHECK(k.memblock.memory()[0].base == 0x1000);
    CHECK(k.memblock.memory()[0].end() == 0x9f000);
    CHECK(k.memblock.memory()[1].base == 0x100000);
    CHECK(k.memblock.memory()[1].end() == 64 * MiB);

    // Reservations: first MiB (pfn 0..255), kernel image [16 MiB, 32 MiB) = pfn [4096, 8192),
    // mem_map: 64 MiB is one 128 MiB section -> 2 MiB, top-down and 2 MiB aligned below 64 MiB:
    // [62 MiB, 64 MiB) = pfn [15872, 16384).
    // Free = memory minus reserved = [256, 4096) and [8192, 15872).
    using R = std::vector<std::pair<uint64_t, uint64_t>>;
    CHECK(k.memblock.free_pfn_ranges() == R{{256, 4096}, {8192, 15872}});
    CHECK(k.memblock.is_reserved_pfn(0));
    CHECK(k.memblock.is_reserved_pfn(255));
    CHECK_FALSE(k.memblock.is_reserved_pfn(256));
    CHECK(k.memblock.is_reserved_pfn(4096));
    CHECK(k.memblock.is_reserved_pfn(8191));
    CHECK_FALSE(k.memblock.is_reserved_pfn(8192));
    CHECK_FALSE(k.memblock.is_reserved_pfn(15871));
    CHECK(k.memblock.is_reserved_pfn(15872));
    CHECK(k.memblock.is_reserved_pfn(16383));

    CHECK(k.layout.max_pfn == 16384);     // 64 MiB / 4 KiB
    CHECK(k.layout.max_low_pfn == 16384); // x86_64: all RAM is lowmem

    // DMA: [1, 4096): spanned 4095, present 158 + 3840 = 3998, managed 3998 - 158 = 3840.
    const zone& dma = b.z(0);
    CHECK(dma.type == zone_type::DMA);
    CHECK(dma.zone_start_pfn == 1);
    CHECK(dma.spanned_pages == 4095);
    CHECK(dma.present_pages == 3998);
    CHECK(dma.managed_pages == 3840);
    // DMA32: [4096, 16384): spanned = present = 12288; managed 12288 - 4096 (image) - 512
    // (mem_map) = 7680.
    const zone& dma32 = b.z(1);
    CHECK(dma32.type == zone_type::DMA32);
    CHECK(dma32.zone_start_pfn == 4096);
    CHECK(dma32.spanned_pages == 12288);
    CHECK(dma32.present_pages == 12288);
    CHECK(dma32.managed_pages == 7680);
    // Normal starts at 4 GiB: empty; no ZONE_MOVABLE without kernelcore=/movablecore=.
    CHECK(b.z(2).present_pages == 0);
    CHECK(b.z(2).managed_pages == 0);
    CHECK(b.z(3).present_pages == 0);
    CHECK(k.layout.totalram_pages == 3840 + 7680);
    CHECK(k.buddy.nodes[0].node_present_pages == 3998 + 12288);

    // Nothing allocates from DMA at boot (GFP_KERNEL prefers DMA32), so its buddyinfo is the
    // boot release of [256, 4096): 256..511 o8, 512..1023 o9, 1024/2048/3072 o10.
    CHECK(buddyinfo(dma) == kDmaBoot);
    CHECK(dma.free_pages() == 256 + 512 + 3 * 1024); // = 3840
    // Zonelist: populated zones from the highest index down: DMA32, DMA.
    REQUIRE(k.buddy.nodes[0].zonelist.size() == 2);
    CHECK(k.buddy.nodes[0].zonelist[0].zone_idx == 1);
    CHECK(k.buddy.nodes[0].zonelist[1].zone_idx == 0);
    CHECK(k.audit({}) == "");
}

TEST_CASE("boot: DMA32 of a 6 GiB machine is released whole (slab boots in Normal)",
          "[buddy][boot]") {
    Booted b(machine(Arch::x86_64, 6 * GiB), no_pcp());
    // DMA32 [4096, 1048576) minus the image [4096, 8192): free [8192, 1048576) =
    // 1040384 pages = 1016 order-10 blocks (8192 is 1024-aligned). mem_map (48 sections ->
    // 96 MiB) sits at the top of Normal, and the slab's boot allocations (GFP_KERNEL) are
    // served by Normal, so DMA32 is untouched.
    CHECK(b.z(1).managed_pages == 1040384);
    CHECK(buddyinfo(b.z(1)) == Row{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1016});
    // Boot frees go to the tail in address order, so the MOVABLE order-10 list starts at 8192.
    const auto l = free_list_pfns(b.k, b.z(1), 10, MIGRATE_MOVABLE);
    REQUIRE(l.size() == 1016);
    CHECK(l.front() == 8192);
    CHECK(l.back() == 1048576 - 1024);
}

// The kernel's memmap_init_range() sets a pageblock's migratetype only when it visits the
// pageblock's first pfn; it walks memblock.memory, which starts at pfn 1, so pageblock 0 keeps
// the zeroed bitmap value 0 = MIGRATE_UNMOVABLE (fact sheet §3.4 and §9: "/proc/pagetypeinfo
// block counts for DMA: Unmovable 1, Movable 7") and the order-8 block 256..511 is freed onto
// the Unmovable list.
TEST_CASE("boot: DMA pageblock 0 stays Unmovable (pfn 0 is not in memblock.memory)",
          "[buddy][boot]") {
    Booted b(machine(Arch::x86_64, 64 * MiB), no_pcp());
    CHECK(b.k.buddy.get_pageblock_migratetype(Pfn{0}) == unsigned(MIGRATE_UNMOVABLE));
    // pageblocks 1..7 (pfn 512..4095) start Movable.
    for (uint64_t pb = 1; pb < 8; pb++)
        CHECK(b.k.buddy.get_pageblock_migratetype(Pfn{pb * 512}) == unsigned(MIGRATE_MOVABLE));
    CHECK(free_list_pfns(b.k, b.z(0), 8, MIGRATE_UNMOVABLE) == std::vector<uint64_t>{256});
    CHECK(free_list_pfns(b.k, b.z(0), 8, MIGRATE_MOVABLE).empty());
}

// ---------------------------------------------------------------------------------------------
// Split and merge

// GFP_DMA order 0 with pcp off, on the untouched DMA zone. GFP_DMA is MIGRATE_UNMOVABLE.
// Kernel: pageblock 0 is Unmovable (previous test), so __rmqueue_smallest(UNMOVABLE) finds the
// order-8 block at 256 and expand() splits it: pfn 256 is returned and the upper halves go back:
// 384 (o7), 320 (o6), 288 (o5), 272 (o4), 264 (o3), 260 (o2), 258 (o1), 257 (o0).
// nr_free: o0..o7 +1 each, o8 1 -> 0: [1,1,1,1,1,1,1,1,0,1,3].
// (With every pageblock Movable instead, the request would fall back: largest order first,
// steal the head order-10 block 1024 whole and return pfn 1024, leaving
// [1,1,1,1,1,1,1,1,2,2,2].)
TEST_CASE("split: GFP_DMA order 0 on a fresh DMA zone takes pfn 256", "[buddy][split]") {
    Booted b(machine(Arch::x86_64, 64 * MiB), no_pcp());
    Kernel& k = b.k;
    REQUIRE(buddyinfo(b.z(0)) == kDmaBoot);
    page* p = alloc(k, GFP_DMA, 0);
    REQUIRE(p != nullptr);
    CHECK(pfn_of(k, p) == 256);
    CHECK(buddyinfo(b.z(0)) == Row{1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 3});
    // Freeing merges 256 with 257, 258, 260, ..., 384 back into the order-8 block (its order-8
    // buddy, pfn 0, is reserved): the boot row again.
    k.buddy.free_pages(p, 0, 0);
    CHECK(buddyinfo(b.z(0)) == kDmaBoot);
    CHECK(k.audit({}) == "");
}

// GFP_DMA order 9 (UNMOVABLE): no Unmovable block of order >= 9 exists (kernel: only the
// order-8 block at 256), so __rmqueue_fallback runs: from order 10 down, order 10 has Movable
// blocks; can_steal (order 10 >= pageblock_order 9); head of the order-10 Movable list = 1024
// (boot frees go to the tail in address order). steal_suitable_fallback: order >= pageblock
// order -> change_pageblock_range marks pageblocks 1024 and 1536 Unmovable and moves the block
// to the Unmovable list. The retry of __rmqueue_smallest(UNMOVABLE, 9) splits it: returns
// 1024..1535, 1536 goes to the order-9 Unmovable list.
// nr_free: o8 1, o9 1 + 1 = 2, o10 3 - 1 = 2.
TEST_CASE("split: GFP_DMA order 9 steals a whole order-10 pageblock pair", "[buddy][split]") {
    Booted b(machine(Arch::x86_64, 64 * MiB), no_pcp());
    Kernel& k = b.k;
    REQUIRE(buddyinfo(b.z(0)) == kDmaBoot);
    const uint64_t steals = k.buddy.stats().pageblock_steals;
    page* p = alloc(k, GFP_DMA, 9);
    REQUIRE(p != nullptr);
    CHECK(pfn_of(k, p) == 1024);
    CHECK(buddyinfo(b.z(0)) == Row{0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2});
    CHECK(k.buddy.get_pageblock_migratetype(Pfn{1024}) == unsigned(MIGRATE_UNMOVABLE));
    CHECK(k.buddy.get_pageblock_migratetype(Pfn{1536}) == unsigned(MIGRATE_UNMOVABLE));
    CHECK(free_list_pfns(k, b.z(0), 9, MIGRATE_UNMOVABLE) == std::vector<uint64_t>{1536});
    CHECK(k.buddy.stats().pageblock_steals == steals + 1);
    CHECK(k.audit({{1024, 9}}) == "");
    // Free: order 9 merges with 1536 (order >= pageblock_order: both pageblocks Unmovable, the
    // same type, so allowed) into the order-10 block 1024 again.
    k.buddy.free_pages(p, 9, 0);
    CHECK(buddyinfo(b.z(0)) == kDmaBoot);
    CHECK(k.audit({}) == "");
}

// Scripted sequence, UNMOVABLE, on an untouched DMA32: a 6 GiB machine (see the boot test:
// DMA32 holds 1016 Movable order-10 blocks, head 8192). GFP_DMA32 = __GFP_DMA32 alone:
// highest zone DMA32, migratetype UNMOVABLE, preferred zone DMA32 (no ALLOC_NOFRAGMENT).
TEST_CASE("split/merge: scripted GFP_DMA32 sequence on a fresh DMA32", "[buddy][split]") {
    Booted b(machine(Arch::x86_64, 6 * GiB), no_pcp());
    Kernel& k = b.k;
    const zone& z = b.z(1);
    REQUIRE(buddyinfo(z) == Row{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1016});

    // 1) order 3: no Unmovable block -> fallback steals the head order-10 Movable block 8192
    //    whole (pageblocks 8192 and 8704 become Unmovable), then expand(3, 10) returns
    //    8192..8199 and frees 8704 o9, 8448 o8, 8320 o7, 8256 o6, 8224 o5, 8208 o4, 8200 o3.
    page* a3 = alloc(k, GFP_DMA32, 3);
    REQUIRE(a3);
    CHECK(pfn_of(k, a3) == 8192);
    CHECK(buddyinfo(z) == Row{0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1015});
    // 2) order 0: smallest Unmovable block >= 0 is 8200 (o3): returns 8200, frees 8204 o2,
    //    8202 o1, 8201 o0.
    page* a0 = alloc(k, GFP_DMA32, 0);
    REQUIRE(a0);
    CHECK(pfn_of(k, a0) == 8200);
    CHECK(buddyinfo(z) == Row{1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1015});
    // 3) order 5: the order-5 Unmovable block 8224, no split.
    page* a5 = alloc(k, GFP_DMA32, 5);
    REQUIRE(a5);
    CHECK(pfn_of(k, a5) == 8224);
    CHECK(buddyinfo(z) == Row{1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1015});
    CHECK(k.audit({{8192, 3}, {8200, 0}, {8224, 5}}) == "");

    // Free in another order.
    // a) 8192 o3: its buddy 8200 is allocated -> stays order 3.
    k.buddy.free_pages(a3, 3, 0);
    CHECK(buddyinfo(z) == Row{1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1015});
    // b) 8224 o5: its buddy 8192 is free but of order 3, not 5 -> stays order 5.
    k.buddy.free_pages(a5, 5, 0);
    CHECK(buddyinfo(z) == Row{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1015});
    // c) 8200 o0: merges with 8201 (o0), 8202 (o1), 8204 (o2) -> 8200 o3; with 8192 (o3) ->
    //    8192 o4; 8208 -> o5; 8224 -> o6; 8256 -> o7; 8320 -> o8; 8448 -> o9; at order 9
    //    (>= pageblock_order) the buddy 8704's pageblock is Unmovable like ours -> 8192 o10.
    k.buddy.free_pages(a0, 0, 0);
    CHECK(buddyinfo(z) == Row{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1016});
    CHECK(k.audit({}) == "");
}

// Scripted sequence, MOVABLE, on a 64 MiB machine. DMA32 is released as 8192..14336 (seven
// order-10 blocks) and 15360..15871 (order 9). The slab allocator's boot allocations are
// GFP_KERNEL (UNMOVABLE): the first steals the head order-10 block 8192 whole, and the rest are
// served from that block's Unmovable fragments. The Movable lists are therefore untouched:
// o9 [15360], o10 [9216, 10240, 11264, 12288, 13312, 14336]. The rest of the row (Unmovable
// fragments of 8192..9215) depends on the slab's boot footprint, so the rows below are
// predicted as changes from the row read at the start.
// GFP_DMA32 | __GFP_MOVABLE: highest zone DMA32, migratetype MOVABLE.
TEST_CASE("split/merge: scripted GFP_DMA32|__GFP_MOVABLE sequence on 64 MiB", "[buddy][split]") {
    Booted b(machine(Arch::x86_64, 64 * MiB), no_pcp());
    Kernel& k = b.k;
    const zone& z = b.z(1);
    REQUIRE(free_list_pfns(k, z, 9, MIGRATE_MOVABLE) == std::vector<uint64_t>{15360});
    REQUIRE(free_list_pfns(k, z, 10, MIGRATE_MOVABLE) ==
            std::vector<uint64_t>{9216, 10240, 11264, 12288, 13312, 14336});
    for (unsigned o = 0; o < 9; o++) REQUIRE(z.free_area[o].free_list[MIGRATE_MOVABLE].empty());
    const Row r0 = buddyinfo(z);
    const gfp_t gfp = GFP_DMA32 | __GFP_MOVABLE;

    // 1) order 3: smallest Movable block >= 3 is 15360 (o9): returns 15360..15367, frees
    //    15616 o8, 15488 o7, 15424 o6, 15392 o5, 15376 o4, 15368 o3.
    page* a3 = alloc(k, gfp, 3);
    REQUIRE(a3);
    CHECK(pfn_of(k, a3) == 15360);
    CHECK(buddyinfo(z) == plus(r0, {0, 0, 0, +1, +1, +1, +1, +1, +1, -1, 0}));
    // 2) order 0: 15368 (o3) splits: returns 15368, frees 15372 o2, 15370 o1, 15369 o0.
    page* a0 = alloc(k, gfp, 0);
    REQUIRE(a0);
    CHECK(pfn_of(k, a0) == 15368);
    CHECK(buddyinfo(z) == plus(r0, {+1, +1, +1, 0, +1, +1, +1, +1, +1, -1, 0}));
    // 3) order 5: 15392 (o5), no split.
    page* a5 = alloc(k, gfp, 5);
    REQUIRE(a5);
    CHECK(pfn_of(k, a5) == 15392);
    CHECK(buddyinfo(z) == plus(r0, {+1, +1, +1, 0, +1, 0, +1, +1, +1, -1, 0}));

    // Free 5, then 3, then 0.
    // 15392 o5: buddy 15360 is allocated -> o5 +1.
    k.buddy.free_pages(a5, 5, 0);
    CHECK(buddyinfo(z) == plus(r0, {+1, +1, +1, 0, +1, +1, +1, +1, +1, -1, 0}));
    // 15360 o3: buddy 15368 is allocated -> o3 +1.
    k.buddy.free_pages(a3, 3, 0);
    CHECK(buddyinfo(z) == plus(r0, {+1, +1, +1, +1, +1, +1, +1, +1, +1, -1, 0}));
    // 15368 o0: merges 15369, 15370, 15372 -> o3; 15360 -> o4; 15376 -> o5; 15392 -> o6;
    // 15424 -> o7; 15488 -> o8; 15616 -> o9 at 15360; its order-9 buddy 14848 lies inside the
    // free order-10 block 14336 (not a buddy head of order 9) -> stop. Back to r0.
    k.buddy.free_pages(a0, 0, 0);
    CHECK(buddyinfo(z) == r0);
    CHECK(free_list_pfns(k, z, 9, MIGRATE_MOVABLE) == std::vector<uint64_t>{15360});
    CHECK(k.audit({}) == "");
}

// Two order-0 buddies from one split, freed one after the other: the first free finds its
// buddy allocated, the second merges all the way back.
TEST_CASE("merge: two order-0 buddies reform the block on free", "[buddy][merge]") {
    Booted b(machine(Arch::x86_64, 64 * MiB), no_pcp());
    Kernel& k = b.k;
    const zone& z = b.z(1);
    REQUIRE(free_list_pfns(k, z, 9, MIGRATE_MOVABLE) == std::vector<uint64_t>{15360});
    for (unsigned o = 0; o < 9; o++) REQUIRE(z.free_area[o].free_list[MIGRATE_MOVABLE].empty());
    const Row r0 = buddyinfo(z);
    const gfp_t gfp = GFP_DMA32 | __GFP_MOVABLE;
    // 1st: 15360 (o9) splits: returns 15360; frees 15361 o0, 15362 o1, ..., 15616 o8.
    page* x = alloc(k, gfp, 0);
    // 2nd: the order-0 block 15361.
    page* y = alloc(k, gfp, 0);
    REQUIRE(x);
    REQUIRE(y);
    CHECK(pfn_of(k, x) == 15360);
    CHECK(pfn_of(k, y) == 15361);
    CHECK(buddyinfo(z) == plus(r0, {0, +1, +1, +1, +1, +1, +1, +1, +1, -1, 0}));
    // Free 15360: buddy 15361 allocated -> an order-0 block.
    k.buddy.free_pages(x, 0, 0);
    CHECK(buddyinfo(z) == plus(r0, {+1, +1, +1, +1, +1, +1, +1, +1, +1, -1, 0}));
    // Free 15361: buddy 15360 free at order 0 -> order-1 block 15360, then 15362 (o1) ->
    // o2 ... 15616 (o8) -> the order-9 block 15360 again.
    k.buddy.free_pages(y, 0, 0);
    CHECK(buddyinfo(z) == r0);
    CHECK(k.audit({}) == "");
}

// buddy_merge_likely() (6.1 mm/page_alloc.c, __free_one_page()): a freed block whose buddy is
// still in use goes to the TAIL of its free list when the next larger block's buddy is free (the
// buddy is likely to be freed soon and merge further), else to the HEAD; the next allocation of
// that order takes the head. 64 MiB x86_64, pcp off: DMA32's free Movable order-9 block 15360 is
// the only block below order 10 (r below = pfn - 15360).
TEST_CASE("merge: buddy_merge_likely puts a freed block at the head or the tail",
          "[buddy][merge]") {
    Booted b(machine(Arch::x86_64, 64 * MiB), no_pcp());
    Kernel& k = b.k;
    const zone& z = b.z(1);
    REQUIRE(free_list_pfns(k, z, 9, MIGRATE_MOVABLE) == std::vector<uint64_t>{15360});
    const gfp_t gfp = GFP_DMA32 | __GFP_MOVABLE;
    const uint64_t r = 15360;
    auto take = [&](unsigned order, uint64_t want) {
        page* p = alloc(k, gfp, order);
        REQUIRE(p);
        REQUIRE(pfn_of(k, p) == want);
        return p;
    };
    // r0 splits the order-9 block (free: r1 o0, r2 o1, r4 o2, r8 o3, ...); then r1, r2 (o1),
    // r4 (o2); r8 (o0) splits r8 o3 (free: r9 o0, r10 o1, r12 o2); r10 (o1).
    page* p0 = take(0, r + 0);
    page* p1 = take(0, r + 1);
    take(1, r + 2);
    page* p4 = take(2, r + 4);
    take(0, r + 8);
    page* p10 = take(1, r + 10);
    // Free r4 (o2): its buddy r0 is in use. Next larger block r0 (o3): its buddy r8 is in use,
    // so not likely -> head of the order-2 list, before r12.
    k.buddy.free_pages(p4, 2, 0);
    CHECK(free_list_pfns(k, z, 2, MIGRATE_MOVABLE) == std::vector<uint64_t>{r + 4, r + 12});
    // Free r0 (o0): buddy r1 in use; the order-1 block r0's buddy r2 is in use -> head, before
    // r9; the next order-0 allocation takes it back.
    k.buddy.free_pages(p0, 0, 0);
    CHECK(free_list_pfns(k, z, 0, MIGRATE_MOVABLE) == std::vector<uint64_t>{r + 0, r + 9});
    p0 = take(0, r + 0);
    k.buddy.free_pages(p0, 0, 0);
    // Free r10 (o1): buddy r8 in use; the order-2 block r8's buddy r12 is free at order 2 ->
    // tail (the list was empty).
    k.buddy.free_pages(p10, 1, 0);
    // Free r1: merges with r0 into r0 (o1); its buddy r2 is in use; the order-2 block r0's
    // buddy r4 is free at order 2 -> likely -> TAIL, behind r10.
    k.buddy.free_pages(p1, 0, 0);
    CHECK(free_list_pfns(k, z, 1, MIGRATE_MOVABLE) == std::vector<uint64_t>{r + 10, r + 0});
    // So the next order-1 allocation takes r10, not the block just freed.
    take(1, r + 10);
    CHECK(k.audit({{r + 2, 1}, {r + 8, 0}, {r + 10, 1}}) == "");
}

// steal_suitable_fallback() below pageblock_order: the whole pageblock is claimed when
// free_pages + alike_pages >= 1 << (pageblock_order - 1) = 256.
// Machine: 2 nodes of 64 MiB, 1 CPU (on node 0), pcp off. Node 1 = pfns [16384, 32768), all
// DMA32; its mem_map (one section, 2 MiB) at [32256, 32768). Free: [16384, 32256) = 15 order-10
// blocks 16384..30720 and 31744 (o9), all Movable, untouched (the slab boots on node 0).
// Watermarks (checked here as preconditions): lowmem managed = 3840 + 7680 (node 0 DMA32:
// 12288 - 4096 image - 512 mem_map) + 15872 = 27392 pages; min_free_kbytes =
// int_sqrt(16 * 27392 * 4) = int_sqrt(1753088) = 1324 (1324^2 = 1752976); pages_min = 331;
// node 1 DMA32: tmp = 331 * 15872 / 27392 = 191, delta = max(191 >> 2 = 47, 15) = 47,
// so min 191, low 238.
TEST_CASE("fallback: whole-pageblock claim threshold below pageblock_order", "[buddy][fallback]") {
    Booted b(machine(Arch::x86_64, 128 * MiB, 1, {{0, 64 * MiB}, {64 * MiB, 128 * MiB}}), no_pcp());
    Kernel& k = b.k;
    zone& z = b.z(1, 1);
    REQUIRE(z.zone_start_pfn == 16384);
    REQUIRE(z.managed_pages == 15872);
    REQUIRE(z._watermark[WMARK_LOW] == 238);
    REQUIRE(buddyinfo(z) == Row{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 15});
    const gfp_t movable = GFP_KERNEL | __GFP_MOVABLE | __GFP_THISNODE;
    const gfp_t unmovable = GFP_KERNEL | __GFP_THISNODE;
    std::vector<std::pair<page*, unsigned>> held;

    // Take the 15 order-10 blocks (Movable requests find them on the Movable list). Before the
    // last: free = 15872 - 14*1024 = 1536; 1536 - 1023 = 513 > 238 + 0 passes.
    for (unsigned i = 0; i < 15; i++) {
        page* p = alloc(k, movable, 10, 1);
        REQUIRE(p);
        CHECK(pfn_of(k, p) == 16384 + i * 1024);
        held.push_back({p, 10});
    }
    // Order 8 Movable: 31744 (o9) splits, returns 31744, 32000 (o8) stays free.
    // Watermark: 512 - 255 = 257 > 238.
    page* m8 = alloc(k, movable, 8, 1);
    REQUIRE(m8);
    CHECK(pfn_of(k, m8) == 31744);
    held.push_back({m8, 8});
    CHECK(buddyinfo(z) == Row{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0});

    // Unmovable order 0 (free 256 > 238): no Unmovable block; fallback from order 10 down
    // finds the Movable order-8 block 32000; can_steal (start type Unmovable).
    // steal_suitable_fallback: order 8 < 9; move_freepages_block(31744..32255) moves the one
    // free block -> free_pages = 256; movable_pages (PG_lru) = 0; start type Unmovable and old
    // type Movable -> alike = 512 - (256 + 0) = 256. 256 + 256 >= 256 -> the pageblock becomes
    // Unmovable. Retry: 32000 splits, returns 32000; frees 32001 o0 ... 32128 o7.
    page* u0 = alloc(k, unmovable, 0, 1);
    REQUIRE(u0);
    CHECK(pfn_of(k, u0) == 32000);
    held.push_back({u0, 0});
    CHECK(k.buddy.get_pageblock_migratetype(Pfn{31744}) == unsigned(MIGRATE_UNMOVABLE));
    CHECK(buddyinfo(z) == Row{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0});
    for (unsigned o = 0; o < 8; o++)
        CHECK(z.free_area[o].free_list[MIGRATE_UNMOVABLE].size(k.buddy.mem_map()) == 1);

    // Movable order 0 (free 255 > 238): no Movable block; fallback (Movable -> Reclaimable,
    // Unmovable) from the top: largest is the Unmovable o7 block 32128; can_steal (7 >=
    // pageblock_order / 2 = 4). move_freepages_block moves all 8 free blocks (255 pages) to the
    // Movable lists; movable_pages = 0; start type Movable -> alike = movable_pages = 0.
    // 255 + 0 < 256 -> the pageblock stays Unmovable. Retry: the Movable order-0 block 32001.
    page* m0 = alloc(k, movable, 0, 1);
    REQUIRE(m0);
    CHECK(pfn_of(k, m0) == 32001);
    held.push_back({m0, 0});
    CHECK(k.buddy.get_pageblock_migratetype(Pfn{31744}) == unsigned(MIGRATE_UNMOVABLE));
    CHECK(buddyinfo(z) == Row{0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0});
    for (unsigned o = 1; o < 8; o++) {
        CHECK(z.free_area[o].free_list[MIGRATE_MOVABLE].size(k.buddy.mem_map()) == 1);
        CHECK(z.free_area[o].free_list[MIGRATE_UNMOVABLE].empty());
    }
    std::vector<std::pair<uint64_t, unsigned>> held_pfns;
    for (auto [p, o] : held) held_pfns.push_back({pfn_of(k, p), o});
    CHECK(k.audit(held_pfns) == "");

    // Everything back: the node's row is the boot row again.
    std::reverse(held.begin(), held.end());
    for (auto [p, o] : held) k.buddy.free_pages(p, o, 0);
    CHECK(buddyinfo(z) == Row{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 15});
    CHECK(k.audit({}) == "");
}

// can_steal_fallback() (6.1): a Movable request may take a whole fallback pageblock's free pages
// only from a block of order >= pageblock_order / 2 = 4; below that, __rmqueue_fallback() takes
// the smallest fallback block instead and moves only it (single_page). The two sides of the
// threshold differ in what moves: one order-3 block, or every free block of the pageblock.
// Machine: 2 nodes of 64 MiB, 1 CPU, pcp off, min_free_kbytes 128 so that a few free blocks pass
// the watermarks: pages_min 32; node 1 DMA32: min = 32 * 15872 / 27392 = 18, low = 18 + max(18
// >> 2, 15872 * 10 / 10000 = 15) = 33. Node 1 is free from pfn 16384: 15 Movable order-10 blocks
// and the order-9 block 31744.
//  1. Unmovable blocks of order `o` (3 or 4) until the first order-10 block is used up: the
//     first falls back to Movable 16384 (order 10 >= pageblock_order: both pageblocks become
//     Unmovable), then each split hands out the lowest part, so block k is 16384 + k * 2^o.
//  2. Free the odd blocks k = 1, 3, ..., 19 (their even buddies are held): ten free Unmovable
//     blocks of order o in pageblock 16384 (80 or 160 pages), each freed to the head (the next
//     larger block's buddy is in use).
//  3. Take every Movable block (the 14 order-10 ones and 31744): the last passes the low
//     watermark with 512 + 80 - 511 = 81 > 33 free.
//  4. A Movable order-0 request: no Movable block; the fallback finds the Unmovable blocks.
TEST_CASE("fallback: can_steal's order-4 threshold for a Movable request", "[buddy][fallback]") {
    for (unsigned o : {3u, 4u}) {
        INFO("fallback blocks of order " << o);
        KernelConfig kc = no_pcp();
        kc.min_free_kbytes = 128;
        Booted b(machine(Arch::x86_64, 128 * MiB, 1, {{0, 64 * MiB}, {64 * MiB, 128 * MiB}}), kc);
        Kernel& k = b.k;
        zone& z = b.z(1, 1);
        REQUIRE(z._watermark[WMARK_LOW] == 33);
        REQUIRE(buddyinfo(z) == Row{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 15});
        const gfp_t movable = GFP_KERNEL | __GFP_MOVABLE | __GFP_THISNODE;
        const gfp_t unmovable = GFP_KERNEL | __GFP_THISNODE;
        const uint64_t step = uint64_t{1} << o;
        std::vector<page*> blocks;
        for (uint64_t i = 0; i < 1024 / step; i++) {
            page* p = alloc(k, unmovable, o, 1);
            REQUIRE(p);
            REQUIRE(pfn_of(k, p) == 16384 + i * step);
            blocks.push_back(p);
        }
        REQUIRE(k.buddy.get_pageblock_migratetype(Pfn{16384}) == unsigned(MIGRATE_UNMOVABLE));
        for (unsigned i = 1; i <= 19; i += 2) k.buddy.free_pages(blocks[i], o, 0);
        std::vector<uint64_t> freed; // head first: the last freed
        for (int i = 19; i >= 1; i -= 2) freed.push_back(16384 + uint64_t(i) * step);
        REQUIRE(free_list_pfns(k, z, o, MIGRATE_UNMOVABLE) == freed);
        for (unsigned i = 0; i < 14; i++) REQUIRE(alloc(k, movable, 10, 1));
        REQUIRE(alloc(k, movable, 9, 1));
        for (unsigned q = 0; q < MAX_ORDER; q++)
            REQUIRE(z.free_area[q].free_list[MIGRATE_MOVABLE].empty());

        page* m = alloc(k, movable, 0, 1);
        REQUIRE(m);
        // The pageblock is not claimed either way (80 or 160 free pages < 256).
        CHECK(k.buddy.get_pageblock_migratetype(Pfn{16384}) == unsigned(MIGRATE_UNMOVABLE));
        if (o == 3) {
            // can_steal false, order 3 > 0: find_smallest takes the head of the Unmovable
            // order-3 list, 16384 + 19 * 8 = 16536, and moves it alone to the Movable list;
            // the Movable retry splits it and returns its first page.
            CHECK(pfn_of(k, m) == 16536);
            CHECK(free_list_pfns(k, z, 3, MIGRATE_UNMOVABLE) ==
                  std::vector<uint64_t>(freed.begin() + 1, freed.end()));
            CHECK(z.free_area[3].free_list[MIGRATE_MOVABLE].empty());
        } else {
            // can_steal true (4 >= 4): move_freepages_block() moves all ten free blocks of the
            // pageblock to the Movable lists, in pfn order (to the tail); the retry splits the
            // first, 16400.
            CHECK(pfn_of(k, m) == 16400);
            CHECK(z.free_area[4].free_list[MIGRATE_UNMOVABLE].empty());
            std::vector<uint64_t> moved;
            for (unsigned i = 3; i <= 19; i += 2) moved.push_back(16384 + i * 16);
            CHECK(free_list_pfns(k, z, 4, MIGRATE_MOVABLE) == moved);
        }
        // The rest of the split block is on the Movable lists: orders 0, 1, 2 (and 3 for o=4).
        CHECK(free_list_pfns(k, z, 0, MIGRATE_MOVABLE) == std::vector<uint64_t>{pfn_of(k, m) + 1});
        CHECK(free_list_pfns(k, z, 2, MIGRATE_MOVABLE) == std::vector<uint64_t>{pfn_of(k, m) + 4});
    }
}

// move_freepages_block() at a zone's start: the kernel clamps a pageblock start that lies
// before the zone to the page itself ("if (!zone_spans_pfn(zone, start_pfn)) start_pfn = pfn")
// and gives up only when the pageblock's END lies outside the zone. DMA starts at pfn 1, so its
// pageblock 0 (pfns 0..511) begins outside the zone but ends inside it.
// 64 MiB, pcp off, DMA only (GFP_DMA...):
//  1) Movable order 10 x3 -> 1024, 2048, 3072; Movable order 9 -> 512 (heads of the Movable
//     lists). Left free: the order-8 block 256 only (free 256 > low 88).
//  2) Movable order 0 -> 256 (kernel: steals it from the Unmovable list, moving it and claiming
//     pageblock 0 as Movable: 256 free >= 256); freeing it merges back into the order-8 block
//     256 on the Movable list. State now: 256 (o8, Movable), pageblock 0 Movable.
//  3) GFP_DMA order 0 (Unmovable): fallback finds only the Movable o8 block 256; can_steal
//     (Unmovable); order 8 < 9 -> move_freepages_block(pageblock 0): start 0 is outside the
//     zone -> start = 256, end 511 inside -> moves the block, free_pages = 256; old type
//     Movable -> alike = 512 - (256 + 0) = 256; 512 >= 256 -> pageblock 0 becomes Unmovable.
//     Returns 256.
TEST_CASE("fallback: a pageblock starting before the zone start can be claimed",
          "[buddy][fallback]") {
    Booted b(machine(Arch::x86_64, 64 * MiB), no_pcp());
    Kernel& k = b.k;
    const gfp_t movable = GFP_DMA | __GFP_MOVABLE;
    std::vector<std::pair<page*, unsigned>> held;
    for (uint64_t want : {1024, 2048, 3072}) {
        page* p = alloc(k, movable, 10);
        REQUIRE(p);
        CHECK(pfn_of(k, p) == want);
        held.push_back({p, 10});
    }
    page* p9 = alloc(k, movable, 9);
    REQUIRE(p9);
    CHECK(pfn_of(k, p9) == 512);
    held.push_back({p9, 9});
    page* m = alloc(k, movable, 0);
    REQUIRE(m);
    CHECK(pfn_of(k, m) == 256);
    k.buddy.free_pages(m, 0, 0);
    REQUIRE(buddyinfo(b.z(0)) == Row{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0});
    REQUIRE(free_list_pfns(k, b.z(0), 8, MIGRATE_MOVABLE) == std::vector<uint64_t>{256});
    REQUIRE(k.buddy.get_pageblock_migratetype(Pfn{0}) == unsigned(MIGRATE_MOVABLE));

    page* u = alloc(k, GFP_DMA, 0);
    REQUIRE(u);
    CHECK(pfn_of(k, u) == 256);
    CHECK(k.buddy.get_pageblock_migratetype(Pfn{0}) == unsigned(MIGRATE_UNMOVABLE));
    held.push_back({u, 0});
    for (auto [p, o] : held) k.buddy.free_pages(p, o, 0);
    CHECK(buddyinfo(b.z(0)) == kDmaBoot);
    CHECK(k.audit({}) == "");
}

// ---------------------------------------------------------------------------------------------
// Zone boundaries

TEST_CASE("zones: ZoneLayout per arch", "[buddy][zones]") {
    using T = zone_type;
    const ZoneLayout x = ZoneLayout::for_arch(Arch::x86_64);
    CHECK(x.types == std::array<T, 4>{T::DMA, T::DMA32, T::NORMAL, T::MOVABLE});
    for (Arch a : {Arch::i386, Arch::pae}) {
        const ZoneLayout l = ZoneLayout::for_arch(a);
        CHECK(l.types == std::array<T, 4>{T::DMA, T::NORMAL, T::HIGHMEM, T::MOVABLE});
        CHECK(l.index_of(T::HIGHMEM) == 2);
        CHECK(l.index_of(T::DMA32) == 1); // folded to Normal
    }
    CHECK(x.index_of(T::DMA32) == 1);
    CHECK(x.index_of(T::HIGHMEM) == 2); // folded to Normal
    CHECK(x.index_of(T::MOVABLE) == 3);
}

TEST_CASE("zones: x86_64 6 GiB", "[buddy][zones]") {
    Booted b(machine(Arch::x86_64, 6 * GiB));
    // MAX_DMA_PFN 4096, MAX_DMA32_PFN = 4 GiB >> 12 = 1048576, max_pfn = 6 GiB >> 12 = 1572864.
    CHECK(b.k.layout.max_pfn == 1572864);
    CHECK(b.k.layout.max_low_pfn == 1572864);
    CHECK(b.z(0).zone_start_pfn == 1);
    CHECK(b.z(0).zone_end_pfn() == 4096);
    CHECK(b.z(1).zone_start_pfn == 4096);
    CHECK(b.z(1).zone_end_pfn() == 1048576);
    CHECK(b.z(1).spanned_pages == 1044480);
    CHECK(b.z(1).present_pages == 1044480);
    CHECK(b.z(2).zone_start_pfn == 1048576);
    CHECK(b.z(2).zone_end_pfn() == 1572864);
    CHECK(b.z(2).present_pages == 524288);
    // mem_map: 6 GiB = 48 sections of 128 MiB -> 96 MiB = 24576 pages at the top (Normal).
    CHECK(b.z(2).managed_pages == 524288 - 24576);
    CHECK(b.z(3).spanned_pages == 0);
}

TEST_CASE("zones: i386 2 GiB with HighMem", "[buddy][zones]") {
    Booted b(machine(Arch::i386, 2 * GiB));
    // MAXMEM = 4 GiB - PAGE_OFFSET (3 GiB) - 128 MiB = 896 MiB -> max_low_pfn 229376.
    CHECK(maxmem_32(0xC0000000) == 896 * MiB);
    CHECK(b.k.layout.max_pfn == 524288);
    CHECK(b.k.layout.max_low_pfn == 229376);
    CHECK(b.z(0).type == zone_type::DMA);
    CHECK(b.z(0).zone_start_pfn == 1);
    CHECK(b.z(0).zone_end_pfn() == 4096);
    CHECK(b.z(1).type == zone_type::NORMAL);
    CHECK(b.z(1).zone_start_pfn == 4096);
    CHECK(b.z(1).zone_end_pfn() == 229376);
    CHECK(b.z(2).type == zone_type::HIGHMEM);
    CHECK(b.z(2).zone_start_pfn == 229376);
    CHECK(b.z(2).zone_end_pfn() == 524288);
    CHECK(b.z(2).present_pages == 524288 - 229376);
    CHECK(b.z(2).managed_pages == 294912); // nothing reserved in highmem
    CHECK(b.z(3).spanned_pages == 0);
    CHECK(b.k.buddy.pageblock_order == 10); // 2-level paging: 4 MiB huge pages
}

TEST_CASE("zones: PAE 8 GiB with HighMem, of which the kernel uses 4 GiB", "[buddy][zones]") {
    // Since Linux 6.15 (HIGHMEM64G removed) highmem_pfn_init() caps max_pfn at MAX_NONPAE_PFN,
    // 4 GiB >> 12 = 1048576, with PAE too: the other 4 GiB are never used.
    Booted b(machine(Arch::pae, 8 * GiB));
    CHECK(b.k.layout.max_pfn == 1048576);
    CHECK(b.k.layout.max_low_pfn == 229376);
    CHECK(b.z(1).zone_end_pfn() == 229376);
    CHECK(b.z(2).type == zone_type::HIGHMEM);
    CHECK(b.z(2).zone_start_pfn == 229376);
    CHECK(b.z(2).zone_end_pfn() == 1048576);
    CHECK(b.z(2).present_pages == 1048576 - 229376);
    CHECK(b.z(2).managed_pages == 1048576 - 229376); // nothing reserved in highmem
    CHECK(b.k.buddy.pageblock_order == 9);           // PAE: 2 MiB huge pages
}

// find_zone_movable_pfns_for_nodes(), x86_64 1 GiB. memblock.memory: [1, 159) and
// [256, 262144): totalpages = 158 + 261888 = 262046.
TEST_CASE("zones: movablecore= and kernelcore= on x86_64 1 GiB", "[buddy][zones]") {
    SECTION("movablecore=256M") {
        // required_movablecore = roundup(65536, 1024) = 65536; corepages = 262046 - 65536 =
        // 196510 = required_kernelcore. movable_zone = DMA32, usable_startpfn = 4096. Pages
        // below 4096 count as kernelcore: 158 + 3840 = 3998 -> 192512 left, placed from 4096:
        // 4096 + 192512 = 196608, already a multiple of 1024 -> ZONE_MOVABLE at 196608.
        KernelConfig kc;
        kc.movablecore_bytes = 256 * MiB;
        Booted b(machine(Arch::x86_64, 1 * GiB), kc);
        CHECK(b.k.layout.zone_movable_pfn[0] == 196608);
        CHECK(b.z(1).zone_start_pfn == 4096);
        CHECK(b.z(1).spanned_pages == 196608 - 4096); // 192512
        CHECK(b.z(1).managed_pages == 192512 - 4096); // minus the kernel image
        CHECK(b.z(3).type == zone_type::MOVABLE);
        CHECK(b.z(3).zone_start_pfn == 196608);
        CHECK(b.z(3).spanned_pages == 65536);
        CHECK(b.z(3).present_pages == 65536);
        // mem_map: 8 sections -> 16 MiB = 4096 pages at the top of RAM, inside Movable.
        CHECK(b.z(3).managed_pages == 65536 - 4096);
        CHECK(b.k.audit({}) == "");
    }
    SECTION("kernelcore=512M") {
        // required_kernelcore = 131072; 3998 below 4096 -> 127074 from 4096: raw 131170,
        // roundup to 1024 -> 132096.
        KernelConfig kc;
        kc.kernelcore_bytes = 512 * MiB;
        Booted b(machine(Arch::x86_64, 1 * GiB), kc);
        CHECK(b.k.layout.zone_movable_pfn[0] == 132096);
        CHECK(b.z(3).zone_start_pfn == 132096);
        CHECK(b.z(3).spanned_pages == 262144 - 132096);
    }
}

// ---------------------------------------------------------------------------------------------
// Watermarks: __setup_per_zone_wmarks(), setup_per_zone_lowmem_reserve(), pagesets.
// min_free_kbytes = clamp(int_sqrt(16 * lowmem_kbytes), 128, 262144), lowmem_kbytes = 4 * Σ
// managed of the zones up to Normal; pages_min = min_free_kbytes >> 2;
// tmp = pages_min * managed / lowmem_pages; min = tmp (highmem: clamp(managed/1024, 32, 128));
// delta = max(tmp >> 2, managed * 10 / 10000); low = min + delta; high = low + delta;
// promo = high + delta. lowmem_reserve[j] of zone i = Σ managed(i+1..j) / ratio(i),
// ratios 256 (DMA), 256 (DMA32), 32 (Normal), 0 (HighMem, Movable).

namespace {
void check_wmarks(const zone& z, uint64_t mn, uint64_t lo, uint64_t hi, uint64_t pr) {
    INFO("zone " << zone_type_name(z.type));
    CHECK(z._watermark[WMARK_MIN] == mn);
    CHECK(z._watermark[WMARK_LOW] == lo);
    CHECK(z._watermark[WMARK_HIGH] == hi);
    CHECK(z._watermark[WMARK_PROMO] == pr);
}
void check_reserve(const zone& z, std::array<int64_t, 4> r) {
    INFO("zone " << zone_type_name(z.type));
    for (unsigned j = 0; j < 4; j++) CHECK(z.lowmem_reserve[j] == r[j]);
}
} // namespace

TEST_CASE("watermarks: x86_64 64 MiB", "[buddy][watermark]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    REQUIRE(b.z(0).managed_pages == 3840);
    REQUIRE(b.z(1).managed_pages == 7680);
    // lowmem 11520 pages = 46080 kB; int_sqrt(737280) = 858 (858^2 = 736164, 859^2 = 737881).
    CHECK(b.k.tuning.min_free_kbytes == 858);
    // pages_min = 214. DMA: tmp = 214*3840/11520 = 71; delta max(17, 3) = 17.
    check_wmarks(b.z(0), 71, 88, 105, 122);
    // DMA32: tmp = 214*7680/11520 = 142; delta max(35, 7) = 35.
    check_wmarks(b.z(1), 142, 177, 212, 247);
    check_wmarks(b.z(2), 0, 0, 0, 0);
    // DMA: 7680/256 = 30 for every higher zone; DMA32: nothing above it has memory.
    check_reserve(b.z(0), {0, 30, 30, 30});
    check_reserve(b.z(1), {0, 0, 0, 0});
    // totalreserve = min(30 + 105, 3840) + min(0 + 212, 7680) = 347.
    CHECK(b.k.tuning.totalreserve_pages == 347);
    // Pagesets (1 CPU): DMA32 batch: 7680>>10 = 7, /4 = 1, rounddown_pow2(1 + 0) - 1 = 0 -> 1;
    // high = max(low 177 / 1, 4 * 1) = 177. DMA: batch 1, high = max(88, 4) = 88.
    CHECK(b.z(1).pcp[0].batch == 1);
    CHECK(b.z(1).pcp[0].high == 177);
    CHECK(b.z(0).pcp[0].batch == 1);
    CHECK(b.z(0).pcp[0].high == 88);
}

TEST_CASE("watermarks: x86_64 1 GiB", "[buddy][watermark]") {
    Booted b(machine(Arch::x86_64, 1 * GiB));
    // DMA32 [4096, 262144): 258048 - 4096 (image) - 4096 (mem_map: 8 sections = 16 MiB).
    REQUIRE(b.z(0).managed_pages == 3840);
    REQUIRE(b.z(1).managed_pages == 249856);
    // lowmem 253696 pages = 1014784 kB; *16 = 16236544; int_sqrt = 4029 (4029^2 = 16232841,
    // 4030^2 = 16240900).
    CHECK(b.k.tuning.min_free_kbytes == 4029);
    // pages_min = 1007. DMA: tmp = 1007*3840/253696 = 15; delta max(3, 3) = 3.
    check_wmarks(b.z(0), 15, 18, 21, 24);
    // DMA32: tmp = 1007*249856/253696 = 991; delta max(247, 249) = 249.
    check_wmarks(b.z(1), 991, 1240, 1489, 1738);
    check_reserve(b.z(0), {0, 976, 976, 976}); // 249856 / 256
    check_reserve(b.z(1), {0, 0, 0, 0});
    // totalreserve = (976 + 21) + 1489 = 2486.
    CHECK(b.k.tuning.totalreserve_pages == 2486);
    // DMA32 batch: min(249856>>10 = 244, 256) = 244, /4 = 61, rounddown_pow2(61 + 30) - 1 = 63.
    // high = max(1240, 63*4 = 252) = 1240. DMA: batch 1, high max(18, 4) = 18.
    CHECK(b.z(1).pcp[0].batch == 63);
    CHECK(b.z(1).pcp[0].high == 1240);
    CHECK(b.z(0).pcp[0].high == 18);
}

TEST_CASE("watermarks: x86_64 4 GiB", "[buddy][watermark]") {
    Booted b(machine(Arch::x86_64, 4 * GiB, 2));
    // DMA32 [4096, 1048576): 1044480 - 4096 (image) - 16384 (mem_map: 32 sections = 64 MiB).
    // Normal starts at 4 GiB = the end of RAM: empty.
    REQUIRE(b.z(0).managed_pages == 3840);
    REQUIRE(b.z(1).managed_pages == 1024000);
    REQUIRE(b.z(2).managed_pages == 0);
    // lowmem 1027840 pages = 4111360 kB; *16 = 65781760; int_sqrt = 8110 (8110^2 = 65772100,
    // 8111^2 = 65788321).
    CHECK(b.k.tuning.min_free_kbytes == 8110);
    // pages_min = 2027. DMA: tmp = 2027*3840/1027840 = 7; delta max(1, 3) = 3.
    check_wmarks(b.z(0), 7, 10, 13, 16);
    // DMA32: tmp = 2027*1024000/1027840 = 2019; delta max(504, 1024) = 1024.
    check_wmarks(b.z(1), 2019, 3043, 4067, 5091);
    check_reserve(b.z(0), {0, 4000, 4000, 4000}); // 1024000 / 256
    // Pagesets with 2 CPUs on the node: DMA32 batch 63; high = max(3043 / 2 = 1521, 252).
    CHECK(b.z(1).pcp[0].batch == 63);
    CHECK(b.z(1).pcp[1].high == 1521);
}

TEST_CASE("watermarks: i386 2 GiB with HighMem", "[buddy][watermark]") {
    Booted b(machine(Arch::i386, 2 * GiB));
    // Normal [4096, 229376) = 225280 - 4096 (image) - 4096 (mem_map: 524288 * 32 bytes =
    // 16 MiB below 896 MiB); HighMem [229376, 524288) = 294912, nothing reserved.
    REQUIRE(b.z(0).managed_pages == 3840);
    REQUIRE(b.z(1).managed_pages == 217088);
    REQUIRE(b.z(2).managed_pages == 294912);
    // nr_free_buffer_pages = DMA + Normal = 220928 -> 883712 kB; *16 = 14139392; int_sqrt =
    // 3760 (3760^2 = 14137600, 3761^2 = 14145121).
    CHECK(b.k.tuning.min_free_kbytes == 3760);
    // pages_min = 940; lowmem_pages (not highmem) = 220928.
    // DMA: tmp = 940*3840/220928 = 16; delta max(4, 3) = 4.
    check_wmarks(b.z(0), 16, 20, 24, 28);
    // Normal: tmp = 940*217088/220928 = 923; delta max(230, 217) = 230.
    check_wmarks(b.z(1), 923, 1153, 1383, 1613);
    // HighMem: min = clamp(294912/1024 = 288, 32, 128) = 128; tmp (uncapped share) =
    // 940*294912/220928 = 1254; delta max(313, 294) = 313.
    check_wmarks(b.z(2), 128, 441, 754, 1067);
    // DMA (256): 217088/256 = 848; (217088 + 294912)/256 = 2000; 2000.
    check_reserve(b.z(0), {0, 848, 2000, 2000});
    // Normal (32): 294912/32 = 9216 for HighMem and Movable.
    check_reserve(b.z(1), {0, 0, 9216, 9216});
    check_reserve(b.z(2), {0, 0, 0, 0}); // ratio 0
}

// i386 with 1 GiB: HighMem holds only 128 MiB, and ZONE_MOVABLE is empty. Linux 6.1
// find_zone_movable_pfns_for_nodes() calls find_usable_zone_for_movable() first on every boot,
// so movable_zone = ZONE_HIGHMEM (the highest zone with a non-empty arch pfn range), and
// is_highmem_idx(ZONE_MOVABLE) is true: __setup_per_zone_wmarks() gives the empty zone the
// highmem minimum clamp(0 / 1024, SWAP_CLUSTER_MAX, 128) = 32 and a distance of
// max(0 >> 2, 0 * 10 / 10000) = 0.
TEST_CASE("watermarks: i386 1 GiB, HighMem below 128 MiB and the empty Movable zone",
          "[buddy][watermark]") {
    Booted b(machine(Arch::i386, 1 * GiB));
    // memblock.memory [1, 159) and [256, 262144); reserved: the first MiB, the image
    // [4096, 8192), mem_map 262144 * 32 bytes = 8 MiB = 2048 pages top-down below 896 MiB.
    REQUIRE(b.z(0).managed_pages == 3840);                 // 3998 present - 158 in the first MiB
    REQUIRE(b.z(1).managed_pages == 225280 - 4096 - 2048); // 219136
    REQUIRE(b.z(2).managed_pages == 32768);                // [229376, 262144), nothing reserved
    REQUIRE(b.z(3).managed_pages == 0);
    CHECK(b.k.layout.movable_zone == zone_type::HIGHMEM);
    // nr_free_buffer_pages = 3840 + 219136 = 222976 -> 891904 kB; *16 = 14270464; int_sqrt =
    // 3777 (3777^2 = 14265729, 3778^2 = 14273284). pages_min = 944, lowmem_pages = 222976.
    CHECK(b.k.tuning.min_free_kbytes == 3777);
    // DMA: 944*3840/222976 = 16; delta max(4, 3) = 4.
    check_wmarks(b.z(0), 16, 20, 24, 28);
    // Normal: 944*219136/222976 = 927; delta max(231, 219) = 231.
    check_wmarks(b.z(1), 927, 1158, 1389, 1620);
    // HighMem: min = clamp(32768/1024 = 32, 32, 128) = 32; its uncapped share 944*32768/222976
    // = 138 gives the distance max(34, 32768*10/10000 = 32) = 34.
    check_wmarks(b.z(2), 32, 66, 100, 134);
    // Movable (empty, highmem): min 32, distance 0.
    check_wmarks(b.z(3), 32, 32, 32, 32);
    // totalreserve_pages: min(984 + 24, 3840) + min(1024 + 1389, 219136) + min(0 + 100, 32768)
    // + min(0 + 32, 0) = 1008 + 2413 + 100 + 0 = 3521 (DMA reserve 251904/256 = 984, Normal
    // 32768/32 = 1024).
    CHECK(b.k.tuning.totalreserve_pages == 3521);
}

// zone_highsize() with a node that has no CPU: x86_64 3 GiB, three 1 GiB nodes, two CPUs (CPU c
// on node c * 3 / 2: CPU 0 on node 0, CPU 1 on node 1; node 2 has none). Linux 6.1 splits the
// low watermark of node 2's zone across num_online_cpus() = 2.
TEST_CASE("pcp: a node without CPUs splits pcp->high across every online CPU", "[buddy][pcp]") {
    Booted b(
        machine(Arch::x86_64, 3 * GiB, 2, {{0, 1 * GiB}, {1 * GiB, 2 * GiB}, {2 * GiB, 3 * GiB}}));
    REQUIRE(b.k.buddy.cpu_to_node == std::vector<unsigned>{0, 1});
    // Node 2's DMA32 [524288, 786432) less its mem_map (8 sections x 2 MiB = 4096 pages).
    const zone& z = b.z(1, 2);
    REQUIRE(z.managed_pages == 258048);
    // managed: 3840 + 249856 (node 0) + 258048 + 258048 = 769792 -> 3079168 kB; *16 =
    // 49266688; int_sqrt = 7019. pages_min = 1754; node 2 DMA32: 1754*258048/769792 = 587,
    // distance max(146, 258) = 258 -> low 845.
    REQUIRE(b.k.tuning.min_free_kbytes == 7019);
    REQUIRE(z.low_wmark() == 845);
    // batch: min(258048 >> 10 = 252, 256) / 4 = 63 -> rounddown_pow2(63 + 31) - 1 = 63.
    CHECK(z.pcp[0].batch == 63);
    // high = max(845 / 2, 63 << 2) = max(422, 252) = 422 (dividing by 1 would give 845).
    CHECK(z.pcp[0].high == 422);
    CHECK(z.pcp[1].high == 422);
    // Node 1 has CPU 1: its DMA32 divides by 1.
    CHECK(b.z(1, 1).pcp[0].high == int64_t(b.z(1, 1).low_wmark()));
}

// On x86_64 (no CONFIG_HIGHMEM) is_highmem() is always false, so ZONE_MOVABLE counts in
// lowmem_pages and gets a proportional min like any other zone (fact sheet §2.2: "is_highmem
// is true ... for ZONE_MOVABLE when movable_zone == ZONE_HIGHMEM").
TEST_CASE("watermarks: x86_64 1 GiB with movablecore=256M (Movable is not highmem)",
          "[buddy][watermark]") {
    KernelConfig kc;
    kc.movablecore_bytes = 256 * MiB;
    Booted b(machine(Arch::x86_64, 1 * GiB), kc);
    REQUIRE(b.z(0).managed_pages == 3840);
    REQUIRE(b.z(1).managed_pages == 188416);
    REQUIRE(b.z(3).managed_pages == 61440);
    // nr_free_buffer_pages: zones up to Normal = 3840 + 188416 = 192256 -> 769024 kB;
    // *16 = 12304384; int_sqrt = 3507 (3507^2 = 12299049, 3508^2 = 12306064).
    CHECK(b.k.tuning.min_free_kbytes == 3507);
    // pages_min = 876; lowmem_pages = 3840 + 188416 + 61440 = 253696.
    // DMA: 876*3840/253696 = 13; delta max(3, 3) = 3.
    check_wmarks(b.z(0), 13, 16, 19, 22);
    // DMA32: 876*188416/253696 = 650; delta max(162, 188) = 188.
    check_wmarks(b.z(1), 650, 838, 1026, 1214);
    // Movable: 876*61440/253696 = 212; delta max(53, 61) = 61.
    check_wmarks(b.z(3), 212, 273, 334, 395);
    // DMA: 188416/256 = 736 (DMA32, Normal), (188416 + 61440)/256 = 976 (Movable).
    check_reserve(b.z(0), {0, 736, 736, 976});
    // DMA32: 0 for Normal, 61440/256 = 240 for Movable.
    check_reserve(b.z(1), {0, 0, 0, 240});
}

TEST_CASE("watermarks: pure helpers", "[buddy][watermark]") {
    SECTION("int_sqrt") {
        CHECK(int_sqrt(0) == 0);
        CHECK(int_sqrt(1) == 1);
        CHECK(int_sqrt(3) == 1);
        CHECK(int_sqrt(4) == 2);
        CHECK(int_sqrt(16777216) == 4096); // 2^24
        CHECK(int_sqrt(16777215) == 4095);
        CHECK(int_sqrt(UINT64_MAX) == 4294967295u);
    }
    SECTION("default_min_free_kbytes") {
        CHECK(default_min_free_kbytes(1048576) == 4096); // 1 GiB: int_sqrt(16777216)
        CHECK(default_min_free_kbytes(100) == 128);      // int_sqrt(1600) = 40 -> 128
        CHECK(default_min_free_kbytes(46080) == 858);    // 64 MiB machine above
        // 1 TiB = 2^30 kB: int_sqrt(2^34) = 2^17 = 131072, below the cap.
        CHECK(default_min_free_kbytes(uint64_t{1} << 30) == 131072);
        // 16 TiB = 2^34 kB: int_sqrt(2^38) = 2^19 = 524288 -> capped at 262144.
        CHECK(default_min_free_kbytes(uint64_t{1} << 34) == 262144);
    }
    SECTION("zone_batchsize") {
        // min(managed >> 10, 256) / 4, at least 1, rounddown_pow_of_two(b + b/2) - 1, then
        // max(1, ·).
        CHECK(zone_batchsize(4095) == 1); // 3/4 = 0 -> 1 -> 1 - 1 = 0 -> 1
        CHECK(zone_batchsize(8191) == 1);
        CHECK(zone_batchsize(8192) == 1);  // 8/4 = 2 -> 3 -> 2 - 1 = 1
        CHECK(zone_batchsize(16384) == 3); // 4 -> 6 -> 4 - 1
        CHECK(zone_batchsize(32768) == 7); // 8 -> 12 -> 8 - 1
        CHECK(zone_batchsize(65536) == 15);
        CHECK(zone_batchsize(131072) == 31);
        CHECK(zone_batchsize(262144) == 63); // 256/4 = 64 -> 96 -> 64 - 1
        CHECK(zone_batchsize(uint64_t{1} << 30) == 63);
    }
    SECTION("zone_highsize") {
        zone z;
        z.managed_pages = 258048;
        z._watermark[WMARK_LOW] = 1265;
        // (zone, batch, CPUs of the zone's node, online CPUs, percpu_pagelist_high_fraction)
        CHECK(zone_highsize(z, 63, 1, 1, 0) == 1265);  // max(1265/1, 252)
        CHECK(zone_highsize(z, 63, 4, 4, 0) == 316);   // max(1265/4, 252)
        CHECK(zone_highsize(z, 63, 8, 8, 0) == 252);   // max(158, 252)
        CHECK(zone_highsize(z, 63, 1, 1, 8) == 32256); // fraction 8: 258048/8
        // A node without CPUs splits the zone's low watermark over all online CPUs (6.1
        // zone_highsize(): nr_split_cpus 0 -> num_online_cpus()): 1265 / 4 = 316, not 1265.
        CHECK(zone_highsize(z, 63, 0, 4, 0) == 316);
        CHECK(zone_highsize(z, 63, 0, 2, 0) == 632); // 1265 / 2
        CHECK(zone_highsize(z, 63, 0, 1, 0) == 1265);
        z.watermark_boost = 100; // low_wmark_pages includes the boost
        CHECK(zone_highsize(z, 63, 1, 1, 0) == 1365);
        zone d;
        d._watermark[WMARK_LOW] = 18;
        CHECK(zone_highsize(d, 1, 1, 1, 0) == 18); // max(18, 4)
        CHECK(zone_highsize(d, 1, 8, 8, 0) == 4);  // max(2, 4)
    }
}

// ---------------------------------------------------------------------------------------------
// Fragmentation (mm/vmstat.c)

TEST_CASE("fragmentation: contig info, unusable and fragmentation index", "[buddy][vmstat]") {
    zone z;
    // nr_free: o0 10, o1 5, o2 3, o4 1 -> free_pages = 10 + 10 + 12 + 16 = 48, blocks 19.
    z.free_area[0].nr_free = 10;
    z.free_area[1].nr_free = 5;
    z.free_area[2].nr_free = 3;
    z.free_area[4].nr_free = 1;
    SECTION("order 3") {
        const contig_page_info i = fill_contig_page_info(z, 3);
        CHECK(i.free_pages == 48);
        CHECK(i.free_blocks_total == 19);
        CHECK(i.free_blocks_suitable == 2);        // the o4 block = 2 order-3 blocks
        CHECK(unusable_free_index(3, i) == 666);   // (48 - 16) * 1000 / 48 = 666.6
        CHECK(fragmentation_index(3, i) == -1000); // would succeed
    }
    SECTION("order 1") {
        const contig_page_info i = fill_contig_page_info(z, 1);
        CHECK(i.free_blocks_suitable == 19);     // 5 + 3*2 + 1*8
        CHECK(unusable_free_index(1, i) == 208); // (48 - 38) * 1000 / 48 = 208.3
    }
    SECTION("order 0") {
        const contig_page_info i = fill_contig_page_info(z, 0);
        CHECK(i.free_blocks_suitable == 48);
        CHECK(unusable_free_index(0, i) == 0);
    }
    SECTION("order 5: nothing suitable") {
        const contig_page_info i = fill_contig_page_info(z, 5);
        CHECK(i.free_blocks_suitable == 0);
        CHECK(unusable_free_index(5, i) == 1000);
        // 1000 - (1000 + 48*1000/32) / 19 = 1000 - 2500/19 = 1000 - 131 = 869
        CHECK(fragmentation_index(5, i) == 869);
    }
    SECTION("all free memory in single pages") {
        zone y;
        y.free_area[0].nr_free = 100;
        const contig_page_info i = fill_contig_page_info(y, 2);
        // 1000 - (1000 + 100*1000/4) / 100 = 1000 - 260 = 740
        CHECK(fragmentation_index(2, i) == 740);
        CHECK(unusable_free_index(2, i) == 1000);
    }
    SECTION("empty zone") {
        zone e;
        const contig_page_info i = fill_contig_page_info(e, 4);
        CHECK(unusable_free_index(4, i) == 1000);
        CHECK(fragmentation_index(4, i) == 0);
    }
    SECTION("one free order-2 block: negative indices other than -1000") {
        // __fragmentation_index() with no suitable block and one free block of order 2
        // (free_pages 4, free_blocks_total 1): order 3 requests 8 pages,
        // 1000 - (1000 + 4 * 1000 / 8) / 1 = -500; order 4: 1000 - (1000 + 250) = -250;
        // order 9: 1000 - (1000 + 4000 / 512 = 7) = -7.
        zone one;
        one.free_area[2].nr_free = 1;
        CHECK(fragmentation_index(2, fill_contig_page_info(one, 2)) == -1000);
        CHECK(fragmentation_index(3, fill_contig_page_info(one, 3)) == -500);
        CHECK(fragmentation_index(4, fill_contig_page_info(one, 4)) == -250);
        CHECK(fragmentation_index(9, fill_contig_page_info(one, 9)) == -7);
        CHECK(format_extfrag_index(fragmentation_index(3, fill_contig_page_info(one, 3))) ==
              " 0.-500");
        // unusable_index at order 3: (4 - 0) * 1000 / 4 = 1000.
        CHECK(format_unusable_index(unusable_free_index(3, fill_contig_page_info(one, 3))) ==
              "1.000");
    }
    SECTION("as debugfs prints them") {
        // unusable_index: "%d.%03d" of index / 1000, index % 1000.
        CHECK(format_unusable_index(250) == "0.250");
        CHECK(format_unusable_index(0) == "0.000");
        CHECK(format_unusable_index(1000) == "1.000");
        CHECK(format_unusable_index(869) == "0.869");
        // extfrag_index: "%2d.%03d": a width of 2 for the integer part.
        CHECK(format_extfrag_index(250) == " 0.250");
        CHECK(format_extfrag_index(-1000) == "-1.000");
        CHECK(format_extfrag_index(0) == " 0.000");
        // C truncates toward zero: -500 / 1000 = 0 and -500 % 1000 = -500, which "%03d" prints
        // as "-500"; -62 and -7 pad to three characters with the sign: "-62", "-07".
        CHECK(format_extfrag_index(-500) == " 0.-500");
        CHECK(format_extfrag_index(-62) == " 0.-62");
        CHECK(format_extfrag_index(-7) == " 0.-07");
    }
}

// ---------------------------------------------------------------------------------------------
// GFP flags

TEST_CASE("gfp: values, parsing, zones and migratetypes", "[buddy][gfp]") {
    // include/linux/gfp_types.h (6.1)
    CHECK(GFP_KERNEL == 0xCC0);
    CHECK(GFP_ATOMIC == 0xA20);
    CHECK(GFP_USER == 0x100CC0);
    CHECK(GFP_HIGHUSER_MOVABLE == 0x100CCA);

    std::string err;
    auto g = parse_gfp("GFP_KERNEL | __GFP_ZERO", err);
    REQUIRE(g.has_value());
    CHECK(*g == 0xDC0); // 0xCC0 | 0x100
    g = parse_gfp("GFP_HIGHUSER_MOVABLE", err);
    REQUIRE(g.has_value());
    CHECK(*g == 0x100CCA);
    g = parse_gfp("GFP_KERNEL|__GFP_BOGUS", err);
    CHECK_FALSE(g.has_value());
    CHECK(err.find("__GFP_BOGUS") != std::string::npos);
    err.clear();
    CHECK_FALSE(parse_gfp("GFP_KERNEL |", err).has_value());
    CHECK_FALSE(err.empty());
    err.clear();
    CHECK_FALSE(parse_gfp("", err).has_value());
    CHECK_FALSE(err.empty());

    CHECK_FALSE(gfp_problem(__GFP_DMA | __GFP_DMA32).empty());
    CHECK_FALSE(gfp_problem(__GFP_DMA | __GFP_HIGHMEM).empty());
    CHECK_FALSE(gfp_problem(__GFP_MOVABLE | __GFP_RECLAIMABLE).empty());
    CHECK(gfp_problem(GFP_KERNEL).empty());
    CHECK(gfp_problem(GFP_HIGHUSER_MOVABLE).empty());

    const ZoneLayout x = ZoneLayout::for_arch(Arch::x86_64);
    const ZoneLayout i = ZoneLayout::for_arch(Arch::i386);
    using T = zone_type;
    // GFP_ZONE_TABLE: MOVABLE|HIGHMEM -> ZONE_MOVABLE on both.
    CHECK(gfp_zone_type(GFP_HIGHUSER_MOVABLE, x) == T::MOVABLE);
    CHECK(gfp_zone_type(GFP_HIGHUSER_MOVABLE, i) == T::MOVABLE);
    // DMA32 folds to Normal on 32-bit; HIGHMEM folds to Normal on 64-bit.
    CHECK(gfp_zone_type(__GFP_DMA32, i) == T::NORMAL);
    CHECK(gfp_zone_type(__GFP_DMA32, x) == T::DMA32);
    CHECK(gfp_zone_type(__GFP_HIGHMEM, x) == T::NORMAL);
    CHECK(gfp_zone_type(__GFP_HIGHMEM, i) == T::HIGHMEM);
    CHECK(gfp_zone_type(GFP_HIGHUSER, i) == T::HIGHMEM);
    CHECK(gfp_zone_type(GFP_KERNEL, x) == T::NORMAL);
    CHECK(gfp_zone_type(GFP_DMA, x) == T::DMA);
    CHECK(gfp_zone_type(__GFP_MOVABLE, x) == T::NORMAL); // MOVABLE alone -> Normal
    CHECK(gfp_zone_type(__GFP_MOVABLE | __GFP_DMA32, x) == T::DMA32);
    CHECK(gfp_zone_type(__GFP_MOVABLE | __GFP_DMA, i) == T::DMA);

    // gfp_migratetype = (flags & (RECLAIMABLE|MOVABLE)) >> 3
    CHECK(int(gfp_migratetype(GFP_KERNEL)) == int(MIGRATE_UNMOVABLE));
    CHECK(int(gfp_migratetype(GFP_ATOMIC)) == int(MIGRATE_UNMOVABLE));
    CHECK(int(gfp_migratetype(GFP_HIGHUSER_MOVABLE)) == int(MIGRATE_MOVABLE));
    CHECK(int(gfp_migratetype(GFP_KERNEL | __GFP_RECLAIMABLE)) == int(MIGRATE_RECLAIMABLE));
}

// ---------------------------------------------------------------------------------------------
// Allocation failure

// Order-10 GFP_KERNEL until failure on 64 MiB (pcp on; order 10 never uses pcp). Each success
// consumes one free order-10 block: DMA32 first (zonelist DMA32, DMA), then DMA. DMA32 had 7
// order-10 blocks at boot (8192..14336) and the slab's boot allocations split the first, so 6
// remain; DMA has 3. Watermarks never stop an order-10 request while a block is left: DMA32
// before its last block: free >= 1024 + 512 (the o9 block 15360), 1536 - 1023 = 513 > low 177 +
// lowmem_reserve 0; DMA before its last: 1024 + 768 - 1023 = 769 > low 88 + reserve 30.
// So 9 succeed, the 10th fails (no order-10 block anywhere; the slow path's MIN-watermark try
// and the retry after the "reclaim" fail the same way) and is counted once.
TEST_CASE("failure: order-10 GFP_KERNEL until nullptr is a counted failure", "[buddy][failure]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    Kernel& k = b.k;
    REQUIRE(k.buddy.stats().alloc_fail == 0);
    REQUIRE(k.slab.nr_slab_pages(false) + k.slab.nr_slab_pages(true) < 1024);
    REQUIRE(b.z(1).free_area[10].nr_free == 6);
    REQUIRE(b.z(0).free_area[10].nr_free == 3);
    k.buddy.drain_all_pages();
    const uint64_t free0 = k.buddy.nr_free_pages();

    std::vector<page*> got;
    std::vector<std::pair<uint64_t, unsigned>> held;
    while (page* p = alloc(k, GFP_KERNEL, 10)) {
        got.push_back(p);
        held.push_back({pfn_of(k, p), 10});
        REQUIRE(got.size() <= 16);
    }
    CHECK(got.size() == 9);
    // The last three came from DMA (1024, 2048, 3072 in list order).
    REQUIRE(got.size() >= 3);
    CHECK(held[got.size() - 3].first == 1024);
    CHECK(held[got.size() - 1].first == 3072);
    CHECK(k.buddy.stats().alloc_fail == 1);
    CHECK(k.buddy.stats().alloc_fail_costly == 1);
    CHECK(k.buddy.last_failure() != AllocFailure::none);
    CHECK(k.audit(held) == "");
    // Nothing was lost: give it all back.
    for (page* p : got) k.buddy.free_pages(p, 10, 0);
    k.buddy.drain_all_pages();
    CHECK(k.audit({}) == "");
    CHECK(k.buddy.nr_free_pages() == free0);
    CHECK(buddyinfo(b.z(0)) == kDmaBoot);
}

TEST_CASE("failure: orders >= MAX_ORDER fail cleanly", "[buddy][failure]") {
    Booted b(machine(Arch::x86_64, 64 * MiB));
    CHECK(alloc(b.k, GFP_KERNEL, MAX_ORDER) == nullptr);
    CHECK(b.k.buddy.stats().alloc_fail == 1);
    CHECK(b.k.audit({}) == "");
}

TEST_CASE("mem_map: pfn_to_page, page_to_pfn and pte_pfn", "[mem_map]") {
    mmemu::MemMap mm;
    mm.init(1024);
    mmemu::page* p = mm.pfn_to_page(mmemu::Pfn{700});
    REQUIRE(mm.page_to_pfn(p).value == 700);
    REQUIRE(mm.pfn_valid(mmemu::Pfn{1023}));
    REQUIRE_FALSE(mm.pfn_valid(mmemu::Pfn{1024}));
    // i386 PTE 0x00123067: frame 0x123, flags in the low 12 bits.
    REQUIRE(mmemu::pte_pfn(0x00123067, true).value == 0x123);
    // x86_64 PTE with NX (bit 63) and frame 0x1234567: NX and the flag bits are not frame bits.
    REQUIRE(mmemu::pte_pfn(0x8000001234567067ull, false).value == 0x1234567);
}

// find_zone_movable_pfns_for_nodes() on 4 nodes of 2 GiB with kernelcore=1G: the movable zone
// is ZONE_NORMAL (from 4 GiB, pfn 1048576). kernelcore_node = 262144 / 4 = 65536. Node 0's
// memory below 4 GiB (pfns 1..524287 less the holes) already exceeds all of kernelcore, so
// required_kernelcore drops to 0 on node 0; node 1 lies wholly below 4 GiB too. For nodes 2 and
// 3 kernelcore_node becomes 0 / 4 = 0, so ZONE_MOVABLE starts at each node's first pfn: their
// whole memory is Movable and their Normal zones are empty.
TEST_CASE("zones: kernelcore spread over 4 nodes leaves the high nodes all Movable",
          "[buddy][zones]") {
    KernelConfig kc;
    kc.kernelcore_bytes = 1 * GiB;
    MachineConfig mc = machine(Arch::x86_64, 8 * GiB, 4);
    for (uint64_t n = 0; n < 4; n++) mc.nodes.push_back({n * 2 * GiB, (n + 1) * 2 * GiB});
    Booted b(mc, kc);
    REQUIRE(b.k.layout.zone_movable_pfn[0] == 0);
    REQUIRE(b.k.layout.zone_movable_pfn[1] == 0);
    REQUIRE(b.k.layout.zone_movable_pfn[2] == 1048576);
    REQUIRE(b.k.layout.zone_movable_pfn[3] == 1572864);
    for (unsigned nid : {2u, 3u}) {
        REQUIRE(b.k.buddy.nodes[nid].node_zones[2].spanned_pages == 0);      // Normal
        REQUIRE(b.k.buddy.nodes[nid].node_zones[3].spanned_pages == 524288); // Movable
    }
}

// page_to_nid() holds for every page of an allocated block, its tail pages too (Linux's memmap
// init gives every struct page its node and zone; mmemu's leaves free frames zero and sets them
// when a block is handed out). Before this, a multi-page slab on node 1 had second pages that
// read node 0, so an object there freed on its own node was taken for a remote one and its slab
// moved to node 0's lists.
TEST_CASE("alloc: every page of a block on node 1 is on node 1", "[buddy][numa]") {
    Booted b(machine(Arch::x86_64, 128 * MiB, 1, {{0, 64 * MiB}, {64 * MiB, 128 * MiB}}), no_pcp());
    Kernel& k = b.k;
    for (unsigned order : {1u, 3u, 10u}) {
        page* p = alloc(k, GFP_KERNEL | __GFP_THISNODE, order, 1);
        REQUIRE(p);
        const Pfn first{pfn_of(k, p)};
        REQUIRE(first.value >= 16384);
        for (uint64_t i = 0; i < (uint64_t{1} << order); i++) {
            INFO("order " << order << ", page " << i);
            CHECK(k.buddy.mem_map()[first + i].nid() == 1);
            CHECK(k.buddy.mem_map()[first + i].zone_idx() == 1); // DMA32
        }
    }
}
