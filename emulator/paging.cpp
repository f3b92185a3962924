// Intel SDM Vol. 3A chapter 4: 4.3 (32-bit paging), 4.4 (PAE paging), 4.5 (4-level and 5-level
// paging), 4.6 (access rights), 4.7 (page-fault exceptions), 4.8 (accessed and dirty flags).
#include "emulator/paging.h"

#include <cstring>

namespace mmemu {

namespace {

constexpr uint64_t PTE_P = 1ull << 0;
constexpr uint64_t PTE_RW = 1ull << 1;
constexpr uint64_t PTE_US = 1ull << 2;
constexpr uint64_t PTE_A = 1ull << 5;
constexpr uint64_t PTE_D = 1ull << 6;
constexpr uint64_t PTE_PS = 1ull << 7;
constexpr uint64_t PTE_G = 1ull << 8;
constexpr uint64_t PTE_XD = 1ull << 63;

uint64_t bits(int hi, int lo) {
    return ((hi >= 63) ? ~0ull : ((1ull << (hi + 1)) - 1)) & ~((1ull << lo) - 1);
}

// Reads of physical addresses beyond RAM return all ones, as a PC's bus does for an address
// nothing decodes; writes there are dropped. Entry addresses come from masked table addresses
// (at most MAXPHYADDR 52 bits) plus an index, so the bounds check cannot wrap.
uint64_t read_entry(const PhysicalMemory& ram, uint64_t pa, bool wide) {
    const unsigned size = wide ? 8 : 4;
    if (!ram.contains_entry(pa, size)) return wide ? ~0ull : 0xffffffffull;
    return ram.load_entry(pa, wide);
}

// Sets the accessed (and dirty) flags as the processor does, with a locked read-modify-write
// (SDM Vol. 3A 4.8): if the entry is no longer what the walk read (another CPU's kernel changed
// it meanwhile, in the concurrent mode), nothing is written and the walk starts again, so a
// write never proceeds under rights the entry has lost. False: start again.
bool set_entry_flags(PhysicalMemory& ram, uint64_t pa, uint64_t entry, uint64_t updated,
                     bool wide) {
    if (!ram.contains_entry(pa, wide ? 8 : 4)) return true; // dropped, as beyond RAM
    return ram.cas_entry(pa, entry, updated, wide);
}

// The reserved bits of an entry (SDM Tables 4-4..4-7, 4-11..4-13, 4-15..4-20). `large` is PS=1
// on a level where it maps a page.
uint64_t reserved_bits(const CpuRegs& regs, PagingMode mode, int level, bool large) {
    const unsigned m = regs.maxphyaddr;
    const bool nxe = regs.efer & EFER_NXE;
    switch (mode) {
    case PagingMode::bits32:
        // Only a 4-MByte PDE has reserved bits: bit 21, and those of bits 20:13 (PA bits 39:32
        // with PSE-36) at or above MAXPHYADDR.
        if (level == 2 && large) {
            uint64_t r = 1ull << 21;
            for (unsigned k = 0; k < 8; k++)
                if (32 + k >= m) r |= 1ull << (13 + k);
            return r;
        }
        return 0;
    case PagingMode::pae: {
        uint64_t r = bits(62, m);
        if (!nxe) r |= PTE_XD;
        if (level == 2 && large) r |= bits(20, 13);
        return r;
    }
    case PagingMode::level4:
    case PagingMode::level5: {
        uint64_t r = m < 52 ? bits(51, m) : 0;
        if (!nxe) r |= PTE_XD;
        if (level >= 4) r |= PTE_PS; // PS is reserved in PML4Es and PML5Es
        if (level == 3 && large) r |= bits(29, 13);
        if (level == 2 && large) r |= bits(20, 13);
        return r;
    }
    case PagingMode::none: break;
    }
    return 0;
}

int lowest_set_bit(uint64_t v) {
    return v ? __builtin_ctzll(v) : -1;
}

} // namespace

const char* level_entry_name(int level, PagingMode mode) {
    if (mode == PagingMode::bits32) return level == 2 ? "PDE" : "PTE";
    switch (level) {
    case 5: return "PML5E";
    case 4: return "PML4E";
    case 3: return "PDPTE";
    case 2: return "PDE";
    default: return "PTE";
    }
}

bool is_canonical(const CpuRegs& regs, LinearAddr la) {
    const PagingMode mode = regs.paging_mode();
    if (!regs.long_mode() && mode != PagingMode::level4 && mode != PagingMode::level5) return true;
    return is_canonical(la.value, mode == PagingMode::level5);
}

Fault load_pdptes(const CpuRegs& regs, const PhysicalMemory& ram, PdpteRegs& out) {
    Fault f;
    const uint64_t pdpt = regs.cr3 & 0xffffffe0u; // CR3 bits 31:5
    const uint64_t reserved = 0x1e6ull | bits(63, regs.maxphyaddr);
    PdpteRegs loaded;
    for (unsigned i = 0; i < 4; i++) {
        loaded.e[i] = read_entry(ram, pdpt + 8 * i, true);
        if ((loaded.e[i] & PTE_P) && (loaded.e[i] & reserved)) {
            f.vector = VEC_GP;
            f.error_code = 0;
            f.level = 3;
            f.bit = int8_t(lowest_set_bit(loaded.e[i] & reserved));
            f.rule = "SDM 4.4.1: a present PDPTE with a reserved bit set makes the load of the "
                     "PDPTE registers raise #GP(0)";
            return f;
        }
    }
    out = loaded;
    return f;
}

PermissionContext permission_context(const CpuRegs& regs) {
    PermissionContext c;
    c.wp = regs.cr0 & CR0_WP;
    c.smep = regs.cr4 & CR4_SMEP;
    c.smap = regs.cr4 & CR4_SMAP;
    c.ac = regs.rflags & RFLAGS_AC;
    const PagingMode mode = regs.paging_mode();
    c.pkeys = (regs.cr4 & CR4_PKE) && (mode == PagingMode::level4 || mode == PagingMode::level5);
    c.pkru = regs.pkru;
    return c;
}

WalkContext WalkContext::of(const CpuRegs& regs) {
    WalkContext c;
    c.mode = regs.paging_mode();
    c.wide = c.mode != PagingMode::bits32;
    c.long_paging = c.mode == PagingMode::level4 || c.mode == PagingMode::level5;
    c.nxe = c.wide && (regs.efer & EFER_NXE);
    c.pse = regs.cr4 & CR4_PSE;
    c.pke = c.long_paging && (regs.cr4 & CR4_PKE);
    c.pge = regs.cr4 & CR4_PGE;
    c.id_bit = (regs.cr4 & CR4_SMEP) || ((regs.cr4 & CR4_PAE) && (regs.efer & EFER_NXE));
    c.top = c.mode == PagingMode::level5   ? 5
            : c.mode == PagingMode::level4 ? 4
            : c.mode == PagingMode::pae    ? 3
                                           : 2;
    c.phys_mask = regs.phys_addr_mask();
    c.root = c.mode == PagingMode::bits32 ? (regs.cr3 & 0xfffff000u) : (regs.cr3 & c.phys_mask);
    if (c.mode != PagingMode::none)
        for (int level = 1; level <= 5; level++)
            for (int large = 0; large < 2; large++)
                c.rsvd[level][large] = reserved_bits(regs, c.mode, level, large);
    c.perm = permission_context(regs);
    return c;
}

WalkResult page_walk(const CpuRegs& regs, const PdpteRegs& pdptes, PhysicalMemory& ram,
                     const AccessRequest& req, const WalkStart* start) {
    return page_walk(WalkContext::of(regs), pdptes, ram, req, start);
}

namespace {

// The walk in one paging mode, a compile-time constant, so that each mode's walker carries none
// of the others' per-level tests (the entry width, PAE's PDPTE registers, 32-bit paging's PSE).
template <PagingMode mode>
WalkResult walk_in_mode(const WalkContext& c, const PdpteRegs& pdptes, PhysicalMemory& ram,
                        const AccessRequest& req, const WalkStart* start) {
    WalkResult w; // the only object returned, so every return is the named one (NRVO)
    // A walk whose flag update lost a race with another CPU starts again from here (never in
    // the deterministic mode: one thread runs every CPU).
restart:
    constexpr bool wide = mode != PagingMode::bits32;
    constexpr bool long_paging = mode == PagingMode::level4 || mode == PagingMode::level5;
    const uint64_t la = long_paging ? req.la.value : (req.la.value & 0xffffffffull);

    int level;
    uint64_t table;
    PageRights rights;
    if (start && start->level) {
        level = start->level;
        table = start->table_pa.value;
        rights = start->rights;
    } else {
        level = c.top;
        table = c.root;
    }
    uint32_t code = 0;
    int bit = -1;
    const char* rule = nullptr;
    // Counters in locals, stored into the result on the way out (a store into the result
    // could alias the entries written back to RAM, so the compiler would keep them in memory).
    unsigned nsteps = 0, mem_refs = 0, ad_writes = 0;

    for (;; level--) {
        unsigned index;
        if (mode == PagingMode::bits32)
            index = unsigned(la >> (level == 2 ? 22 : 12)) & 0x3ff;
        else if (mode == PagingMode::pae && level == 3)
            index = unsigned(la >> 30) & 3;
        else
            index = unsigned(la >> (12 + 9 * (level - 1))) & 0x1ff;

        uint64_t entry, entry_pa = 0;
        const bool pae_pdpte = mode == PagingMode::pae && level == 3;
        if (pae_pdpte) {
            entry = pdptes.e[index]; // from the PDPTE registers: no memory reference
        } else {
            entry_pa = table + uint64_t(index) * (wide ? 8 : 4);
            entry = read_entry(ram, entry_pa, wide);
            mem_refs++;
        }
        WalkStep& step = w.steps[nsteps++];
        step.level = level;
        step.index = index;
        step.entry_pa = PhysAddr{entry_pa};
        step.entry = entry;
        step.leaf = false;
        step.passed = false;

        if (!(entry & PTE_P)) {
            code = 0;
            bit = 0;
            rule = "SDM 4.7: a paging-structure entry used for the translation has P=0";
            goto fault;
        }
        {
            bool large = false;
            if (entry & PTE_PS) {
                if (mode == PagingMode::bits32)
                    large = level == 2 && c.pse;
                else if (level == 2 || (level == 3 && long_paging))
                    large = true;
            }
            if (!pae_pdpte) {
                if (const uint64_t rsvd = entry & c.rsvd[level][large]) {
                    code = PFERR_P | PFERR_RSVD;
                    bit = lowest_set_bit(rsvd);
                    rule = "SDM 4.7: a present paging-structure entry has a reserved bit set "
                           "(RSVD=1)";
                    goto fault;
                }
                // Rights combine across levels; legacy PAE PDPTEs carry none (SDM 4.6.1).
                rights.writable &= (entry & PTE_RW) != 0;
                rights.user &= (entry & PTE_US) != 0;
                if (c.nxe && (entry & PTE_XD)) rights.nx = true;
            }
            const bool leaf = level == 1 || large;
            step.leaf = leaf;
            step.rights = rights;
            if (!leaf) {
                // The accessed flag of each upper-level entry is set as the walk passes it.
                if (!pae_pdpte && !(entry & PTE_A)) {
                    if (!set_entry_flags(ram, entry_pa, entry, entry | PTE_A, wide)) {
                        w = WalkResult{};
                        goto restart;
                    }
                    ad_writes++;
                }
                table = mode == PagingMode::bits32 ? (entry & 0xfffff000u) : (entry & c.phys_mask);
                step.passed = true;
                step.next_table = PhysAddr{table};
                continue;
            }

            // The leaf: page size, frame, global, protection key.
            if (mode == PagingMode::bits32 && level == 2) {
                w.page_shift = 22;
                w.frame_pa =
                    PhysAddr{(entry & 0xffc00000u) | (((entry >> 13) & 0xff) << 32)}; // PSE-36
            } else {
                w.page_shift = level == 1 ? 12 : level == 2 ? 21 : 30;
                const uint64_t frame_mask =
                    (mode == PagingMode::bits32 ? 0xfffff000ull : c.phys_mask) &
                    ~((1ull << w.page_shift) - 1);
                w.frame_pa = PhysAddr{entry & frame_mask};
            }
            if (c.pke) rights.pkey = uint8_t((entry >> 59) & 0xf);
            w.global = (entry & PTE_G) && c.pge;
            w.rights = rights;
            step.rights = rights;
            bool pk = false;
            if (!permitted(c.perm, req, rights, pk, &rule)) {
                code = PFERR_P | (pk ? uint32_t(PFERR_PK) : 0u);
                goto fault;
            }
            // A on the leaf, and D on a write (SDM 4.8), after the checks passed.
            uint64_t updated = entry | PTE_A;
            if (req.type == AccessType::write) updated |= PTE_D;
            if (updated != entry) {
                if (!set_entry_flags(ram, entry_pa, entry, updated, wide)) {
                    w = WalkResult{};
                    goto restart;
                }
                ad_writes++;
            }
            w.dirty = (updated & PTE_D) != 0;
            w.pa = w.frame_pa + (la & ((1ull << w.page_shift) - 1));
            w.nsteps = nsteps;
            w.mem_refs = mem_refs;
            w.ad_writes = ad_writes;
            return w;
        }
    }
fault:
    w.nsteps = nsteps;
    w.mem_refs = mem_refs;
    w.ad_writes = ad_writes;
    w.fault.vector = VEC_PF;
    // The #PF error code of the access (SDM 4.7): W/R, U/S and I/D beside P, RSVD and PK.
    code |= req.type == AccessType::write ? uint32_t(PFERR_W) : 0u;
    code |= req.user && !req.implicit ? uint32_t(PFERR_U) : 0u;
    code |= req.type == AccessType::fetch && c.id_bit ? uint32_t(PFERR_ID) : 0u;
    w.fault.error_code = code;
    w.fault.cr2 = req.la;
    w.fault.level = int8_t(level);
    w.fault.bit = int8_t(bit);
    w.fault.rule = rule;
    return w;
}

} // namespace

WalkResult page_walk(const WalkContext& c, const PdpteRegs& pdptes, PhysicalMemory& ram,
                     const AccessRequest& req, const WalkStart* start) {
    switch (c.mode) {
    case PagingMode::bits32: return walk_in_mode<PagingMode::bits32>(c, pdptes, ram, req, start);
    case PagingMode::pae: return walk_in_mode<PagingMode::pae>(c, pdptes, ram, req, start);
    case PagingMode::level4: return walk_in_mode<PagingMode::level4>(c, pdptes, ram, req, start);
    case PagingMode::level5: return walk_in_mode<PagingMode::level5>(c, pdptes, ram, req, start);
    case PagingMode::none: break;
    }
    WalkResult w;
    w.pa = w.frame_pa = PhysAddr{req.la.value & 0xffffffffull};
    return w;
}

} // namespace mmemu
