// Every bit of every kind of paging-structure entry, set one at a time on top of a valid walk:
// the walk must raise #PF with RSVD exactly where the SDM's entry-format tables say the bit is
// reserved, at every level, for every page size, and for several MAXPHYADDR values (the ends of
// each reserved range move with it). The reserved sets below are written out from the tables
// (Intel SDM Vol. 3A 4.3, Tables 4-4 to 4-6 for 32-bit paging; 4.4, Tables 4-8 to 4-11 for PAE;
// 4.5, Tables 4-14 to 4-20 for 4- and 5-level paging), not taken from the emulator.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "emulator/cpu_regs.h"
#include "emulator/fault.h"
#include "emulator/mmu.h"
#include "emulator/paging.h"
#include "emulator/phys_mem.h"

using namespace mmemu;

namespace {

constexpr uint64_t P = 1, RW = 2, US = 4, PS = 1ull << 7;
constexpr uint32_t E_P = 1, E_RSVD = 8;

bool in(unsigned bit, unsigned lo, unsigned hi) {
    return bit >= lo && bit <= hi;
}

enum class Mode { b32, pae, l4, l5 };

// One kind of entry: the level that holds it and whether it maps a page.
struct Kind {
    const char* name;
    int level;  // 5 PML5E, 4 PML4E, 3 PDPTE, 2 PDE, 1 PTE
    bool large; // a PDPTE or PDE that maps a page (PS=1)
};

// The reserved bits of `kind` by the SDM's tables, for a supervisor read with EFER.NXE = nxe.
bool reserved(Mode m, const Kind& k, unsigned maxphy, bool nxe, unsigned bit) {
    switch (m) {
    case Mode::b32:
        // Table 4-5 (4 MiB PDE): bit 21 reserved; bits 20:13 hold PA bits 39:32 with PSE-36, and
        // those at or above MAXPHYADDR (capped at 40) are reserved. Tables 4-4 and 4-6 (PDE of a
        // page table, PTE): nothing reserved.
        if (k.level == 2 && k.large)
            return bit == 21 || in(bit, 13 + (std::min(maxphy, 40u) - 32), 20);
        return false;
    case Mode::pae:
        // Tables 4-9 to 4-11: bits 62:MAXPHYADDR reserved; bit 63 (XD) reserved when NXE=0; a
        // 2 MiB PDE also 20:13.
        if (bit == 63) return !nxe;
        if (in(bit, maxphy, 62)) return true;
        return k.large && in(bit, 13, 20);
    case Mode::l4:
    case Mode::l5:
        // Tables 4-14 to 4-20 (and 4-15's PML5E): bits 51:MAXPHYADDR reserved; 63 when NXE=0;
        // PS (bit 7) must be 0 in PML5Es and PML4Es; a 1 GiB PDPTE reserves 29:13, a 2 MiB PDE
        // 20:13. Bits 58:52 and 62:59 are ignored (or protection keys, with CR4.PKE=0 unused).
        if (bit == 63) return !nxe;
        if (maxphy <= 51 && in(bit, maxphy, 51)) return true;
        if (k.level >= 4 && bit == 7) return true;
        if (k.level == 3 && k.large) return in(bit, 13, 29);
        if (k.level == 2 && k.large) return in(bit, 13, 20);
        return false;
    }
    return false;
}

// The tables of each mode: where each level's table is and a linear address using entry 1 of
// every table (so that no index is 0). Frames of large pages are aligned to their size.
struct Tables {
    uint64_t table[6] = {}; // table[l]: holds the level-l entry
    uint64_t la = 0;
    unsigned top = 0;
};

Tables tables(Mode m) {
    Tables t;
    switch (m) {
    case Mode::b32:
        t.top = 2;
        t.table[2] = 0x10000;
        t.table[1] = 0x11000;
        t.la = (1u << 22) | (1u << 12) | 0x10; // PDE 1, PTE 1
        break;
    case Mode::pae:
        t.top = 2; // the PDPTE is a register
        t.table[3] = 0x20000;
        t.table[2] = 0x21000;
        t.table[1] = 0x22000;
        t.la = (1u << 30) | (1u << 21) | (1u << 12) | 0x10; // PDPTE 1, PDE 1, PTE 1
        break;
    case Mode::l4:
    case Mode::l5:
        t.top = m == Mode::l5 ? 5 : 4;
        t.table[5] = 0x40000;
        t.table[4] = 0x30000;
        t.table[3] = 0x31000;
        t.table[2] = 0x32000;
        t.table[1] = 0x33000;
        t.la = (1ull << 39) | (1ull << 30) | (1ull << 21) | (1ull << 12) | 0x10;
        if (m == Mode::l5) t.la |= 1ull << 48;
        break;
    }
    return t;
}

bool wide(Mode m) {
    return m != Mode::b32;
}

// Writes a valid walk down to the leaf `leaf_level` (large if above 1) and returns each entry.
void write_walk(PhysicalMemory& ram, Mode m, const Tables& t, int leaf_level, uint64_t (&e)[6]) {
    for (int l = int(t.top); l >= leaf_level; l--) {
        uint64_t v = P | RW | US;
        if (l > leaf_level)
            v |= t.table[l - 1];
        else if (l == 1)
            v |= 0x5000;
        else if (m == Mode::b32)
            v |= PS | (2u << 22); // 4 MiB page at 8 MiB
        else
            v |= PS | (uint64_t{2} << (l == 3 ? 30 : 21)); // the second 1 GiB / 2 MiB page
        e[l] = v;
        const uint64_t at = t.table[l] + (wide(m) ? 8 : 4); // entry 1
        if (wide(m))
            ram.write_u64(PhysAddr{at}, v);
        else
            ram.write_u32(PhysAddr{at}, uint32_t(v));
    }
}

CpuRegs regs_for(Mode m, unsigned maxphy, bool nxe, const Tables& t) {
    CpuRegs r;
    r.cr0 = CR0_PE | CR0_PG;
    r.cr4 = m == Mode::b32 ? CR4_PSE : CR4_PAE | (m == Mode::l5 ? CR4_LA57 : 0);
    r.efer = (m == Mode::l4 || m == Mode::l5 ? EFER_LME | EFER_LMA : 0) | (nxe ? EFER_NXE : 0);
    r.cr3 = m == Mode::pae ? t.table[3] : t.table[t.top];
    r.maxphyaddr = maxphy;
    return r;
}

struct Tally {
    unsigned checked = 0, reserved_seen = 0;
    std::vector<std::string> wrong;
};

// Sets each bit of the `kind` entry in turn and walks.
void sweep(Mode m, const Kind& k, unsigned maxphy, bool nxe, Tally& tally) {
    PhysicalMemory ram(64ull << 20);
    const Tables t = tables(m);
    uint64_t e[6] = {};
    const int leaf = k.level == 1 || k.large ? k.level : 1;
    write_walk(ram, m, t, leaf, e);
    PdpteRegs pdptes;
    if (m == Mode::pae) pdptes.e[1] = t.table[2] | P;
    const CpuRegs regs = regs_for(m, maxphy, nxe, t);
    const unsigned width = wide(m) ? 64 : 32;
    const uint64_t at = t.table[k.level] + (wide(m) ? 8 : 4);
    const bool non_leaf = !(k.level == 1 || k.large);
    for (unsigned bit = 0; bit < width; bit++) {
        // In an entry that references a table, the address bits move the walk elsewhere and PS
        // turns it into a page: neither is a reserved-bit question.
        if (non_leaf && (in(bit, 12, maxphy - 1) || (bit == 7 && k.level <= 3))) continue;
        const uint64_t v = e[k.level] | (uint64_t{1} << bit);
        if (wide(m))
            ram.write_u64(PhysAddr{at}, v);
        else
            ram.write_u32(PhysAddr{at}, uint32_t(v));
        const WalkResult w = page_walk(
            regs, pdptes, ram, AccessRequest{LinearAddr{t.la}, AccessType::read, false, false});
        const bool want = reserved(m, k, maxphy, nxe, bit);
        const bool got = w.fault.raised() && (w.fault.error_code & E_RSVD);
        tally.checked++;
        tally.reserved_seen += want;
        if (got != want ||
            (want && (w.fault.error_code != (E_P | E_RSVD) || int(w.fault.level) != k.level))) {
            tally.wrong.push_back(std::string(k.name) + " maxphyaddr " + std::to_string(maxphy) +
                                  " nxe " + std::to_string(nxe) + " bit " + std::to_string(bit) +
                                  ": want " + (want ? "RSVD" : "no RSVD") + ", got error code " +
                                  std::to_string(w.fault.raised() ? int(w.fault.error_code) : -1) +
                                  " at level " + std::to_string(w.fault.level));
        }
    }
    // Put the entry back: the walk succeeds again.
    if (wide(m))
        ram.write_u64(PhysAddr{at}, e[k.level]);
    else
        ram.write_u32(PhysAddr{at}, uint32_t(e[k.level]));
    REQUIRE_FALSE(page_walk(regs, pdptes, ram,
                            AccessRequest{LinearAddr{t.la}, AccessType::read, false, false})
                      .fault.raised());
}

void report(const Tally& t, unsigned want_checked, unsigned want_reserved) {
    for (size_t i = 0; i < t.wrong.size() && i < 20; i++) UNSCOPED_INFO(t.wrong[i]);
    CHECK(t.wrong.empty());
    CHECK(t.checked == want_checked);
    CHECK(t.reserved_seen == want_reserved);
}

} // namespace

TEST_CASE("reserved bits: 32-bit paging, every bit of every entry kind", "[paging][reserved]") {
    const Kind kinds[] = {
        {"PDE (page table)", 2, false}, {"PDE (4 MiB)", 2, true}, {"PTE", 1, false}};
    Tally t;
    for (unsigned maxphy : {32u, 36u, 40u})
        for (const Kind& k : kinds) sweep(Mode::b32, k, maxphy, false, t);
    // Checked: the non-leaf PDE skips 20 address bits and PS (11 bits), the others all 32:
    // 3 * (11 + 32 + 32) = 225. Reserved: 4 MiB PDE bit 21 plus 20:13 (8 bits) at MAXPHYADDR
    // 32, 20:17 (4) at 36, none at 40: 9 + 5 + 1 = 15.
    report(t, 225, 15);
}

TEST_CASE("reserved bits: PAE paging, every bit of every entry kind", "[paging][reserved]") {
    const Kind kinds[] = {
        {"PDE (page table)", 2, false}, {"PDE (2 MiB)", 2, true}, {"PTE", 1, false}};
    Tally t;
    for (unsigned maxphy : {36u, 52u})
        for (bool nxe : {false, true})
            for (const Kind& k : kinds) sweep(Mode::pae, k, maxphy, nxe, t);
    // The non-leaf PDE skips address bits 12..M-1 and PS: 64 - (M - 12) - 1 checked; the others
    // 64. M=36: 39 + 128; M=52: 23 + 128; each twice (NXE): 2 * (167 + 151) = 636.
    // Reserved, per kind and NXE: 62:M (27 bits at 36, 11 at 52), 63 with NXE=0, 20:13 (8) in
    // the 2 MiB PDE. M=36: (27 * 3 + 8) * 2 + 3 = 181; M=52: (11 * 3 + 8) * 2 + 3 = 85.
    report(t, 636, 266);
}

TEST_CASE("reserved bits: 4-level paging, every bit of every entry kind", "[paging][reserved]") {
    const Kind kinds[] = {{"PML4E", 4, false},        {"PDPTE (directory)", 3, false},
                          {"PDPTE (1 GiB)", 3, true}, {"PDE (page table)", 2, false},
                          {"PDE (2 MiB)", 2, true},   {"PTE", 1, false}};
    Tally t;
    for (unsigned maxphy : {36u, 46u, 52u})
        for (bool nxe : {false, true})
            for (const Kind& k : kinds) sweep(Mode::l4, k, maxphy, nxe, t);
    // Checked per (M, NXE): PML4E 64 - (M - 12); the two non-leaf entries with PS skip one more;
    // three leaves 64 each. M=36: 40 + 39 + 39 + 192 = 310; M=46: 30 + 29 + 29 + 192 = 280;
    // M=52: 24 + 23 + 23 + 192 = 262. Twice each: 2 * 852 = 1704.
    // Reserved per (M, NXE): 51:M in each of the 6 kinds (16, 6, 0 bits), PML4E bit 7, 1 GiB
    // 29:13 (17), 2 MiB 20:13 (8), and 63 in each kind with NXE=0:
    // M=36: 2 * (96 + 1 + 17 + 8) + 6 = 250; M=46: 2 * (36 + 26) + 6 = 130;
    // M=52: 2 * (0 + 26) + 6 = 58.
    report(t, 1704, 438);
}

TEST_CASE("reserved bits: 5-level paging adds the PML5E", "[paging][reserved]") {
    const Kind kinds[] = {{"PML5E", 5, false}, {"PML4E", 4, false}, {"PTE", 1, false}};
    Tally t;
    for (unsigned maxphy : {36u, 52u})
        for (const Kind& k : kinds) sweep(Mode::l5, k, maxphy, true, t);
    // Checked: PML5E and PML4E 64 - (M - 12) each, PTE 64: M=36: 40 + 40 + 64; M=52: 24 + 24 +
    // 64; total 256. Reserved (NXE=1): 51:M in each (16 at 36, 0 at 52) and bit 7 of the PML5E
    // and PML4E: 48 + 2 + 0 + 2 = 52.
    report(t, 256, 52);
}

TEST_CASE("reserved bits: a PAE PDPTE, checked when MOV CR3 loads it", "[paging][reserved]") {
    // Table 4-8: bits 2:1 and 8:5 are reserved, and 63:MAXPHYADDR. MOV to CR3 loads the four
    // PDPTEs and raises #GP(0) if a present one has a reserved bit (SDM 4.4.1).
    for (unsigned maxphy : {36u, 52u}) {
        unsigned checked = 0, gp = 0;
        std::vector<std::string> wrong;
        for (unsigned bit = 1; bit < 64; bit++) {
            if (in(bit, 12, maxphy - 1)) continue; // the page directory's address
            PhysicalMemory ram(64ull << 20);
            Mmu mmu(ram);
            mmu.set_maxphyaddr(maxphy);
            REQUIRE_FALSE(mmu.write_cr4(CR4_PAE).raised());
            REQUIRE_FALSE(mmu.write_cr0(CR0_PE | CR0_PG).raised());
            ram.write_u64(PhysAddr{0x20008}, 0x21000 | P | (uint64_t{1} << bit));
            const bool want = bit == 1 || bit == 2 || in(bit, 5, 8) || in(bit, maxphy, 63);
            const Fault f = mmu.write_cr3(0x20000);
            checked++;
            gp += want;
            if ((f.raised() && f.vector == VEC_GP && f.error_code == 0) != want)
                wrong.push_back("maxphyaddr " + std::to_string(maxphy) + " bit " +
                                std::to_string(bit));
        }
        for (const auto& w : wrong) UNSCOPED_INFO(w);
        CHECK(wrong.empty());
        // Bits 1..63 minus the address bits 12..M-1; reserved: 1, 2, 5..8 and 63:M.
        CHECK(checked == 63 - (maxphy - 12));
        CHECK(gp == 6 + (64 - maxphy));
    }
}
