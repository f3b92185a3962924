// The page walker: translation of a linear address through 32-bit (2-level, PSE, PSE-36), PAE
// (3-level with the four PDPTE registers), 4-level and 5-level (LA57) paging structures in
// emulated RAM, with the permission rules of Intel SDM Vol. 3A 4.6 (R/W and U/S combined across
// levels, XD, CR0.WP, SMEP, SMAP with RFLAGS.AC and implicit supervisor accesses, protection
// keys), reserved bits that follow MAXPHYADDR (4.3-4.5), the #PF error code (4.7) and the
// accessed and dirty flags written back into the entries (4.8).
#pragma once

#include <cstdint>

#include "emulator/cpu_regs.h"
#include "emulator/fault.h"
#include "emulator/phys_mem.h"

namespace mmemu {

enum class AccessType : uint8_t { read, write, fetch };

struct AccessRequest {
    LinearAddr la;
    AccessType type = AccessType::read;
    bool user = false;     // CPL = 3
    bool implicit = false; // an implicit supervisor access (GDT/LDT/IDT/TSS), whatever the CPL
};

// PAE paging's PDPTE registers (SDM 4.4.1): loaded from the 32-byte PDPT at CR3 when CR3 is
// written (or CR0/CR4 enter PAE paging) and used by every walk until the next load.
struct PdpteRegs {
    uint64_t e[4] = {};
};

// Loads the PDPTE registers; returns a #GP(0) fault if a present PDPTE has a reserved bit set
// (bits 2:1, 8:5 and MAXPHYADDR..63; SDM 4.4.1).
Fault load_pdptes(const CpuRegs& regs, const PhysicalMemory& ram, PdpteRegs& out);

// Paging levels, named by the entry they read (5 = PML5E ... 1 = PTE). In PAE paging the PDPTE
// comes from the registers (level 3 without a memory reference).
const char* level_entry_name(int level, PagingMode mode);

// The rights accumulated over the entries of a walk (SDM 4.6.1).
struct PageRights {
    bool writable = true; // AND of R/W
    bool user = true;     // AND of U/S
    bool nx = false;      // OR of XD (only with EFER.NXE outside 32-bit paging)
    uint8_t pkey = 0;     // leaf bits 62:59 with 4/5-level paging and CR4.PKE
};

struct WalkStep {
    int level;         // 5..1
    unsigned index;    // index of the entry in its table
    PhysAddr entry_pa; // physical address of the entry (0 for a PAE PDPTE register)
    uint64_t entry;    // the value read (before A/D updates)
    bool leaf;
    bool passed;         // a non-leaf entry the walk went through to the next table
    PhysAddr next_table; // when passed: the table it points to
    PageRights rights;   // the rights accumulated over this entry and those above it
};

// Where a walk may start when a paging-structure cache hit skips the upper levels (SDM 4.10.3).
struct WalkStart {
    int level = 0;     // the level of the next entry to read (0: start from CR3)
    PhysAddr table_pa; // physical address of the table holding that entry
    PageRights rights; // rights of the entries above
};

struct WalkResult {
    Fault fault;              // raised() on failure
    PhysAddr pa;              // physical address of the access
    PhysAddr frame_pa;        // physical base of the page
    unsigned page_shift = 12; // 12, 21 (2 MiB), 22 (4 MiB) or 30 (1 GiB)
    PageRights rights;
    bool global = false;    // leaf G with CR4.PGE
    bool dirty = false;     // leaf D after the access (a TLB entry may cache a clean page)
    unsigned mem_refs = 0;  // paging-structure entries read from memory
    unsigned ad_writes = 0; // entries written back to set A or D
    unsigned nsteps = 0;
    // The first nsteps are filled in; the rest are left uninitialized (a walk is on the MMU's
    // miss path, and five default steps cost more stores than a short walk makes).
    union {
        WalkStep steps[5];
    };
    WalkResult() {}
};

struct PermissionContext;
struct WalkContext;

// Walks the paging structures for `req`. `start` (optional) resumes below a cached
// paging-structure entry. Sets A and D bits in emulated RAM as the SDM requires: A in every entry
// used when the translation succeeds (upper-level A as each entry is passed), D in the leaf on a
// write.
// `perm` (optional) is the permission context of `regs`, when the caller keeps one.
WalkResult page_walk(const CpuRegs& regs, const PdpteRegs& pdptes, PhysicalMemory& ram,
                     const AccessRequest& req, const WalkStart* start = nullptr);
// The same with the register-derived state computed once (an MMU keeps one per register state).
WalkResult page_walk(const WalkContext& ctx, const PdpteRegs& pdptes, PhysicalMemory& ram,
                     const AccessRequest& req, const WalkStart* start = nullptr);

// The control-register state the permission rules read, gathered once per register change
// (the MMU keeps one up to date) so a TLB hit checks rights without decoding registers.
struct PermissionContext {
    bool wp = false;    // CR0.WP
    bool smep = false;  // CR4.SMEP
    bool smap = false;  // CR4.SMAP
    bool ac = false;    // RFLAGS.AC
    bool pkeys = false; // CR4.PKE with 4- or 5-level paging
    uint32_t pkru = 0;
};
PermissionContext permission_context(const CpuRegs& regs);

// Everything a walk reads from the control registers, decoded once: the paging mode, the
// reserved bits of each level and page size, the physical-address mask, the root table, the
// permission context, and the I/D rule of the error code.
struct WalkContext {
    PagingMode mode = PagingMode::none;
    bool wide = false;        // 8-byte entries (not 32-bit paging)
    bool long_paging = false; // 4- or 5-level
    bool nxe = false;         // XD honoured
    bool pse = false;         // CR4.PSE (32-bit paging's 4 MiB pages)
    bool pke = false;         // protection keys in leaf entries
    bool pge = false;         // G honoured
    bool id_bit = false;      // fetch faults report I/D (SMEP, or PAE-based paging with NXE)
    int top = 0;              // the level a walk from CR3 starts at
    uint64_t root = 0;        // the physical address of the top table (from CR3)
    uint64_t phys_mask = 0;   // bits of a table or frame address in a wide entry
    uint64_t rsvd[6][2] = {}; // reserved bits by level and by large (PS=1 leaf) or not
    PermissionContext perm;
    static WalkContext of(const CpuRegs& regs);
};

// The permission decision (SDM 4.6) for an access with the accumulated rights of a translation;
// used both after a walk and on a TLB hit. Returns true if permitted. `pk_violation` says whether
// PKRU forbids the access (the #PF PK bit); `why` (optional) receives the rule that decided.
inline bool permitted(const PermissionContext& c, const AccessRequest& req, const PageRights& r,
                      bool& pk_violation, const char** why) {
    const bool user_mode = req.user && !req.implicit;
    const bool write = req.type == AccessType::write;
    const char* rule = nullptr;
    pk_violation = false;
    if (req.type == AccessType::fetch) {
        if (user_mode) {
            if (!r.user)
                rule = "SDM 4.6.1: user-mode fetch from a supervisor-mode address";
            else if (r.nx)
                rule = "SDM 4.6.1: fetch from a page with XD=1";
        } else {
            if (r.user && c.smep)
                rule = "SDM 4.6.1: supervisor-mode fetch from a user-mode address with CR4.SMEP=1";
            else if (r.nx)
                rule = "SDM 4.6.1: fetch from a page with XD=1";
        }
    } else {
        if (user_mode) {
            if (!r.user)
                rule = "SDM 4.6.1: user-mode access to a supervisor-mode address";
            else if (write && !r.writable)
                rule = "SDM 4.6.1: user-mode write to a read-only page";
        } else {
            if (r.user && c.smap && (req.implicit || !c.ac))
                rule = req.implicit
                           ? "SDM 4.6.1: implicit supervisor access to a user-mode address with "
                             "CR4.SMAP=1 (RFLAGS.AC does not apply)"
                           : "SDM 4.6.1: supervisor-mode access to a user-mode address with "
                             "CR4.SMAP=1 and RFLAGS.AC=0";
            else if (write && !r.writable && c.wp)
                rule = "SDM 4.6.1: supervisor-mode write to a read-only page with CR0.WP=1";
        }
        // Protection keys (SDM 4.6.2): data accesses to user-mode addresses.
        if (c.pkeys && r.user) {
            const bool ad = (c.pkru >> (2 * r.pkey)) & 1;
            const bool wd = (c.pkru >> (2 * r.pkey + 1)) & 1;
            if (ad || (write && wd && (user_mode || c.wp))) {
                pk_violation = true;
                if (!rule)
                    rule = ad ? "SDM 4.6.2: PKRU.AD=1 for the page's protection key"
                              : "SDM 4.6.2: write with PKRU.WD=1 for the page's protection key";
            }
        }
    }
    if (why) *why = rule;
    return rule == nullptr;
}

// The nine kinds of access (read/write/fetch by a user-mode, explicit supervisor or implicit
// supervisor access) as a bit index, and the set of kinds `permitted` allows for given rights.
inline unsigned access_kind(const AccessRequest& req) {
    const unsigned who = req.implicit ? 2 : req.user ? 0 : 1;
    return unsigned(req.type) * 3 + who;
}
inline uint16_t permission_mask(const PermissionContext& c, const PageRights& r) {
    uint16_t mask = 0;
    for (unsigned type = 0; type < 3; type++)
        for (unsigned who = 0; who < 3; who++) {
            AccessRequest req{LinearAddr{}, AccessType(type), who == 0, who == 2};
            bool pk;
            if (permitted(c, req, r, pk, nullptr)) mask |= uint16_t(1u << (type * 3 + who));
        }
    return mask;
}

// True if `la` is canonical for the paging mode (48 or 57 bits; always true outside IA-32e).
bool is_canonical(const CpuRegs& regs, LinearAddr la);

} // namespace mmemu
