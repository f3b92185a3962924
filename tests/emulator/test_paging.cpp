// The x86 page walker (emulator/paging.cpp) and the Mmu's register side effects, checked against
// values worked out by hand from Intel SDM Vol. 3A chapter 4 (and the summary in
// /work/shared/reference/x86-mmu-facts.md sections 2 and 3), and against an independent
// reference model of the SDM's #PF rules written below (namespace `ref`). Nothing here calls
// the emulator's own permission code (permitted) to compute an expected
// value: entry bits, error-code bits and the rules are spelled out in this file.
//
// Page tables are built by hand in emulated RAM. Physical addresses of tables are chosen below
// 64 MiB (the RAM size); the frames the leaves point at need not exist (no data is accessed).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "emulator/cpu_regs.h"
#include "emulator/fault.h"
#include "emulator/mmu.h"
#include "emulator/paging.h"
#include "emulator/phys_mem.h"

using namespace mmemu;

namespace {

// Paging-entry bits (SDM Tables 4-4..4-20), spelled out independently of the emulator.
constexpr uint64_t P = 1ull << 0, RW = 1ull << 1, US = 1ull << 2, A = 1ull << 5, D = 1ull << 6,
                   PS = 1ull << 7, XD = 1ull << 63;
// #PF error-code bits (SDM 4.7, Figure 4-12).
constexpr uint32_t E_P = 1, E_W = 2, E_U = 4, E_RSVD = 8, E_ID = 16, E_PK = 32;

constexpr uint64_t RAM_BYTES = 64ull << 20;

void w64(PhysicalMemory& ram, uint64_t pa, uint64_t v) {
    ram.write_u64(PhysAddr{pa}, v);
}
void w32(PhysicalMemory& ram, uint64_t pa, uint32_t v) {
    ram.write_u32(PhysAddr{pa}, v);
}
uint64_t r64(const PhysicalMemory& ram, uint64_t pa) {
    return ram.read_u64(PhysAddr{pa});
}
uint32_t r32(const PhysicalMemory& ram, uint64_t pa) {
    return ram.read_u32(PhysAddr{pa});
}

AccessRequest req(uint64_t la, AccessType t = AccessType::read, bool user = false,
                  bool implicit = false) {
    return AccessRequest{LinearAddr{la}, t, user, implicit};
}

// Mode entry, in the order the SDM requires (CR4/EFER before CR0.PG).
void enter_32bit(Mmu& m, uint64_t cr3, uint64_t cr4 = 0) {
    REQUIRE_FALSE(m.write_cr4(cr4).raised());
    REQUIRE_FALSE(m.write_cr3(cr3).raised());
    REQUIRE_FALSE(m.write_cr0(CR0_PE | CR0_PG).raised());
    REQUIRE(m.regs().paging_mode() == PagingMode::bits32);
}
void enter_pae(Mmu& m, uint64_t cr3, uint64_t efer = 0, uint64_t cr4_extra = 0) {
    REQUIRE_FALSE(m.write_cr4(CR4_PAE | cr4_extra).raised());
    REQUIRE_FALSE(m.write_efer(efer).raised());
    REQUIRE_FALSE(m.write_cr3(cr3).raised());
    REQUIRE_FALSE(m.write_cr0(CR0_PE | CR0_PG).raised());
    REQUIRE(m.regs().paging_mode() == PagingMode::pae);
}
void enter_long(Mmu& m, uint64_t cr3, uint64_t efer_extra = EFER_NXE, uint64_t cr4_extra = 0) {
    REQUIRE_FALSE(m.write_cr4(CR4_PAE | cr4_extra).raised());
    REQUIRE_FALSE(m.write_efer(EFER_LME | efer_extra).raised());
    REQUIRE_FALSE(m.write_cr3(cr3).raised());
    REQUIRE_FALSE(m.write_cr0(CR0_PE | CR0_PG).raised());
    REQUIRE(m.regs().long_mode());
}

// ---- The 4-level tables used by several tests ------------------------------------------------
// la = 0x7fead9be1345: PML4 index 0xff, PDPT index 0x1ab, PD index 0xcd, PT index 0x1e1,
// offset 0x345. (0xff<<39 = 0x7f8000000000, 0x1ab<<30 = 0x6ac0000000, 0xcd<<21 = 0x19a00000,
// 0x1e1<<12 = 0x1e1000; the sum plus 0x345 is 0x7fead9be1345.)
// Tables: PML4 0x30000, PDPT 0x31000, PD 0x32000, PT 0x33000. Entry addresses:
// PML4E 0x30000 + 0xff*8 = 0x307f8, PDPTE 0x31000 + 0x1ab*8 = 0x31d58,
// PDE 0x32000 + 0xcd*8 = 0x32668, PTE 0x33000 + 0x1e1*8 = 0x33f08.
constexpr uint64_t LA4 = 0x7fead9be1345ull;
constexpr uint64_t PML4E_AT = 0x307f8, PDPTE_AT = 0x31d58, PDE_AT = 0x32668, PTE_AT = 0x33f08;

void build4(PhysicalMemory& ram, uint64_t pte = 0x789abc007ull) {
    w64(ram, PML4E_AT, 0x31007);
    w64(ram, PDPTE_AT, 0x32007);
    w64(ram, PDE_AT, 0x33007);
    w64(ram, PTE_AT, pte);
}

} // namespace

// ============================================================================================
// 32-bit paging
// ============================================================================================

TEST_CASE("paging: 32-bit 4 KiB walk of the i386 example address 0x08048568") {
    PhysicalMemory ram(RAM_BYTES);
    Mmu mmu(ram);
    // 0x08048568 >> 22 = 0x20 = 32 (PDE index); (0x08048568 >> 12) & 0x3ff = 0x48 = 72 (PTE
    // index); offset 0x568. PD at 0x10000: PDE at 0x10000 + 32*4 = 0x10080. PT at 0x11000: PTE at
    // 0x11000 + 72*4 = 0x11120. PTE frame 0x00abc000 -> PA 0x00abc568.
    const uint64_t la = 0x08048568;
    w32(ram, 0x10080, 0x00011007); // PT 0x11000, P|RW|US
    w32(ram, 0x11120, 0x00abc007); // frame 0xabc000, P|RW|US
    enter_32bit(mmu, 0x10000);

    WalkResult w = page_walk(mmu.regs(), mmu.pdptes(), ram, req(la));
    REQUIRE_FALSE(w.fault.raised());
    CHECK(w.pa.value == 0x00abc568);
    CHECK(w.page_shift == 12);
    CHECK(w.mem_refs == 2);
    REQUIRE(w.nsteps == 2);
    CHECK(w.steps[0].index == 32);
    CHECK(w.steps[0].entry_pa.value == 0x10080);
    CHECK(w.steps[1].index == 72);
    CHECK(w.steps[1].entry_pa.value == 0x11120);
    // A read sets A (bit 5, 0x20) on both entries and no D.
    CHECK(r32(ram, 0x10080) == 0x00011027);
    CHECK(r32(ram, 0x11120) == 0x00abc027);
    // The neighbouring entries are untouched.
    CHECK(r32(ram, 0x1007c) == 0);
    CHECK(r32(ram, 0x11124) == 0);

    // A write through the Mmu (empty TLB: a walk) sets D (0x40) on the PTE only; a PDE that
    // references a page table has no D.
    Translation t = mmu.translate(req(la, AccessType::write));
    REQUIRE_FALSE(t.fault.raised());
    CHECK(t.pa.value == 0x00abc568);
    CHECK(t.page_shift == 12);
    CHECK(t.source == TlbLevel::walk);
    CHECK(r32(ram, 0x10080) == 0x00011027);
    CHECK(r32(ram, 0x11120) == 0x00abc067);
    // Served from the L1 TLB next time.
    CHECK(mmu.translate(req(la)).source == TlbLevel::l1);
}

TEST_CASE("paging: 32-bit 4 MiB page with CR4.PSE, PS ignored when PSE=0") {
    PhysicalMemory ram(RAM_BYTES);
    Mmu mmu(ram);
    const uint64_t la =
        0x08048568; // PDE index 32 (at 0x10080), PTE index 72, la & 0x3fffff = 0x48568

    SECTION("PSE=1: PDE 0x00800087 maps a 4 MiB page at 8 MiB") {
        w32(ram, 0x10080, 0x00800087); // frame bits 31:22 = 0x00800000, PS|US|RW|P
        enter_32bit(mmu, 0x10000, CR4_PSE);
        Translation t = mmu.translate(req(la, AccessType::write));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x00848568); // 0x00800000 + 0x48568
        CHECK(t.page_shift == 22);
        CHECK(r32(ram, 0x10080) == 0x008000e7); // + A + D on the leaf PDE
    }
    SECTION("PSE=0: the same PS bit is ignored, the PDE references a page table") {
        w32(ram, 0x10080, 0x00011087); // PT 0x11000, PS set (ignored), P|RW|US
        w32(ram, 0x11120, 0x00abc007);
        enter_32bit(mmu, 0x10000, 0);
        Translation t = mmu.translate(req(la, AccessType::write));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x00abc568);
        CHECK(t.page_shift == 12);
        CHECK(r32(ram, 0x10080) == 0x000110a7); // A only (no D on a non-leaf PDE)
        CHECK(r32(ram, 0x11120) == 0x00abc067); // A + D
    }
    SECTION("PSE=1 with the same PDE 0x00011087: a 4 MiB page, PDE bits 20:13 give PA 39:32") {
        w32(ram, 0x10080, 0x00011087);
        w32(ram, 0x11120, 0x00abc007);
        enter_32bit(mmu, 0x10000, CR4_PSE);
        // Bits 31:22 = 0; bits 20:13 = (0x11087 >> 13) & 0xff = 8 -> PA bits 39:32 = 8, i.e.
        // frame 0x8_0000_0000 (bit 12, PAT, is not an address bit). MAXPHYADDR 46 >= 40, so no
        // bit of 20:13 is reserved. PA = 0x800000000 + 0x48568.
        Translation t = mmu.translate(req(la));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x800048568ull);
        CHECK(t.page_shift == 22);
        CHECK(r32(ram, 0x10080) == 0x000110a7); // A on the leaf, no D for a read
        CHECK(r32(ram, 0x11120) == 0x00abc007); // the PT is not used
    }
}

TEST_CASE("paging: 32-bit PSE-36 page above 4 GiB and MAXPHYADDR-reserved PDE bits") {
    PhysicalMemory ram(RAM_BYTES);
    Mmu mmu(ram);
    const uint64_t la = 0x08048568; // PDE at 0x10080, la & 0x3fffff = 0x48568
    auto run = [&](unsigned maxphy, uint32_t pde) {
        mmu.set_maxphyaddr(maxphy);
        w32(ram, 0x10080, pde);
        enter_32bit(mmu, 0x10000, CR4_PSE);
        return mmu.translate(req(la));
    };
    SECTION("PDE 0x00002083, MAXPHYADDR 36: bit 13 -> PA bit 32") {
        Translation t = run(36, 0x00002083);
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x100048568ull); // frame 0x1_0000_0000 + 0x48568
        CHECK(t.page_shift == 22);
        CHECK(r32(ram, 0x10080) == 0x000020a3);
    }
    SECTION("PDE 0xffc1e083, MAXPHYADDR 36: all 36 address bits") {
        // bits 31:22 = 0x3ff -> 0xffc00000; bits 16:13 = 0xf -> PA 35:32 = 0xf.
        Translation t = run(36, 0xffc1e083);
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0xfffc48568ull); // 0xf_ffc0_0000 + 0x48568
    }
    SECTION("PDE 0x00022083, MAXPHYADDR 36: bit 17 (PA bit 36) is reserved -> #PF P|RSVD") {
        Translation t = run(36, 0x00022083);
        REQUIRE(t.fault.raised());
        CHECK(t.fault.vector == VEC_PF);
        CHECK(t.fault.error_code == (E_P | E_RSVD)); // supervisor read: 0x9
        CHECK(t.fault.cr2.value == la);
        CHECK(mmu.regs().cr2 == la);
        CHECK(r32(ram, 0x10080) == 0x00022083); // no A on a faulting leaf
    }
    SECTION("PDE 0x00022083, MAXPHYADDR 40: bits 20:13 = 0x11 -> PA bits 39:32 = 0x11") {
        Translation t = run(40, 0x00022083);
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x1100048568ull);
    }
    SECTION("PDE 0x00122083, MAXPHYADDR 40: bit 20 -> PA bit 39") {
        // bits 20:13 = 0x122000 >> 13 = 0x91 (bits 20, 17, 13) -> PA bits 39:32 = 0x91.
        Translation t = run(40, 0x00122083);
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x9100048568ull);
    }
    SECTION("MAXPHYADDR 32 (a CPU without PAE, SDM 4.1.4): every PSE-36 bit 20:13 is reserved") {
        // PA bits 39:32 would come from PDE bits 20:13; with MAXPHYADDR 32 all of them are at or
        // above it, so bit 13 alone (0x2000) faults, and a PDE without them translates below
        // 4 GiB.
        Translation t = run(32, 0x00002083);
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_RSVD));
        CHECK(t.fault.bit == 13);
        t = run(32, 0x00c00083); // frame 0x00c00000
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x00c48568u);
        t = run(32, 0x00100083); // bit 20: the top PSE-36 bit, also reserved
        REQUIRE(t.fault.raised());
        CHECK(t.fault.bit == 20);
    }
    SECTION("PDE bit 21 is always reserved in a 4 MiB PDE") {
        Translation t = run(40, 0x00202083);
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_RSVD));
        CHECK(r32(ram, 0x10080) == 0x00202083);
    }
}

// ============================================================================================
// PAE paging
// ============================================================================================

// la1 = 0xC0A45678: PDPT index (la >> 30) = 3, PD index (la >> 21) & 0x1ff = 0x605 & 0x1ff = 5,
// PT index (la >> 12) & 0x1ff = 0xc0a45 & 0x1ff = 0x45, offset 0x678.
// la2 = 0xC0C45678: PDPT index 3, PD index 0x606 & 0x1ff = 6, PT index 0x45.
// PDPT at 0x20000 (PDPTE 3 at 0x20018); PD at 0x21000: PDE 5 at 0x21028, PDE 6 at 0x21030;
// PT at 0x22000: PTE 0x45 at 0x22000 + 0x45*8 = 0x22228.
TEST_CASE("paging: PAE walk uses the PDPTE registers loaded at MOV CR3") {
    PhysicalMemory ram(RAM_BYTES);
    Mmu mmu(ram);
    const uint64_t la1 = 0xC0A45678, la2 = 0xC0C45678;
    w64(ram, 0x20018, 0x21001);        // PDPTE 3 -> PD 0x21000
    w64(ram, 0x21028, 0x22007);        // PDE 5 -> PT 0x22000
    w64(ram, 0x21030, 0x25007);        // PDE 6 -> PT 0x25000
    w64(ram, 0x22228, 0x123456007ull); // PTE 0x45 -> 0x1_2345_6000
    w64(ram, 0x25228, 0x07777007ull);  // PTE 0x45 -> 0x0777_7000
    // A second PD at 0x23000 with PDE 5 and 6 -> PT 0x24000, whose PTE 0x45 -> 0x0999_9000.
    w64(ram, 0x23028, 0x24007);
    w64(ram, 0x23030, 0x24007);
    w64(ram, 0x24228, 0x09999007ull);
    enter_pae(mmu, 0x20000);
    CHECK(mmu.pdptes().e[3] == 0x21001);

    const uint64_t refs0 = mmu.stats().walk_mem_refs;
    Translation t = mmu.translate(req(la1));
    REQUIRE_FALSE(t.fault.raised());
    CHECK(t.pa.value == 0x123456678ull);
    // The PDPTE comes from a register: only the PDE and the PTE are read from memory.
    CHECK(mmu.stats().walk_mem_refs - refs0 == 2);
    CHECK(r64(ram, 0x20018) == 0x21001); // no A written into the PDPT
    CHECK(r64(ram, 0x21028) == 0x22027);
    CHECK(r64(ram, 0x22228) == 0x123456027ull);

    // Point PDPTE 3 in memory at the second PD. Until CR3 is written again the registers
    // still hold the old PDPTE.
    w64(ram, 0x20018, 0x23001);
    WalkResult w = page_walk(mmu.regs(), mmu.pdptes(), ram, req(la1));
    REQUIRE_FALSE(w.fault.raised());
    CHECK(w.pa.value == 0x123456678ull);
    CHECK(w.mem_refs == 2);
    // la2 was never translated (no TLB or PDE-cache entry): a full walk, from the old PDPTE.
    t = mmu.translate(req(la2));
    REQUIRE_FALSE(t.fault.raised());
    CHECK(t.source == TlbLevel::walk);
    CHECK(t.pa.value == 0x07777678ull);

    // MOV CR3 reloads the registers: both addresses now go through PD 0x23000.
    REQUIRE_FALSE(mmu.write_cr3(0x20000).raised());
    CHECK(mmu.pdptes().e[3] == 0x23001);
    t = mmu.translate(req(la1));
    REQUIRE_FALSE(t.fault.raised());
    CHECK(t.pa.value == 0x09999678ull);
    t = mmu.translate(req(la2));
    REQUIRE_FALSE(t.fault.raised());
    CHECK(t.pa.value == 0x09999678ull);
}

TEST_CASE("paging: PAE PDPTE with a reserved bit makes MOV CR3 raise #GP(0)") {
    PhysicalMemory ram(RAM_BYTES);
    Mmu mmu(ram);
    const uint64_t la1 = 0xC0A45678;
    w64(ram, 0x20018, 0x21001);
    w64(ram, 0x21028, 0x22007);
    w64(ram, 0x22228, 0x123456007ull);
    enter_pae(mmu, 0x20000);

    SECTION("bit 1 in a present PDPTE") {
        w64(ram, 0x26000, 0x21003); // PDPTE 0: P + bit 1 (reserved, SDM Table 4-8)
        Fault f = mmu.write_cr3(0x26000);
        CHECK(f.vector == VEC_GP);
        CHECK(f.error_code == 0);
        // The write did not happen: CR3 and the PDPTE registers are unchanged, translation works.
        CHECK(mmu.regs().cr3 == 0x20000);
        CHECK(mmu.pdptes().e[3] == 0x21001);
        Translation t = mmu.translate(req(la1));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x123456678ull);
    }
    SECTION("bit 63 in a present PDPTE") {
        w64(ram, 0x26010, 0x8000000000021001ull);
        Fault f = mmu.write_cr3(0x26000);
        CHECK(f.vector == VEC_GP);
        CHECK(mmu.regs().cr3 == 0x20000);
    }
    SECTION("a PDPTE at MAXPHYADDR (bit 46)") {
        w64(ram, 0x26008, (1ull << 46) | 0x21001);
        CHECK(mmu.write_cr3(0x26000).vector == VEC_GP);
    }
    SECTION("reserved bits in a non-present PDPTE are not checked") {
        w64(ram, 0x26000, 0x21002); // P=0, bit 1 set
        w64(ram, 0x26018, 0x21001);
        Fault f = mmu.write_cr3(0x26000);
        CHECK_FALSE(f.raised());
        CHECK(mmu.regs().cr3 == 0x26000);
        // PDPTE 0 is not present: an address in the first GiB faults with P=0.
        Translation t = mmu.translate(req(0x1000));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == 0);
        CHECK(mmu.translate(req(la1)).pa.value == 0x123456678ull);
    }
}

TEST_CASE("paging: PAE 2 MiB page and NX with EFER.NXE") {
    PhysicalMemory ram(RAM_BYTES);
    Mmu mmu(ram);
    const uint64_t la1 = 0xC0A45678; // PDE 5 at 0x21028, PTE at 0x22228, la & 0x1fffff = 0x45678
    w64(ram, 0x20018, 0x21001);
    SECTION("2 MiB page") {
        w64(ram, 0x21028, 0x40600087); // frame 0x40600000 (0x203 * 2 MiB), PS|US|RW|P
        enter_pae(mmu, 0x20000);
        Translation t = mmu.translate(req(la1, AccessType::write));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x40645678);
        CHECK(t.page_shift == 21);
        CHECK(r64(ram, 0x21028) == 0x406000e7);
    }
    SECTION("XD on the PTE with NXE=1: reads allowed, fetches fault with I/D") {
        w64(ram, 0x21028, 0x22007);
        w64(ram, 0x22228, XD | 0x123456007ull);
        enter_pae(mmu, 0x20000, EFER_NXE);
        Translation t = mmu.translate(req(la1));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x123456678ull);
        t = mmu.translate(req(la1, AccessType::fetch));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_ID)); // 0x11
        t = mmu.translate(req(la1, AccessType::fetch, true));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_U | E_ID)); // 0x15
        CHECK(t.fault.cr2.value == la1);
    }
    SECTION("XD on the PTE with NXE=0: bit 63 is reserved") {
        w64(ram, 0x21028, 0x22007);
        w64(ram, 0x22228, XD | 0x123456007ull);
        enter_pae(mmu, 0x20000, 0);
        Translation t = mmu.translate(req(la1));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_RSVD)); // 0x9
        t = mmu.translate(req(la1, AccessType::fetch));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_RSVD));       // no I/D: no SMEP, NXE=0
        CHECK(r64(ram, 0x21028) == 0x22027);               // the PDE was passed: A
        CHECK(r64(ram, 0x22228) == (XD | 0x123456007ull)); // the faulting leaf: untouched
    }
}

// ============================================================================================
// 4-level and 5-level paging
// ============================================================================================

TEST_CASE("paging: 4-level 4 KiB, 2 MiB and 1 GiB pages with A and D written back") {
    PhysicalMemory ram(RAM_BYTES);
    Mmu mmu(ram);
    build4(ram);
    SECTION("4 KiB page") {
        enter_long(mmu, 0x30000);
        const uint64_t refs0 = mmu.stats().walk_mem_refs;
        Translation t = mmu.translate(req(LA4));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x789abc345ull); // frame 0x7_89ab_c000 + 0x345
        CHECK(t.page_shift == 12);
        CHECK(mmu.stats().walk_mem_refs - refs0 == 4);
        CHECK(r64(ram, PML4E_AT) == 0x31027);
        CHECK(r64(ram, PDPTE_AT) == 0x32027);
        CHECK(r64(ram, PDE_AT) == 0x33027);
        CHECK(r64(ram, PTE_AT) == 0x789abc027ull);
        // A write: the cached entry is clean, so the Mmu re-walks and the PTE gets D.
        t = mmu.translate(req(LA4, AccessType::write));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(r64(ram, PML4E_AT) == 0x31027);
        CHECK(r64(ram, PDPTE_AT) == 0x32027);
        CHECK(r64(ram, PDE_AT) == 0x33027);
        CHECK(r64(ram, PTE_AT) == 0x789abc067ull);
    }
    SECTION("2 MiB page") {
        w64(ram, PDE_AT, 0x555600087ull); // frame 0x5_5560_0000 (2 MiB aligned), PS|US|RW|P
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4, AccessType::write));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x5557e1345ull); // 0x5_5560_0000 + (la & 0x1fffff = 0x1e1345)
        CHECK(t.page_shift == 21);
        CHECK(r64(ram, PML4E_AT) == 0x31027);
        CHECK(r64(ram, PDPTE_AT) == 0x32027);
        CHECK(r64(ram, PDE_AT) == 0x5556000e7ull);
        CHECK(r64(ram, PTE_AT) == 0x789abc007ull); // not used
    }
    SECTION("1 GiB page") {
        w64(ram, PDPTE_AT, 0x840000087ull); // frame 0x8_4000_0000, PS|US|RW|P
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x859be1345ull); // 0x8_4000_0000 + (la & 0x3fffffff = 0x19be1345)
        CHECK(t.page_shift == 30);
        CHECK(r64(ram, PML4E_AT) == 0x31027);
        CHECK(r64(ram, PDPTE_AT) == 0x8400000a7ull); // A, no D on a read
        CHECK(r64(ram, PDE_AT) == 0x33007);
        t = mmu.translate(req(LA4, AccessType::write));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(r64(ram, PDPTE_AT) == 0x8400000e7ull);
    }
    SECTION("XD on the PML4E makes the whole subtree non-executable") {
        w64(ram, PML4E_AT, XD | 0x31007);
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4));
        REQUIRE_FALSE(t.fault.raised());
        t = mmu.translate(req(LA4, AccessType::fetch));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_ID));
        CHECK(t.fault.cr2.value == LA4);
    }
    SECTION("XD on the PTE, user fetch") {
        w64(ram, PTE_AT, XD | 0x789abc007ull);
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4, AccessType::fetch, true));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_U | E_ID)); // 0x15
        CHECK(r64(ram, PTE_AT) == (XD | 0x789abc007ull));
        CHECK(r64(ram, PDE_AT) == 0x33027);
    }
}

// The concurrent mode: another CPU's kernel write-protects the PTE (RW and D cleared) while this
// CPU's walker is setting A and D on it for a write. The walker's update is a locked
// compare-and-exchange (SDM 4.8): if the entry changed after the walk read it, the walk starts
// again and faults, so a plain write-back of the stale entry can never make the page writable
// again. Each round races one write-protect against a loop of write walks.
TEST_CASE("paging: a walker's A/D update never brings back rights another CPU took away") {
    unsigned lost = 0, writable_after = 0;
    for (unsigned round = 0; round < 300; round++) {
        PhysicalMemory ram(RAM_BYTES);
        build4(ram);
        Mmu mmu(ram);
        enter_long(mmu, 0x30000);
        std::atomic<bool> go{false}, wrprotected{false};
        std::atomic<unsigned> walks{0};
        std::thread cpu1([&] {
            go = true;
            for (unsigned i = 0; i < 400; i++) {
                // Make the flags clean again (only while the page is still writable), so that
                // every walk updates them.
                const uint64_t e = ram.load_entry(PTE_AT, true);
                if (e & RW) ram.cas_entry(PTE_AT, e, e & ~(A | D), true);
                const bool after = wrprotected.load();
                const WalkResult w =
                    page_walk(mmu.regs(), mmu.pdptes(), ram, req(LA4, AccessType::write, true));
                if (after && !w.fault.raised()) lost++;
                walks++;
            }
        });
        while (!go) std::this_thread::yield();
        while (walks < round % 50) std::this_thread::yield();
        ram.store_entry(PTE_AT, 0x789abc005ull, true); // write-protected (RW 0), clean
        wrprotected = true;
        cpu1.join();
        if (r64(ram, PTE_AT) & (RW | D)) writable_after++;
    }
    CHECK(lost == 0);
    CHECK(writable_after == 0);
}

TEST_CASE("paging: 5-level walk with CR4.LA57 for an address using bits 56:48") {
    PhysicalMemory ram(RAM_BYTES);
    build4(ram);
    // la5 = 0xa3 << 48 | LA4: PML5 index 0xa3 (bit 56 = 0, so canonical with 57 bits).
    // PML5 at 0x40000: PML5E at 0x40000 + 0xa3*8 = 0x40518 -> PML4 0x30000.
    const uint64_t la5 = 0x00a37fead9be1345ull;
    w64(ram, 0x40518, 0x30007);
    SECTION("LA57") {
        Mmu mmu(ram);
        enter_long(mmu, 0x40000, EFER_NXE, CR4_LA57);
        REQUIRE(mmu.regs().paging_mode() == PagingMode::level5);
        WalkResult w = page_walk(mmu.regs(), mmu.pdptes(), ram, req(la5, AccessType::write));
        REQUIRE_FALSE(w.fault.raised());
        CHECK(w.pa.value == 0x789abc345ull);
        CHECK(w.mem_refs == 5);
        REQUIRE(w.nsteps == 5);
        CHECK(w.steps[0].level == 5);
        CHECK(w.steps[0].index == 0xa3);
        CHECK(w.steps[0].entry_pa.value == 0x40518);
        CHECK(r64(ram, 0x40518) == 0x30027);
        CHECK(r64(ram, PML4E_AT) == 0x31027);
        CHECK(r64(ram, PTE_AT) == 0x789abc067ull);
        // Bit 56 set with bits 63:57 clear is not canonical for 57 bits: #GP(0).
        Translation t = mmu.translate(req(la5 | (1ull << 56)));
        CHECK(t.fault.vector == VEC_GP);
        // Canonical upper half: bits 63:56 all set. PML5 index 0x1a3 (0xa3 | 0x100) is empty.
        t = mmu.translate(req(0xffa37fead9be1345ull));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.vector == VEC_PF);
        CHECK(t.fault.error_code == 0);
    }
    SECTION("the same address is not canonical with 4-level paging") {
        Mmu mmu(ram);
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(la5));
        CHECK(t.fault.vector == VEC_GP);
        CHECK(t.fault.error_code == 0);
    }
}

TEST_CASE("paging: MOV to CR3 with bit 63 set raises #GP(0) unless CR4.PCIDE=1") {
    // SDM Vol. 3A Table 4-12: with CR4.PCIDE=0, CR3 bits 63:MAXPHYADDR are reserved, and MOV to
    // CR3 setting a reserved bit raises #GP(0) (Vol. 2 MOV CR exceptions). With PCIDE=1, bit 63
    // is the no-flush hint and is not stored (4.10.4.1, Table 4-13).
    PhysicalMemory ram(RAM_BYTES);
    build4(ram, 0x789abc007ull);
    Mmu mmu(ram);
    enter_long(mmu, 0x30000);
    const Fault f = mmu.write_cr3(0x30000 | (1ull << 63));
    REQUIRE(f.raised());
    CHECK(f.vector == VEC_GP);
    CHECK(f.error_code == 0);
    CHECK(mmu.regs().cr3 == 0x30000); // the write did not happen
    // With PCIDE=1 the same value is accepted, bit 63 dropped.
    REQUIRE_FALSE(mmu.write_cr4(mmu.regs().cr4 | CR4_PCIDE).raised());
    REQUIRE_FALSE(mmu.write_cr3(0x30000 | (1ull << 63)).raised());
    CHECK(mmu.regs().cr3 == 0x30000);
}

TEST_CASE("paging: MAXPHYADDR decides whether PTE bit 40 is reserved") {
    PhysicalMemory ram(RAM_BYTES);
    build4(ram, (1ull << 40) | 0x789abc007ull);
    SECTION("MAXPHYADDR 36: #PF with P|RSVD plus the access bits") {
        Mmu mmu(ram);
        mmu.set_maxphyaddr(36);
        enter_long(mmu, 0x30000, EFER_NXE);
        struct {
            AccessType type;
            bool user;
            uint32_t err;
        } cases[] = {
            {AccessType::read, false, E_P | E_RSVD},              // 0x09
            {AccessType::write, false, E_P | E_RSVD | E_W},       // 0x0b
            {AccessType::write, true, E_P | E_RSVD | E_W | E_U},  // 0x0f
            {AccessType::fetch, false, E_P | E_RSVD | E_ID},      // 0x19 (PAE-based + NXE)
            {AccessType::fetch, true, E_P | E_RSVD | E_ID | E_U}, // 0x1d
        };
        for (auto& c : cases) {
            Translation t = mmu.translate(req(LA4, c.type, c.user));
            REQUIRE(t.fault.raised());
            CHECK(t.fault.vector == VEC_PF);
            CHECK(t.fault.error_code == c.err);
            CHECK(t.fault.cr2.value == LA4);
            CHECK(mmu.regs().cr2 == LA4);
        }
        CHECK(r64(ram, PDE_AT) == 0x33027);                         // passed: A
        CHECK(r64(ram, PTE_AT) == ((1ull << 40) | 0x789abc007ull)); // faulting leaf untouched
    }
    SECTION("MAXPHYADDR 46: bit 40 is an address bit") {
        Mmu mmu(ram);
        mmu.set_maxphyaddr(46);
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4));
        REQUIRE_FALSE(t.fault.raised());
        CHECK(t.pa.value == 0x10789abc345ull); // 1<<40 | 0x7_89ab_c345
    }
}

TEST_CASE(
    "paging: fault order not-present then reserved then protection, error-code bits and CR2") {
    PhysicalMemory ram(RAM_BYTES);
    Mmu mmu(ram);
    mmu.set_maxphyaddr(36);
    SECTION("a non-present PDE over a PTE with a reserved bit: P=0") {
        build4(ram, (1ull << 40) | 0x789abc007ull);
        w64(ram, PDE_AT, 0x33006); // P=0
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == 0);
        t = mmu.translate(req(LA4, AccessType::write, true));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_W | E_U)); // 0x6
        CHECK(mmu.regs().cr2 == LA4);
        CHECK(r64(ram, PDPTE_AT) == 0x32027);
        CHECK(r64(ram, PDE_AT) == 0x33006);
    }
    SECTION("a present PDE with a reserved bit and U/S=0, user access: RSVD, not protection") {
        build4(ram);
        w64(ram, PDE_AT, (1ull << 36) | 0x33003); // supervisor, bit 36 >= MAXPHYADDR
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4, AccessType::read, true));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_RSVD | E_U)); // 0xd
    }
    SECTION("U/S=0 on the PML4E and a reserved bit in the PTE: RSVD wins") {
        build4(ram, (1ull << 51) | 0x789abc007ull);
        w64(ram, PML4E_AT, 0x31003);
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4, AccessType::write, true));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_RSVD | E_U | E_W)); // 0xf
    }
    SECTION("U/S=0 on the PML4E and a non-present PTE: P=0 wins") {
        build4(ram, 0x789abc006ull);
        w64(ram, PML4E_AT, 0x31003);
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4, AccessType::read, true));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == E_U); // 0x4
    }
    SECTION("U/S=0 on the PML4E only: a protection fault") {
        build4(ram);
        w64(ram, PML4E_AT, 0x31003);
        enter_long(mmu, 0x30000);
        Translation t = mmu.translate(req(LA4, AccessType::read, true));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_P | E_U)); // 0x5
        CHECK(t.fault.cr2.value == LA4);
        // The implicit supervisor access at CPL 3 is allowed and reports no U.
        t = mmu.translate(req(LA4, AccessType::read, true, true));
        CHECK_FALSE(t.fault.raised());
    }
    SECTION("I/D: 32-bit paging reports it only with SMEP") {
        // PD at 0x10000 with nothing present.
        enter_32bit(mmu, 0x10000);
        Translation t = mmu.translate(req(0x08048568, AccessType::fetch));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == 0);
        REQUIRE_FALSE(mmu.write_cr4(CR4_SMEP).raised());
        t = mmu.translate(req(0x08048568, AccessType::fetch, true));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == (E_ID | E_U)); // 0x14
        CHECK(mmu.regs().cr2 == 0x08048568);
    }
    SECTION("I/D: 32-bit paging with EFER.NXE set but no PAE: no I/D") {
        REQUIRE_FALSE(mmu.write_efer(EFER_NXE).raised());
        enter_32bit(mmu, 0x10000);
        Translation t = mmu.translate(req(0x08048568, AccessType::fetch));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == 0);
    }
    SECTION("I/D: PAE paging reports it with NXE") {
        // PDPT at 0x20000, all PDPTEs not present.
        enter_pae(mmu, 0x20000, 0);
        Translation t = mmu.translate(req(0xC0A45678, AccessType::fetch));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == 0);
        REQUIRE_FALSE(mmu.write_efer(EFER_NXE).raised());
        t = mmu.translate(req(0xC0A45678, AccessType::fetch));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == E_ID); // 0x10
        CHECK(t.fault.cr2.value == 0xC0A45678);
    }
    SECTION("I/D: 4-level paging with NXE=0 and SMEP=0: no I/D") {
        build4(ram, 0x789abc006ull);
        enter_long(mmu, 0x30000, 0);
        Translation t = mmu.translate(req(LA4, AccessType::fetch));
        REQUIRE(t.fault.raised());
        CHECK(t.fault.error_code == 0);
    }
}

// ============================================================================================
// The permission matrix against an independent reference model
// ============================================================================================

namespace ref {

enum class Mode { b32, pae, l4, l5 };

const char* mode_name(Mode m) {
    switch (m) {
    case Mode::b32: return "32-bit";
    case Mode::pae: return "PAE";
    case Mode::l4: return "4-level";
    case Mode::l5: return "5-level";
    }
    return "?";
}

// Where everything lives. MAXPHYADDR is 36 in every matrix run, so bit 36 is the "bit at
// MAXPHYADDR" reserved-bit variant, and all frames below are below 2^36.
struct Layout {
    Mode mode;
    int top; // the first level read from memory (PAE: 2, the PDPTE is a register)
    uint64_t la;
    uint64_t cr3;
    uint64_t table[6]; // table[l]: physical address of the table holding the level-l entry
    uint64_t frame[4]; // frame[l]: the page's physical base when level l is the leaf
    unsigned shift[4]; // page size when level l is the leaf
    bool wide() const { return mode != Mode::b32; }
    bool ia32e() const { return mode == Mode::l4 || mode == Mode::l5; }
    unsigned index(int l) const {
        if (mode == Mode::b32) return unsigned(l == 2 ? (la >> 22) : (la >> 12)) & 0x3ff;
        return unsigned(la >> (12 + 9 * (l - 1))) & 0x1ff;
    }
    uint64_t entry_pa(int l) const { return table[l] + uint64_t(index(l)) * (wide() ? 8 : 4); }
};

Layout layout(Mode m) {
    Layout L{};
    L.mode = m;
    switch (m) {
    case Mode::b32:
        // la 0x40123abc: PDE index 0x100, PTE index 0x123, offset 0xabc.
        L.top = 2;
        L.la = 0x40123abc;
        L.cr3 = 0x10000;
        L.table[2] = 0x10000;
        L.table[1] = 0x11000;
        L.frame[1] = 0x00345000;
        L.frame[2] = 0x100c00000ull; // PSE-36: PDE bits 31:22 = 0x00c00000, bit 13 -> PA bit 32
        L.shift[1] = 12;
        L.shift[2] = 22;
        break;
    case Mode::pae:
        // la 0xC0A45678: PDPTE 3, PDE 5, PTE 0x45, offset 0x678.
        L.top = 2;
        L.la = 0xC0A45678;
        L.cr3 = 0x20000;
        L.table[2] = 0x21000;
        L.table[1] = 0x22000;
        L.frame[1] = 0x987654000ull;
        L.frame[2] = 0xabc000000ull;
        L.shift[1] = 12;
        L.shift[2] = 21;
        break;
    case Mode::l4:
    case Mode::l5:
        L.top = m == Mode::l5 ? 5 : 4;
        L.la = m == Mode::l5 ? 0x00a37fead9be1345ull : LA4;
        L.cr3 = m == Mode::l5 ? 0x40000 : 0x30000;
        L.table[5] = 0x40000;
        L.table[4] = 0x30000;
        L.table[3] = 0x31000;
        L.table[2] = 0x32000;
        L.table[1] = 0x33000;
        L.frame[1] = 0x789abc000ull;
        L.frame[2] = 0x555600000ull;
        L.frame[3] = 0x840000000ull;
        L.shift[1] = 12;
        L.shift[2] = 21;
        L.shift[3] = 30;
        break;
    }
    return L;
}

struct Case {
    bool p[6] = {}, rw[6] = {}, us[6] = {}, xd[6] = {}, a0[6] = {}, d0[6] = {};
    bool ps2 = false, ps3 = false; // PDE.PS, PDPTE.PS
    AccessType type = AccessType::read;
    bool user = false, implicit = false;
    bool wp = false, nxe = false, smep = false, smap = false, ac = false, pse = false, pke = false;
    bool pkru_ad = false, pkru_wd = false; // for key 1 (the leaf's key)
    int rsv_level = 0, rsv_bit = -1;       // one injected reserved bit (0: none)
};

// The value written for the level-l entry.
uint64_t entry_value(const Layout& L, const Case& c, int l) {
    uint64_t v = (c.p[l] ? P : 0) | (c.rw[l] ? RW : 0) | (c.us[l] ? US : 0) | (c.a0[l] ? A : 0) |
                 (c.d0[l] ? D : 0);
    if (L.wide() && c.xd[l]) v |= XD;
    bool large = false;
    if (l == 2 && c.ps2) {
        v |= PS;
        large = L.mode == Mode::b32 ? c.pse : true;
    }
    if (l == 3 && c.ps3 && L.ia32e()) {
        v |= PS;
        large = true;
    }
    if (large)
        v |= L.mode == Mode::b32 ? (0x00c00000ull | (1ull << 13)) : L.frame[l];
    else if (l == 1)
        v |= L.frame[1];
    else
        v |= L.table[l - 1];
    // Protection keys: key 1 in an entry that maps a page, key 2 in the others (bits 62:59 are
    // ignored in non-leaf entries; PKRU disables key 2 entirely, so using it would show).
    if (L.ia32e()) v |= uint64_t(l == 1 || large ? 1 : 2) << 59;
    if (c.rsv_level == l) v |= 1ull << c.rsv_bit;
    return v;
}

struct Expect {
    bool fault = false;
    uint32_t err = 0;
    uint64_t pa = 0;
    unsigned shift = 0;
    uint64_t entry[6] = {};
};

// SDM 4.6-4.8 (summary: x86-mmu-facts.md section 2), written independently.
Expect model(const Layout& L, const Case& c, const uint64_t (&val)[6]) {
    Expect x;
    for (int l = 1; l <= 5; l++) x.entry[l] = val[l];
    const bool write = c.type == AccessType::write, fetch = c.type == AccessType::fetch;
    const bool sup = !c.user || c.implicit; // supervisor if CPL<3 or implicit
    const bool pae_based = L.mode != Mode::b32;
    const uint32_t base = (write ? E_W : 0) | (sup ? 0 : E_U) |
                          (fetch && (c.smep || (pae_based && c.nxe)) ? E_ID : 0);
    bool w = true, u = true, xd = false;
    int leaf = 0;
    for (int l = L.top; l >= 1; l--) {
        const uint64_t e = val[l];
        if (!(e & P)) {
            x.fault = true;
            x.err = base;
            return x;
        }
        // Reserved: the injected bit (only injected where it is reserved), or XD with NXE=0.
        const bool rsv = c.rsv_level == l || (pae_based && (e & XD) && !c.nxe);
        if (rsv) {
            x.fault = true;
            x.err = base | E_P | E_RSVD;
            return x;
        }
        w = w && (e & RW);
        u = u && (e & US);
        if (pae_based && c.nxe && (e & XD)) xd = true;
        const bool is_leaf = l == 1 || (l == 2 && (e & PS) && (pae_based || c.pse)) ||
                             (l == 3 && (e & PS) && L.ia32e());
        if (is_leaf) {
            leaf = l;
            break;
        }
        x.entry[l] |= A; // the emulator's documented choice: upper-level A as each entry is passed
    }
    bool ok, pk = false;
    if (fetch) {
        ok = sup ? (!xd && !(u && c.smep)) : (u && !xd);
    } else {
        if (!sup)
            ok = u && (!write || w);
        else
            ok = !(u && c.smap && (c.implicit || !c.ac)) && (!write || w || !c.wp);
        if (L.ia32e() && c.pke && u && (c.pkru_ad || (write && c.pkru_wd && (!sup || c.wp)))) {
            pk = true;
            ok = false;
        }
    }
    if (!ok) {
        x.fault = true;
        x.err = base | E_P | (pk ? E_PK : 0);
        return x;
    }
    x.entry[leaf] |= A | (write ? D : 0);
    x.shift = L.shift[leaf];
    x.pa = L.frame[leaf] | (L.la & ((1ull << x.shift) - 1));
    return x;
}

std::string describe(const Layout& L, const Case& c) {
    std::string s = mode_name(L.mode);
    char buf[96];
    for (int l = L.top; l >= 1; l--) {
        std::snprintf(buf, sizeof buf, " L%d[%s%s%s%s%s%s%s]", l, c.p[l] ? "P" : "-",
                      c.rw[l] ? "W" : "-", c.us[l] ? "U" : "-", c.xd[l] ? "X" : "-",
                      c.a0[l] ? "A" : "", c.d0[l] ? "D" : "",
                      (l == 2 && c.ps2) || (l == 3 && c.ps3) ? "S" : "");
        s += buf;
    }
    std::snprintf(buf, sizeof buf, " %s%s%s",
                  c.type == AccessType::read    ? "read"
                  : c.type == AccessType::write ? "write"
                                                : "fetch",
                  c.user ? " cpl3" : " cpl0", c.implicit ? " implicit" : "");
    s += buf;
    std::snprintf(buf, sizeof buf,
                  " wp%d nxe%d smep%d smap%d ac%d pse%d pke%d ad%d wd%d rsv(L%d,b%d)", c.wp, c.nxe,
                  c.smep, c.smap, c.ac, c.pse, c.pke, c.pkru_ad, c.pkru_wd, c.rsv_level, c.rsv_bit);
    s += buf;
    return s;
}

struct Runner {
    PhysicalMemory& ram;
    Layout L;
    uint64_t checked = 0, mismatches = 0;
    std::vector<std::string> first;

    Runner(PhysicalMemory& r, Mode m) : ram(r), L(layout(m)) {
        if (m == Mode::pae) w64(ram, L.cr3 + 8 * ((L.la >> 30) & 3), L.table[2] | P);
    }

    void run(const Case& c) {
        CpuRegs regs;
        regs.cr0 = CR0_PE | CR0_PG | (c.wp ? CR0_WP : 0);
        regs.cr4 = (L.wide() ? CR4_PAE : 0) | (c.pse ? CR4_PSE : 0) | (c.smep ? CR4_SMEP : 0) |
                   (c.smap ? CR4_SMAP : 0) | (c.pke ? CR4_PKE : 0) |
                   (L.mode == Mode::l5 ? CR4_LA57 : 0);
        regs.efer = (L.ia32e() ? (EFER_LME | EFER_LMA) : 0) | (c.nxe ? EFER_NXE : 0);
        regs.rflags = 0x2 | (c.ac ? RFLAGS_AC : 0);
        // PKRU: key 1 from the case (AD bit 2, WD bit 3), key 2 fully disabled (bits 4, 5).
        // Outside IA-32e paging every key is disabled: protection keys must not apply there.
        regs.pkru =
            L.ia32e() ? ((c.pkru_ad ? 4u : 0u) | (c.pkru_wd ? 8u : 0u) | 0x30u) : 0xffffffffu;
        regs.maxphyaddr = 36;
        regs.cr3 = L.cr3;
        PdpteRegs pdptes; // PAE: PDPTE 3 -> the PD, present (set by hand, as MOV CR3 would)
        if (L.mode == Mode::pae) pdptes.e[(L.la >> 30) & 3] = L.table[2] | P;

        uint64_t val[6] = {};
        for (int l = L.top; l >= 1; l--) {
            val[l] = entry_value(L, c, l);
            if (L.wide())
                w64(ram, L.entry_pa(l), val[l]);
            else
                w32(ram, L.entry_pa(l), uint32_t(val[l]));
        }
        const WalkResult w = page_walk(regs, pdptes, ram,
                                       AccessRequest{LinearAddr{L.la}, c.type, c.user, c.implicit});
        const Expect x = model(L, c, val);
        checked++;

        std::string why;
        char buf[160];
        if (w.fault.raised() != x.fault) {
            std::snprintf(buf, sizeof buf, " fault: got %d (err %#x) want %d (err %#x);",
                          int(w.fault.raised()), w.fault.error_code, int(x.fault), x.err);
            why += buf;
        } else if (x.fault) {
            if (w.fault.vector != VEC_PF || w.fault.error_code != x.err ||
                w.fault.cr2.value != L.la) {
                std::snprintf(buf, sizeof buf, " #PF: got vec %d err %#x cr2 %#llx, want err %#x;",
                              w.fault.vector, w.fault.error_code,
                              (unsigned long long)w.fault.cr2.value, x.err);
                why += buf;
            }
        } else if (w.pa.value != x.pa || w.page_shift != x.shift) {
            std::snprintf(buf, sizeof buf, " pa %#llx/%u want %#llx/%u;",
                          (unsigned long long)w.pa.value, w.page_shift, (unsigned long long)x.pa,
                          x.shift);
            why += buf;
        }
        for (int l = L.top; l >= 1; l--) {
            const uint64_t got = L.wide() ? r64(ram, L.entry_pa(l)) : r32(ram, L.entry_pa(l));
            if (got != x.entry[l]) {
                std::snprintf(buf, sizeof buf, " L%d entry %#llx want %#llx;", l,
                              (unsigned long long)got, (unsigned long long)x.entry[l]);
                why += buf;
            }
        }
        if (!why.empty()) {
            mismatches++;
            if (first.size() < 12) first.push_back(describe(L, c) + " ->" + why);
        }
    }

    // Nothing but the entries of the path was ever written into the tables (and, for PAE, the
    // PDPT in memory is unchanged: the PDPTE register has no A bit).
    uint64_t stray_writes() const {
        uint64_t n = 0;
        for (int l = L.top; l >= 1; l--)
            for (uint64_t off = 0; off < 4096; off += 4) {
                const uint64_t pa = L.table[l] + off;
                const uint64_t e = L.entry_pa(l);
                if (pa >= e && pa < e + (L.wide() ? 8 : 4)) continue;
                n += r32(ram, pa) != 0;
            }
        if (L.mode == Mode::pae)
            for (unsigned i = 0; i < 4; i++)
                n += r64(ram, L.cr3 + 8 * i) != (i == ((L.la >> 30) & 3) ? (L.table[2] | P) : 0);
        return n;
    }

    void report(uint64_t want_checked) {
        INFO(mode_name(L.mode) << ": " << checked << " combinations checked, " << mismatches
                               << " mismatches");
        for (const auto& s : first) UNSCOPED_INFO(s);
        CHECK(checked == want_checked);
        CHECK(mismatches == 0);
        CHECK(stray_writes() == 0);
    }
};

// The access (type, CPL, implicit) triples: implicit accesses are data accesses, so an
// implicit fetch is not generated. 3*2*2 - 2 = 10 combinations.
struct Access {
    AccessType type;
    bool user, implicit;
};
std::vector<Access> accesses() {
    std::vector<Access> v;
    for (AccessType t : {AccessType::read, AccessType::write, AccessType::fetch})
        for (int user = 0; user < 2; user++)
            for (int imp = 0; imp < 2; imp++)
                if (!(imp && t == AccessType::fetch)) v.push_back({t, bool(user), bool(imp)});
    return v;
}

} // namespace ref

TEST_CASE("paging: permission matrix, 32-bit paging, full product") {
    using namespace ref;
    PhysicalMemory ram(RAM_BYTES);
    Runner r(ram, Mode::b32);
    // Per entry P, R/W, U/S (PDE also PS); CR4.PSE; CR0.WP, EFER.NXE, SMEP, SMAP, RFLAGS.AC,
    // CR4.PKE; 10 access kinds; reserved variants: none, and for a 4 MiB PDE (PS=1 with PSE=1)
    // bit 21 and bit 17 (PA bit 36 = MAXPHYADDR). With PS=0, or PS=1 and PSE=0, bits 21 and 17
    // are page-table address bits, so those variants are not generated.
    // Count: 8 (PDE P,RW,US) * 8 (PTE) * [3 PS/PSE pairs * 1 + 1 pair * 3 variants] = 6
    //        * 64 (CPU flags) * 10 = 245,760.
    const auto acc = accesses();
    for (unsigned bitsv = 0; bitsv < (1u << 14); bitsv++) {
        Case c;
        auto bit = [&](int i) { return bool(bitsv >> i & 1); };
        c.p[2] = bit(0), c.rw[2] = bit(1), c.us[2] = bit(2), c.ps2 = bit(3);
        c.p[1] = bit(4), c.rw[1] = bit(5), c.us[1] = bit(6);
        c.pse = bit(7), c.wp = bit(8), c.nxe = bit(9), c.smep = bit(10), c.smap = bit(11),
        c.ac = bit(12), c.pke = bit(13);
        const bool large = c.ps2 && c.pse;
        for (int v = 0; v < 3; v++) {
            if (v && !large) continue;
            c.rsv_level = v ? 2 : 0;
            c.rsv_bit = v == 1 ? 21 : v == 2 ? 17 : -1;
            for (const auto& a : acc) {
                c.type = a.type, c.user = a.user, c.implicit = a.implicit;
                r.run(c);
            }
        }
    }
    r.report(245760);
}

TEST_CASE("paging: permission matrix, PAE paging, full product") {
    using namespace ref;
    PhysicalMemory ram(RAM_BYTES);
    Runner r(ram, Mode::pae);
    // Per entry P, R/W, U/S, XD (PDE also PS); the PDPTE is a present register. CR0.WP, NXE,
    // SMEP, SMAP, AC, PKE (must have no effect); 10 access kinds; reserved variants: none, bit 36
    // (= MAXPHYADDR) in the PDE, bit 36 in the PTE, and bit 13 in a 2 MiB PDE.
    // Count: 16 * 16 * (3 + 4) * 64 * 10 = 1,146,880.
    const auto acc = accesses();
    for (unsigned bitsv = 0; bitsv < (1u << 15); bitsv++) {
        Case c;
        auto bit = [&](int i) { return bool(bitsv >> i & 1); };
        c.p[2] = bit(0), c.rw[2] = bit(1), c.us[2] = bit(2), c.xd[2] = bit(3), c.ps2 = bit(4);
        c.p[1] = bit(5), c.rw[1] = bit(6), c.us[1] = bit(7), c.xd[1] = bit(8);
        c.wp = bit(9), c.nxe = bit(10), c.smep = bit(11), c.smap = bit(12), c.ac = bit(13),
        c.pke = bit(14);
        for (int v = 0; v < 4; v++) {
            if (v == 3 && !c.ps2) continue;
            c.rsv_level = v == 0 ? 0 : v == 2 ? 1 : 2;
            c.rsv_bit = v == 0 ? -1 : v == 3 ? 13 : 36;
            for (const auto& a : acc) {
                c.type = a.type, c.user = a.user, c.implicit = a.implicit;
                r.run(c);
            }
        }
    }
    r.report(1146880);
}

namespace {

// A seeded random sample for 4-level and 5-level paging (the full product, 16^4 entry-bit
// combinations times PS, CPU flags, PKRU and access kinds, is about 10^9). Raw engine output
// only, so the sequence is the same on every standard library.
void sampled_matrix(ref::Mode mode, uint64_t n, uint64_t seed) {
    using namespace ref;
    PhysicalMemory ram(RAM_BYTES);
    Runner r(ram, mode);
    std::mt19937_64 rng(seed);
    const auto acc = accesses();
    // Reserved-bit variants: bit 36 (= MAXPHYADDR) at each level, PS in the PML4E (and PML5E),
    // bit 13 in a 1 GiB PDPTE or a 2 MiB PDE.
    struct V {
        int level, bit;
    };
    std::vector<V> variants = {{4, 36}, {3, 36}, {2, 36}, {1, 36}, {4, 7}, {3, 13}, {2, 13}};
    if (mode == Mode::l5) {
        variants.push_back({5, 36});
        variants.push_back({5, 7});
    }
    auto coin = [&] { return bool(rng() & 1); };
    for (uint64_t i = 0; i < n; i++) {
        Case c;
        for (int l = 1; l <= r.L.top; l++) {
            c.p[l] = (rng() & 7) != 0; // present 7/8 of the time, so walks reach the leaf often
            c.rw[l] = coin(), c.us[l] = coin(), c.xd[l] = (rng() & 3) == 0;
            c.a0[l] = (rng() & 3) == 0, c.d0[l] = (rng() & 3) == 0;
        }
        c.ps3 = (rng() & 3) == 0, c.ps2 = (rng() & 3) == 0;
        const Access& a = acc[rng() % acc.size()];
        c.type = a.type, c.user = a.user, c.implicit = a.implicit;
        c.wp = coin(), c.nxe = (rng() & 3) != 0, c.smep = coin(), c.smap = coin(), c.ac = coin(),
        c.pse = coin();
        c.pke = coin(), c.pkru_ad = coin(), c.pkru_wd = coin();
        if (rng() & 1) {
            const V v = variants[rng() % variants.size()];
            // Bit 13 is reserved only in an entry that maps a page; elsewhere it is an address bit.
            const bool legal =
                !(v.bit == 13 && ((v.level == 3 && !c.ps3) || (v.level == 2 && !c.ps2)));
            if (legal) c.rsv_level = v.level, c.rsv_bit = v.bit;
        }
        r.run(c);
    }
    r.report(n);
}

} // namespace

TEST_CASE("paging: permission matrix, 4-level paging with protection keys, seeded sample") {
    sampled_matrix(ref::Mode::l4, 400000, 0x5eed0004);
}

TEST_CASE("paging: permission matrix, 5-level paging, seeded sample") {
    sampled_matrix(ref::Mode::l5, 200000, 0x5eed0005);
}
