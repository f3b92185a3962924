// TLB arrays (emulator/tlb.cpp) and the Mmu's TLB hierarchy, paging-structure caches and flush
// instructions (emulator/mmu.cpp), checked against the rules of Intel SDM Vol. 3A 4.10 and
// against replacement victims worked out by hand.
//
// Whether a translation came from a TLB is observed in two independent ways: Translation.source
// (l1 / stlb / walk), and by changing the PTE in emulated RAM after the first access: a TLB hit
// keeps returning the old physical address, a walk returns the new one.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include <cstdint>

#include "emulator/cpu_regs.h"
#include "emulator/fault.h"
#include "emulator/mmu.h"
#include "emulator/paging.h"
#include "emulator/phys_mem.h"
#include "emulator/tlb.h"

using namespace mmemu;

namespace {

constexpr uint64_t P = 1ull << 0, RW = 1ull << 1, PS = 1ull << 7, G = 1ull << 8;

// ---- TlbArray: capacity, associativity, replacement ----------------------------------------

WalkResult page4k(uint64_t frame) {
    WalkResult w;
    w.frame_pa = PhysAddr{frame};
    w.page_shift = 12;
    return w;
}

// A 16-entry, 4-way array has 4 sets; the set of a 4 KiB page is (la >> 12) & 3. Page k of
// set 0 below is la = k * 0x4000 (tag 4k), with frame 0x100000 + k * 0x1000.
uint64_t set0_page(unsigned k) {
    return uint64_t(k) * 0x4000;
}
uint64_t set0_frame(unsigned k) {
    return 0x100000 + uint64_t(k) * 0x1000;
}

// ---- Mmu rig: 4-level tables built in emulated RAM -----------------------------------------

struct Rig {
    PhysicalMemory ram{64ull << 20};
    Mmu mmu{ram};
    uint64_t root = 0x100000, next = 0x101000;

    uint64_t alloc() {
        const uint64_t p = next;
        next += 0x1000;
        return p;
    }
    // Physical address of the level-`level` entry for la, creating the tables above it.
    uint64_t slot(uint64_t la, int level) {
        uint64_t table = root;
        for (int l = 4; l > level; l--) {
            const uint64_t ea = table + ((la >> (12 + 9 * (l - 1))) & 0x1ff) * 8;
            uint64_t e = ram.read_u64(PhysAddr{ea});
            if (!(e & P)) {
                e = alloc() | P | RW;
                ram.write_u64(PhysAddr{ea}, e);
            }
            table = e & 0x000ffffffffff000ull;
        }
        return table + ((la >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
    }
    void map4k(uint64_t la, uint64_t pa, uint64_t flags = P | RW) {
        ram.write_u64(PhysAddr{slot(la, 1)}, pa | flags);
    }
    void map2m(uint64_t la, uint64_t pa, uint64_t flags = P | RW) {
        ram.write_u64(PhysAddr{slot(la, 2)}, pa | flags | PS);
    }
    void enter(uint64_t cr4_extra = 0) {
        REQUIRE_FALSE(mmu.write_cr4(CR4_PAE | cr4_extra).raised());
        REQUIRE_FALSE(mmu.write_efer(EFER_LME | EFER_NXE).raised());
        REQUIRE_FALSE(mmu.write_cr3(root).raised());
        REQUIRE_FALSE(mmu.write_cr0(CR0_PE | CR0_PG).raised());
        REQUIRE(mmu.regs().paging_mode() == PagingMode::level4);
    }
    void enable_pcids() { REQUIRE_FALSE(mmu.write_cr4(mmu.regs().cr4 | CR4_PCIDE).raised()); }
    Translation rd(uint64_t la) {
        Translation t =
            mmu.translate(AccessRequest{LinearAddr{la}, AccessType::read, false, false});
        REQUIRE_FALSE(t.fault.raised());
        return t;
    }
    // True if `la` is served from a TLB (the call itself refills it if not).
    bool cached(uint64_t la) { return rd(la).source != TlbLevel::walk; }
    uint64_t refs() const { return mmu.stats().walk_mem_refs; }
};

// LA = 1<<39 | 2<<30 | 3<<21 = 0x8000000000 + 0x80000000 + 0x600000 = 0x8080600000: PML4
// index 1, PDPT index 2, PD index 3, PT index 0; 2 MiB aligned.
constexpr uint64_t LA = 0x8080600000ull;

} // namespace

TEST_CASE("tlb: 16-entry 4-way array holds 16 pages, the 17th evicts one") {
    TlbArray t({"t16", 16, 4, TLB_4K, ReplacementPolicy::lru});
    // Pages 0..15 at la = i * 0x1000 spread over the 4 sets, 4 per set.
    for (unsigned i = 0; i < 16; i++)
        REQUIRE(t.fill(LinearAddr{i * 0x1000ull}, 0, page4k(0x200000 + i * 0x1000ull)));
    CHECK(t.valid_entries() == 16);
    CHECK(t.stats.evictions == 0);
    for (unsigned i = 0; i < 16; i++) {
        TlbEntry* e = t.lookup(LinearAddr{i * 0x1000ull}, 0);
        REQUIRE(e != nullptr);
        CHECK(e->frame.value == 0x200000 + i * 0x1000ull);
    }
    // Page 16 maps to set 0 (16 & 3 = 0), which holds pages 0, 4, 8, 12; the lookups above
    // touched them in that order, so page 0 is the least recently used.
    REQUIRE(t.fill(LinearAddr{16 * 0x1000ull}, 0, page4k(0x300000)));
    CHECK(t.valid_entries() == 16);
    CHECK(t.stats.evictions == 1);
    CHECK(t.lookup(LinearAddr{0}, 0) == nullptr);
    CHECK(t.lookup(LinearAddr{4 * 0x1000ull}, 0) != nullptr);
    CHECK(t.lookup(LinearAddr{1 * 0x1000ull}, 0) != nullptr); // other sets untouched
}

TEST_CASE("tlb: 16-entry 4-way LRU array evicts the least recently used page of a set") {
    TlbArray t({"lru", 16, 4, TLB_4K, ReplacementPolicy::lru});
    for (unsigned k = 0; k < 4; k++)
        REQUIRE(t.fill(LinearAddr{set0_page(k)}, 0, page4k(set0_frame(k))));
    CHECK(t.stats.evictions == 0);
    REQUIRE(t.lookup(LinearAddr{set0_page(0)}, 0) !=
            nullptr); // re-touch page 0: recency 1, 2, 3, 0
    // Page 4 evicts page 1 (the least recently used). A miss touches nothing, so probing the
    // expected victim does not disturb the order.
    REQUIRE(t.fill(LinearAddr{set0_page(4)}, 0, page4k(set0_frame(4))));
    CHECK(t.stats.evictions == 1);
    CHECK(t.valid_entries() == 4);
    CHECK(t.lookup(LinearAddr{set0_page(1)}, 0) == nullptr);
    // Recency now 2, 3, 0, 4: page 5 evicts page 2.
    REQUIRE(t.fill(LinearAddr{set0_page(5)}, 0, page4k(set0_frame(5))));
    CHECK(t.stats.evictions == 2);
    CHECK(t.lookup(LinearAddr{set0_page(2)}, 0) == nullptr);
    for (unsigned k : {0u, 3u, 4u, 5u}) {
        TlbEntry* e = t.lookup(LinearAddr{set0_page(k)}, 0);
        REQUIRE(e != nullptr);
        CHECK(e->frame.value == set0_frame(k));
    }
}

TEST_CASE("tlb: 16-entry 4-way tree-PLRU array evicts the way the tree bits point at") {
    TlbArray t({"plru", 16, 4, TLB_4K, ReplacementPolicy::plru});
    // Tree pseudo-LRU for 4 ways: a root bit choosing a half, and one bit per half choosing a
    // way; an access points every bit on its path away from the way used. Invalid ways are
    // filled first, lowest way first, so page k goes to way k for k = 0..3.
    //   fill p0 (w0): root->right, b01->w1      fill p1 (w1): root->right, b01->w0
    //   fill p2 (w2): root->left,  b23->w3      fill p3 (w3): root->left,  b23->w2
    //   touch p0 (w0): root->right, b01->w1
    for (unsigned k = 0; k < 4; k++)
        REQUIRE(t.fill(LinearAddr{set0_page(k)}, 0, page4k(set0_frame(k))));
    REQUIRE(t.lookup(LinearAddr{set0_page(0)}, 0) != nullptr);
    // Victim: root->right, b23->w2: page 2 (true LRU would evict page 1).
    //   fill p4 into w2: root->left, b23->w3
    REQUIRE(t.fill(LinearAddr{set0_page(4)}, 0, page4k(set0_frame(4))));
    CHECK(t.stats.evictions == 1);
    CHECK(t.lookup(LinearAddr{set0_page(2)}, 0) == nullptr);
    // Victim: root->left, b01->w1: page 1 (true LRU would evict page 2 = already gone, then 3).
    //   fill p5 into w1: root->right, b01->w0
    REQUIRE(t.fill(LinearAddr{set0_page(5)}, 0, page4k(set0_frame(5))));
    CHECK(t.stats.evictions == 2);
    CHECK(t.lookup(LinearAddr{set0_page(1)}, 0) == nullptr);
    // Touch p3 (w3): root->left, b23->w2. Victim: root->left, b01->w0: page 0.
    REQUIRE(t.lookup(LinearAddr{set0_page(3)}, 0) != nullptr);
    REQUIRE(t.fill(LinearAddr{set0_page(6)}, 0, page4k(set0_frame(6))));
    CHECK(t.stats.evictions == 3);
    CHECK(t.lookup(LinearAddr{set0_page(0)}, 0) == nullptr);
    for (unsigned k : {3u, 4u, 5u, 6u}) {
        TlbEntry* e = t.lookup(LinearAddr{set0_page(k)}, 0);
        REQUIRE(e != nullptr);
        CHECK(e->frame.value == set0_frame(k));
    }
}

TEST_CASE(
    "tlb: a 2 MiB array caches a 1 GiB page as splinters, invalidating the page removes all") {
    // 8 entries, 2 ways: 4 sets, set = (la >> 21) & 3.
    TlbArray t({"s2m", 8, 2, TLB_2M, ReplacementPolicy::lru});
    WalkResult w;
    w.frame_pa = PhysAddr{0x80000000}; // a 1 GiB page at 2 GiB
    w.page_shift = 30;
    const uint64_t base = 1ull << 30;                 // 1 GiB aligned; (base >> 21) = 0x200, set 0
    REQUIRE(t.fill(LinearAddr{base + 0x1234}, 0, w)); // splinter 0: set 0
    REQUIRE(t.fill(LinearAddr{base + 0x200000}, 0, w));  // splinter 1: set 1
    REQUIRE(t.fill(LinearAddr{base + 0x3456789}, 0, w)); // splinter 0x1a: (0x21a) & 3 = set 2
    CHECK(t.valid_entries() == 3);
    TlbEntry* e = t.lookup(LinearAddr{base + 0x3456789}, 0);
    REQUIRE(e != nullptr);
    CHECK(e->frame.value == 0x83400000); // 2 GiB + 0x3400000 (the splinter's base within the page)
    CHECK(e->page_shift == 30);
    // A 4 KiB page cannot go into an array that holds only 2 MiB entries.
    CHECK_FALSE(t.fill(LinearAddr{0x5000}, 0, page4k(0x9000)));
    // Invalidating an address of the page that lies in set 3 (splinter 0x103) removes every
    // splinter, whichever set it is in.
    t.invalidate_page(LinearAddr{base + 0x20600000}, 0, true);
    CHECK(t.valid_entries() == 0);
    CHECK(t.lookup(LinearAddr{base + 0x1234}, 0) == nullptr);
    CHECK(t.lookup(LinearAddr{base + 0x200000}, 0) == nullptr);
}

TEST_CASE("tlb: PCID isolation and the CR3 no-flush bit") {
    Rig r;
    r.map4k(LA, 0x1234000);
    r.enter();
    r.enable_pcids();
    REQUIRE_FALSE(r.mmu.write_cr3(r.root | 1).raised());
    CHECK(r.mmu.current_pcid() == 1);

    Translation t = r.rd(LA + 0x56);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x1234056);
    CHECK(r.rd(LA).source == TlbLevel::l1);
    // New mapping in RAM, no invalidation: PCID 1 keeps the old one.
    r.ram.write_u64(PhysAddr{r.slot(LA, 1)}, 0x5678000 | P | RW);
    CHECK(r.rd(LA).pa.value == 0x1234000);

    // PCID 2 (CR3 bit 63 clear: flushes PCID 2 only): the PCID-1 entry is not used.
    REQUIRE_FALSE(r.mmu.write_cr3(r.root | 2).raised());
    CHECK(r.mmu.current_pcid() == 2);
    t = r.rd(LA);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x5678000);

    // Back to PCID 1 with bit 63 set: its entry survived the two switches (stale PA).
    REQUIRE_FALSE(r.mmu.write_cr3(r.root | 1 | CR3_NOFLUSH).raised());
    CHECK(r.mmu.regs().cr3 == (r.root | 1)); // bit 63 is not stored
    t = r.rd(LA);
    CHECK(t.source == TlbLevel::l1);
    CHECK(t.pa.value == 0x1234000);
    // And PCID 2's entry survived too.
    REQUIRE_FALSE(r.mmu.write_cr3(r.root | 2 | CR3_NOFLUSH).raised());
    t = r.rd(LA);
    CHECK(t.source == TlbLevel::l1);
    CHECK(t.pa.value == 0x5678000);
    // A CR3 write to PCID 1 without bit 63 flushes PCID 1.
    REQUIRE_FALSE(r.mmu.write_cr3(r.root | 1).raised());
    t = r.rd(LA);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x5678000);
}

TEST_CASE("tlb: global entries survive a CR3 write without PCIDs, non-global ones do not") {
    Rig r;
    const uint64_t la_g = LA, la_n = LA + 0x1000;
    r.map4k(la_g, 0x111000, P | RW | G);
    r.map4k(la_n, 0x222000, P | RW);
    SECTION("CR4.PGE=1") {
        r.enter(CR4_PGE);
        CHECK(r.rd(la_g).pa.value == 0x111000);
        CHECK(r.rd(la_n).pa.value == 0x222000);
        r.ram.write_u64(PhysAddr{r.slot(la_g, 1)}, 0x333000 | P | RW | G);
        r.ram.write_u64(PhysAddr{r.slot(la_n, 1)}, 0x444000 | P | RW);
        REQUIRE_FALSE(r.mmu.write_cr3(r.root).raised());
        Translation t = r.rd(la_g);
        CHECK(t.source == TlbLevel::l1);
        CHECK(t.pa.value == 0x111000); // served from the TLB: still the old frame
        t = r.rd(la_n);
        CHECK(t.source == TlbLevel::walk);
        CHECK(t.pa.value == 0x444000);
    }
    SECTION("CR4.PGE=0: G is ignored") {
        r.enter();
        CHECK(r.rd(la_g).pa.value == 0x111000);
        r.ram.write_u64(PhysAddr{r.slot(la_g, 1)}, 0x333000 | P | RW | G);
        REQUIRE_FALSE(r.mmu.write_cr3(r.root).raised());
        Translation t = r.rd(la_g);
        CHECK(t.source == TlbLevel::walk);
        CHECK(t.pa.value == 0x333000);
    }
}

TEST_CASE("tlb: toggling CR4.PGE flushes global entries") {
    Rig r;
    r.map4k(LA, 0x111000, P | RW | G);
    r.enter(CR4_PGE);
    CHECK(r.rd(LA).pa.value == 0x111000);
    r.ram.write_u64(PhysAddr{r.slot(LA, 1)}, 0x333000 | P | RW | G);
    CHECK(r.rd(LA).pa.value == 0x111000); // cached
    // PGE 1 -> 0 invalidates everything, global entries included (SDM 4.10.4.1).
    REQUIRE_FALSE(r.mmu.write_cr4(r.mmu.regs().cr4 & ~CR4_PGE).raised());
    Translation t = r.rd(LA);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x333000);
    // PGE 0 -> 1 does as well.
    r.ram.write_u64(PhysAddr{r.slot(LA, 1)}, 0x555000 | P | RW | G);
    CHECK(r.rd(LA).pa.value == 0x333000);
    REQUIRE_FALSE(r.mmu.write_cr4(r.mmu.regs().cr4 | CR4_PGE).raised());
    t = r.rd(LA);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x555000);
}

TEST_CASE("tlb: a PTE changed in RAM is served stale until INVLPG") {
    Rig r;
    r.map4k(LA, 0x111000);
    r.map4k(LA + 0x1000, 0x222000);
    r.enter();
    CHECK(r.rd(LA + 0x10).pa.value == 0x111010);
    r.ram.write_u64(PhysAddr{r.slot(LA, 1)}, 0x999000 | P | RW);
    Translation t = r.rd(LA + 0x10);
    CHECK(t.source == TlbLevel::l1);
    CHECK(t.pa.value == 0x111010);
    // INVLPG of another page does not remove it.
    r.mmu.invlpg(LinearAddr{LA + 0x1000});
    t = r.rd(LA + 0x10);
    CHECK(t.source == TlbLevel::l1);
    CHECK(t.pa.value == 0x111010);
    // INVLPG of any address in the page does.
    r.mmu.invlpg(LinearAddr{LA + 0xfff});
    t = r.rd(LA + 0x10);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x999010);
}

TEST_CASE("tlb: INVLPG of any address in a 2 MiB page removes it") {
    Rig r;
    r.map2m(LA, 0x40000000); // LA is 2 MiB aligned; frame 0x4000_0000 likewise
    r.enter();
    Translation t = r.rd(LA + 0x1234);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x40001234);
    CHECK(t.page_shift == 21);
    // Another 4 KiB of the same 2 MiB page: the same TLB entry.
    t = r.rd(LA + 0x1ff000);
    CHECK(t.source == TlbLevel::l1);
    CHECK(t.pa.value == 0x401ff000);
    CHECK(t.page_shift == 21);
    r.ram.write_u64(PhysAddr{r.slot(LA, 2)}, 0x40200000 | P | RW | PS);
    CHECK(r.rd(LA + 0x1234).pa.value == 0x40001234); // stale
    // INVLPG of the next 2 MiB page (outside): still cached.
    r.mmu.invlpg(LinearAddr{LA + 0x200000});
    t = r.rd(LA + 0x1234);
    CHECK(t.source == TlbLevel::l1);
    CHECK(t.pa.value == 0x40001234);
    // INVLPG of an address inside the page, not the one accessed: gone.
    r.mmu.invlpg(LinearAddr{LA + 0x123456});
    t = r.rd(LA + 0x1234);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x40201234);
}

TEST_CASE("tlb: INVLPG removes every splinter of a 1 GiB page cached in the iTLB") {
    // The Skylake iTLB holds no 1 GiB entries: a fetch from a 1 GiB page is cached there as a
    // 2 MiB splinter (the STLB's 1 GiB array holds the whole page). INVLPG of any address in
    // the 1 GiB page must remove all of them (SDM 4.10.4.1 footnote: all TLB entries for the page).
    Rig r;
    const uint64_t base = 1ull << 39 | 1ull << 30; // PML4 index 1, PDPT index 1, 1 GiB aligned
    r.ram.write_u64(PhysAddr{r.slot(base, 3)}, 0x80000000ull | P | RW | PS); // frame 2 GiB
    r.enter();
    auto fetch = [&](uint64_t la) {
        Translation t =
            r.mmu.translate(AccessRequest{LinearAddr{la}, AccessType::fetch, false, false});
        REQUIRE_FALSE(t.fault.raised());
        return t;
    };
    Translation t = fetch(base + 0x1234);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x80001234);
    CHECK(t.page_shift == 30);
    CHECK(fetch(base + 0x1234).source == TlbLevel::l1);
    // Another 2 MiB of the page: an iTLB miss served by the STLB, refilled as a second splinter.
    t = fetch(base + 0x3456789);
    CHECK(t.source == TlbLevel::stlb);
    CHECK(t.pa.value == 0x83456789);
    CHECK(fetch(base + 0x3456789).source == TlbLevel::l1);
    // INVLPG of a third 2 MiB region of the page (neither splinter): both splinters go.
    r.mmu.invlpg(LinearAddr{base + 0x20000000});
    t = fetch(base + 0x1234);
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x80001234);
    // (that walk refilled the STLB's 1 GiB entry, so the other splinter comes from there)
    t = fetch(base + 0x3456789);
    CHECK(t.source == TlbLevel::stlb);
    CHECK(t.pa.value == 0x83456789);
}

namespace {

// Pages A, B, C (non-global) and Gl (global) in one page table. PCID 1 caches A, B and Gl
// (Gl is filled while PCID 1 is current); PCID 2 caches A and C; PCID 1 is current at the end.
struct InvpcidRig : Rig {
    const uint64_t A = LA, B = LA + 0x1000, Gl = LA + 0x2000, C = LA + 0x3000;
    InvpcidRig() {
        map4k(A, 0xa000);
        map4k(B, 0xb000);
        map4k(Gl, 0xc000, P | RW | G);
        map4k(C, 0xd000);
        enter(CR4_PGE);
        enable_pcids();
        REQUIRE_FALSE(mmu.write_cr3(root | 1).raised());
        for (uint64_t la : {A, B, Gl}) CHECK(rd(la).source == TlbLevel::walk);
        REQUIRE_FALSE(mmu.write_cr3(root | 2 | CR3_NOFLUSH).raised());
        for (uint64_t la : {A, C}) CHECK(rd(la).source == TlbLevel::walk);
        REQUIRE_FALSE(mmu.write_cr3(root | 1 | CR3_NOFLUSH).raised());
    }
    struct Want {
        bool a1, b1, g, a2, c2;
    };
    // Which translations are still cached (each probe refills its own entry only).
    void check(Want w) {
        CHECK(cached(A) == w.a1);
        CHECK(cached(B) == w.b1);
        CHECK(cached(Gl) == w.g);
        REQUIRE_FALSE(mmu.write_cr3(root | 2 | CR3_NOFLUSH).raised());
        CHECK(cached(A) == w.a2);
        CHECK(cached(C) == w.c2);
    }
};

} // namespace

TEST_CASE("tlb: INVPCID types 0-3") {
    InvpcidRig r;
    const uint64_t A = r.A;
    auto check = [&](InvpcidRig::Want w) { r.check(w); };
    SECTION("type 0: one address in one PCID, not global translations") {
        REQUIRE_FALSE(r.mmu.invpcid(0, 1, LinearAddr{A}).raised());
        check({false, true, true, true, true});
    }
    SECTION("type 0 for PCID 2 from PCID 1") {
        REQUIRE_FALSE(r.mmu.invpcid(0, 2, LinearAddr{A}).raised());
        check({true, true, true, false, true});
    }
    SECTION("type 1: one PCID, not global translations") {
        REQUIRE_FALSE(r.mmu.invpcid(1, 1, LinearAddr{0}).raised());
        check({false, false, true, true, true});
    }
    SECTION("type 2: all PCIDs, global translations included") {
        REQUIRE_FALSE(r.mmu.invpcid(2, 0, LinearAddr{0}).raised());
        check({false, false, false, false, false});
    }
    SECTION("type 3: all PCIDs, not global translations") {
        REQUIRE_FALSE(r.mmu.invpcid(3, 0, LinearAddr{0}).raised());
        check({false, false, true, false, false});
    }
    SECTION("invalid type, non-canonical address: #GP(0)") {
        Fault f = r.mmu.invpcid(4, 0, LinearAddr{0});
        CHECK(f.vector == VEC_GP);
        CHECK(f.error_code == 0);
        f = r.mmu.invpcid(0, 1, LinearAddr{0x0000800000000000ull});
        CHECK(f.vector == VEC_GP);
        check({true, true, true, true, true}); // nothing was invalidated
    }
}

TEST_CASE("tlb: paging-structure caches shorten walks, INVLPG clears them") {
    Rig r;
    r.map4k(LA, 0x10000);
    r.map4k(LA + 0x1000, 0x11000);
    r.map4k(LA + 0x2000, 0x12000);
    r.map4k(LA + 0x200000, 0x13000);     // next PDE, same PD
    r.map4k(LA + 0x40000000, 0x14000);   // next PDPTE, same PDPT (PDPT index 3)
    r.map4k(LA + (1ull << 39), 0x15000); // next PML4E (PML4 index 2)
    r.enter();
    auto walk_refs = [&](uint64_t la, uint64_t pa) {
        const uint64_t before = r.refs();
        Translation t = r.rd(la);
        CHECK(t.source == TlbLevel::walk);
        CHECK(t.pa.value == pa);
        return r.refs() - before;
    };
    CHECK(walk_refs(LA, 0x10000) == 4);                // cold: PML4E, PDPTE, PDE, PTE
    CHECK(walk_refs(LA + 0x1000, 0x11000) == 1);       // PDE-cache hit: the PTE only
    CHECK(walk_refs(LA + 0x200000, 0x13000) == 2);     // PDPTE-cache hit: PDE + PTE
    CHECK(walk_refs(LA + 0x40000000, 0x14000) == 3);   // PML4E-cache hit: PDPTE + PDE + PTE
    CHECK(walk_refs(LA + (1ull << 39), 0x15000) == 4); // nothing cached for PML4 index 2
    // INVLPG invalidates every paging-structure-cache entry of the current PCID (SDM 4.10.4.1),
    // so a page of the same 2 MiB region that is not in the TLB needs a full walk.
    r.mmu.invlpg(LinearAddr{LA});
    CHECK(walk_refs(LA + 0x2000, 0x12000) == 4);
    // ... which refills them: LA itself (removed from the TLB by the INVLPG) needs the PTE only.
    CHECK(walk_refs(LA, 0x10000) == 1);
    // A TLB hit reads nothing.
    const uint64_t before = r.refs();
    CHECK(r.rd(LA + 0x1000).source == TlbLevel::l1);
    CHECK(r.refs() == before);
}

TEST_CASE("tlb: the STLB refills the L1 dTLB after an L1 eviction") {
    Rig r;
    // Pages LA + i*4K for i = 0..64. The Skylake L1 dTLB for 4 KiB pages has 64 entries, 4
    // ways: 16 sets, set = (la >> 12) & 15 = i & 15 (LA is 2 MiB aligned). Pages 0, 16, 32, 48
    // and 64 share set 0, so page 64 evicts page 0 (least recently used). The STLB (1536
    // entries, 12 ways, 128 sets) keeps all 65.
    for (uint64_t i = 0; i <= 64; i++) r.map4k(LA + i * 0x1000, 0x2000000 + i * 0x1000);
    r.enter();
    const TlbArray& l1 = *r.mmu.dtlb().at(0);
    const TlbArray& l2 = *r.mmu.stlb().at(0);
    REQUIRE(l1.config().entries == 64);
    REQUIRE(l1.config().ways == 4);
    REQUIRE(l2.config().entries == 1536);
    for (uint64_t i = 0; i <= 64; i++) CHECK(r.rd(LA + i * 0x1000).source == TlbLevel::walk);
    CHECK(l1.valid_entries() == 64);
    CHECK(l1.stats.evictions == 1);
    CHECK(l2.valid_entries() == 65);
    CHECK(l2.stats.evictions == 0);

    CHECK(r.rd(LA + 64 * 0x1000).source == TlbLevel::l1);
    const uint64_t before = r.refs();
    Translation t = r.rd(LA + 0x24);
    CHECK(t.source == TlbLevel::stlb);
    CHECK(t.pa.value == 0x2000024);
    CHECK(t.page_shift == 12);
    CHECK(r.refs() == before); // no walk
    // Refilled into the L1: the next access hits there.
    t = r.rd(LA);
    CHECK(t.source == TlbLevel::l1);
    CHECK(t.pa.value == 0x2000000);
    // The refill evicted the L1's least recently used entry of set 0: page 16.
    t = r.rd(LA + 16 * 0x1000);
    CHECK(t.source == TlbLevel::stlb);
    CHECK(t.pa.value == 0x2010000);
}

TEST_CASE("tlb: an STLB hit on a fetch refills the L1 iTLB, not the dTLB") {
    Rig r;
    // Pages LA + i*4K for i = 0..4 read first: the dTLB (16 sets of 4) keeps them in sets 0..4,
    // the STLB too. A fetch from each then misses the iTLB (128 entries, 8 ways: 16 sets) and
    // hits the STLB, which refills the iTLB's set i; the dTLB keeps its five entries.
    for (uint64_t i = 0; i < 5; i++) r.map4k(LA + i * 0x1000, 0x2000000 + i * 0x1000);
    r.enter();
    const TlbArray& d = *r.mmu.dtlb().at(0);
    const TlbArray& it = *r.mmu.itlb().at(0);
    REQUIRE(it.config().entries == 128);
    REQUIRE(it.config().ways == 8);
    for (uint64_t i = 0; i < 5; i++) CHECK(r.rd(LA + i * 0x1000).source == TlbLevel::walk);
    CHECK(it.valid_entries() == 0);
    CHECK(d.valid_entries() == 5);
    const AccessRequest fetch{LinearAddr{LA + 0x3010}, AccessType::fetch, false, false};
    Translation t = r.mmu.translate(fetch);
    CHECK(t.source == TlbLevel::stlb);
    CHECK(t.pa.value == 0x2003010);
    CHECK(it.valid_entries() == 1);
    CHECK(it.stats.fills == 1);
    CHECK(d.valid_entries() == 5);
    CHECK(d.stats.fills == 5);
    t = r.mmu.translate(fetch);
    CHECK(t.source == TlbLevel::l1);
    CHECK(it.stats.hits == 1);
    // Every read still hits the dTLB.
    for (uint64_t i = 0; i < 5; i++) CHECK(r.rd(LA + i * 0x1000).source == TlbLevel::l1);
}

// SDM Vol. 2 INVPCID, type 0: "invalidates mappings-except global translations-for the linear
// address and PCID specified". (The SDM adds that a processor "may" also invalidate global
// translations in some cases, but the emulator documents type 0 as "individual address, except
// global translations", and its types 1 and 3 do keep them.) The emulator removes a global entry
// here because the entry was filled while PCID 1 was current and TlbArray::invalidate_page
// matches `e.pcid == pcid` before looking at `include_global`; a global entry filled under
// another PCID would survive the same INVPCID.
TEST_CASE("tlb: INVPCID type 0 at a global page's address keeps the global translation", "") {
    InvpcidRig r;
    REQUIRE_FALSE(r.mmu.invpcid(0, 1, LinearAddr{r.Gl}).raised());
    r.check({true, true, true, true, true});
}

// ---- Property tests: the TLB arrays and paging-structure caches against reference models -----
//
// The models below keep each set (or the whole cache) as a list in recency order, most recent
// first, and do what the SDM and the documented policy say in the plainest way: a lookup that
// hits moves the entry to the front; a fill replaces an entry for the same page (the same PCID,
// or global) in place, else takes a free way, else evicts the least recently used one. Random
// operations are applied to both; every result and counter must agree.

namespace {

struct RefEntry {
    uint64_t tag;
    unsigned shift;
    uint16_t pcid;
    bool global;
    uint64_t frame;
};

struct RefTlb {
    unsigned sets, ways;
    std::vector<unsigned> shifts; // held sizes, ascending
    std::vector<std::vector<RefEntry>> set;
    uint64_t evictions = 0;
    RefTlb(unsigned entries, unsigned w, std::vector<unsigned> sh)
        : sets(entries / w), ways(w), shifts(std::move(sh)), set(entries / w) {}
    std::vector<RefEntry>& of(uint64_t tag) { return set[tag & (sets - 1)]; }
    // The frame of the hit, or ~0.
    uint64_t lookup(uint64_t la, uint16_t pcid) {
        for (unsigned sh : shifts) {
            auto& s = of(la >> sh);
            for (size_t i = 0; i < s.size(); i++)
                if (s[i].shift == sh && s[i].tag == (la >> sh) &&
                    (s[i].global || s[i].pcid == pcid)) {
                    RefEntry e = s[i];
                    s.erase(s.begin() + long(i));
                    s.insert(s.begin(), e);
                    return e.frame;
                }
        }
        return ~0ull;
    }
    // Whether an entry for the page (cached at the size a fill would use) matches `pcid`.
    bool has(uint64_t la, uint16_t pcid, unsigned page_shift) {
        unsigned sh = 0;
        for (unsigned x : shifts)
            if (x <= page_shift) sh = x;
        for (const RefEntry& e : of(la >> sh))
            if (e.shift == sh && e.tag == (la >> sh) && (e.global || e.pcid == pcid)) return true;
        return false;
    }
    void fill(uint64_t la, uint16_t pcid, unsigned page_shift, bool global, uint64_t page_frame) {
        unsigned sh = 0;
        for (unsigned x : shifts)
            if (x <= page_shift) sh = x;
        REQUIRE(sh != 0);
        RefEntry e{la >> sh, sh, pcid, global,
                   page_frame + (la & ((1ull << page_shift) - 1) & ~((1ull << sh) - 1))};
        auto& s = of(e.tag);
        for (size_t i = 0; i < s.size(); i++)
            if (s[i].shift == sh && s[i].tag == e.tag && (s[i].global || s[i].pcid == pcid)) {
                s.erase(s.begin() + long(i));
                s.insert(s.begin(), e);
                return;
            }
        if (s.size() == ways) {
            s.pop_back();
            evictions++;
        }
        s.insert(s.begin(), e);
    }
    void invalidate(int pcid, bool include_global) {
        for (auto& s : set)
            for (size_t i = s.size(); i-- > 0;)
                if (s[i].global ? include_global : (pcid < 0 || s[i].pcid == pcid))
                    s.erase(s.begin() + long(i));
    }
    unsigned valid() const {
        unsigned n = 0;
        for (const auto& s : set) n += unsigned(s.size());
        return n;
    }
};

uint64_t xorshift(uint64_t& x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

} // namespace

TEST_CASE("tlb: arrays match a reference LRU model over random lookups, fills and flushes") {
    // Geometries: a 4-way and a 16-way array (recency kept as nibbles), a 24-way one (per-entry
    // stamps), each holding 4 KiB and 2 MiB entries in the same sets.
    for (auto [entries, ways] : {std::pair{16u, 4u}, std::pair{64u, 16u}, std::pair{48u, 24u}}) {
        INFO("entries " << entries << ", ways " << ways);
        TlbArray t({"t", entries, ways, TLB_4K | TLB_2M, ReplacementPolicy::lru});
        RefTlb ref(entries, ways, {12, 21});
        uint64_t x = 0x1234567 + ways;
        for (int step = 0; step < 60000; step++) {
            const uint64_t r = xorshift(x);
            // A small address space so sets fill up and pages repeat: 64 4 KiB pages in 4 MiB,
            // and 2 MiB pages over the same range.
            const uint64_t la = ((r >> 8) & 63) << 12 | ((r >> 20) & 1) << 22 | (r >> 30 & 0xfff);
            const uint16_t pcid = uint16_t((r >> 40) & 3);
            const unsigned op = unsigned(r & 15);
            if (op < 8) {
                TlbEntry* e = t.lookup(LinearAddr{la}, pcid);
                const uint64_t want = ref.lookup(la, pcid);
                REQUIRE((e ? e->frame.value : ~0ull) == want);
            } else if (op < 14) {
                // Global pages are those of one 4 MiB half of the range, as in a kernel whose
                // mappings are global and a user space whose are not (two entries for one page,
                // one global and one not, would make the hardware's choice between them
                // undefined, SDM 4.10.2.4).
                const bool big = (r >> 44 & 7) == 0, global = (la >> 22) & 1;
                const unsigned ps = big ? 21 : 12;
                const uint64_t frame = ((r >> 50) & 0xff) << ps;
                // When the model holds no entry for the page, the fill says so half of the
                // time (as the MMU does after a probe that missed), taking the path that skips
                // the search of the set.
                const bool absent = !ref.has(la, pcid, ps) && (r >> 62 & 1);
                REQUIRE(t.fill(LinearAddr{la}, pcid,
                               TlbFill{PhysAddr{frame}, ps, PageRights{}, global, false}, absent));
                ref.fill(la, pcid, ps, global, frame);
            } else if (op == 14) {
                const int p = (r >> 60 & 1) ? -1 : int(pcid);
                t.invalidate(p, (r >> 61) & 1);
                ref.invalidate(p, (r >> 61) & 1);
            } else {
                continue;
            }
            REQUIRE(t.valid_entries() == ref.valid());
            REQUIRE(t.stats.evictions == ref.evictions);
        }
    }
}

TEST_CASE("tlb: single-size arrays match the reference model through the MRU entry and the "
          "refill into a probed set") {
    // The MMU's L1 path: lookup() may serve the entry used or filled last without probing;
    // lookup_rest() with a Probe, and after a miss refill_probed() into the probed set (an STLB
    // hit copied into the L1 TLB) with no search. Geometries: recency nibbles (4 and 16 ways)
    // and per-entry stamps (24 ways).
    for (auto [entries, ways] : {std::pair{16u, 4u}, std::pair{64u, 16u}, std::pair{48u, 24u}}) {
        INFO("entries " << entries << ", ways " << ways);
        TlbArray t({"t", entries, ways, TLB_4K, ReplacementPolicy::lru});
        RefTlb ref(entries, ways, {12});
        uint64_t x = 0x7654321 + ways;
        uint64_t refills = 0;
        for (int step = 0; step < 60000; step++) {
            const uint64_t r = xorshift(x);
            // 64 pages, a quarter of them global (those in the top 64 KiB of the range).
            const uint64_t page = (r >> 8) & 63, la = page << 12 | (r >> 30 & 0xfff);
            const bool global = page >= 48;
            const uint16_t pcid = uint16_t((r >> 40) & 3);
            const unsigned op = unsigned(r & 15);
            const uint64_t frame = ((r >> 50) & 0xff) << 12;
            if (op < 6) {
                TlbEntry* e = t.lookup(LinearAddr{la}, pcid);
                REQUIRE((e ? e->frame.value : ~0ull) == ref.lookup(la, pcid));
            } else if (op < 12) {
                TlbArray::Probe probe;
                TlbEntry* e = t.lookup_rest(LinearAddr{la}, pcid, probe);
                REQUIRE((e ? e->frame.value : ~0ull) == ref.lookup(la, pcid));
                REQUIRE(probe.valid);
                if (!e && (r >> 45 & 1)) {
                    // An entry of another array for the page (as the STLB's): copied as is.
                    TlbEntry src;
                    src.frame = PhysAddr{frame};
                    src.shift = src.page_shift = 12;
                    src.global = global;
                    src.pcid = uint16_t(pcid ^ 1); // the copy takes the current PCID
                    REQUIRE(t.refill_probed(probe, LinearAddr{la}, &src, pcid));
                    ref.fill(la, pcid, 12, global, frame);
                    refills++;
                    // The copy is the most recent entry of its set: served at once.
                    TlbEntry* again = t.lookup(LinearAddr{la}, pcid);
                    REQUIRE(again != nullptr);
                    CHECK(again->pcid == pcid);
                    REQUIRE(again->frame.value == ref.lookup(la, pcid));
                }
            } else if (op < 15) {
                const bool absent = !ref.has(la, pcid, 12) && (r >> 62 & 1);
                REQUIRE(t.fill(LinearAddr{la}, pcid,
                               TlbFill{PhysAddr{frame}, 12, PageRights{}, global, false}, absent));
                ref.fill(la, pcid, 12, global, frame);
            } else {
                const int p = (r >> 60 & 1) ? -1 : int(pcid);
                t.invalidate(p, (r >> 61) & 1);
                ref.invalidate(p, (r >> 61) & 1);
            }
            REQUIRE(t.valid_entries() == ref.valid());
            REQUIRE(t.stats.evictions == ref.evictions);
        }
        CHECK(refills > 1000);
    }
    // A probe of an array of several sizes cannot be refilled into, nor can an entry of
    // another size.
    TlbArray multi({"m", 16, 4, TLB_4K | TLB_2M, ReplacementPolicy::lru});
    TlbArray::Probe probe;
    CHECK(multi.lookup_rest(LinearAddr{0x5000}, 0, probe) == nullptr);
    CHECK_FALSE(probe.valid);
    TlbEntry src;
    src.shift = src.page_shift = 12;
    CHECK_FALSE(multi.refill_probed(probe, LinearAddr{0x5000}, &src, 0));
    TlbArray single({"s", 16, 4, TLB_4K, ReplacementPolicy::lru});
    CHECK(single.lookup_rest(LinearAddr{0x40000000}, 0, probe) == nullptr);
    src.shift = src.page_shift = 30;
    CHECK_FALSE(single.refill_probed(probe, LinearAddr{0x40000000}, &src, 0));
    CHECK(single.valid_entries() == 0);
}

TEST_CASE("tlb: paging-structure caches match a reference LRU model") {
    for (unsigned size : {2u, 4u, 16u, 17u, 32u, 100u}) {
        INFO("entries " << size);
        PagingStructureCache c("psc", 2, size);
        struct E {
            uint64_t tag;
            uint16_t pcid;
            uint64_t table;
        };
        std::vector<E> ref; // most recent first
        uint64_t evictions = 0, x = 99 + size;
        for (int step = 0; step < 60000; step++) {
            const uint64_t r = xorshift(x);
            const uint64_t tag = (r >> 8) % (size * 3);
            const uint16_t pcid = uint16_t((r >> 20) & 1);
            auto it = std::find_if(ref.begin(), ref.end(),
                                   [&](const E& e) { return e.tag == tag && e.pcid == pcid; });
            switch (r & 7) {
            case 0:
            case 1:
            case 2: {
                const PscEntry* e = c.lookup(tag, pcid);
                REQUIRE((e != nullptr) == (it != ref.end()));
                if (e) {
                    REQUIRE(e->table_pa.value == it->table);
                    E moved = *it;
                    ref.erase(it);
                    ref.insert(ref.begin(), moved);
                }
                break;
            }
            case 7: {
                const int p = (r >> 30 & 1) ? -1 : int(pcid);
                c.invalidate(p);
                ref.erase(std::remove_if(ref.begin(), ref.end(),
                                         [&](const E& e) { return p < 0 || e.pcid == p; }),
                          ref.end());
                break;
            }
            default: {
                const uint64_t table = (r >> 32) << 12;
                // Told the tag is absent (as after a missed probe) half of the time it is.
                c.fill(tag, pcid, PhysAddr{table}, PageRights{}, it == ref.end() && (r >> 40 & 1));
                if (it != ref.end())
                    ref.erase(it);
                else if (ref.size() == size) {
                    ref.pop_back();
                    evictions++;
                }
                ref.insert(ref.begin(), E{tag, pcid, table});
            }
            }
            REQUIRE(c.valid_entries() == ref.size());
            REQUIRE(c.stats.evictions == evictions);
        }
    }
}
