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
    uint64_t la = 0;
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

struct WalkStep {
    int level;          // 5..1
    unsigned index;     // index of the entry in its table
    uint64_t entry_pa;  // physical address of the entry (0 for a PAE PDPTE register)
    uint64_t entry;     // the value read (before A/D updates)
    bool leaf;
};

// The rights accumulated over the entries of a walk (SDM 4.6.1).
struct PageRights {
    bool writable = true; // AND of R/W
    bool user = true;     // AND of U/S
    bool nx = false;      // OR of XD (only with EFER.NXE outside 32-bit paging)
    uint8_t pkey = 0;     // leaf bits 62:59 with 4/5-level paging and CR4.PKE
};

// Where a walk may start when a paging-structure cache hit skips the upper levels (SDM 4.10.3).
struct WalkStart {
    int level = 0;          // the level of the next entry to read (0: start from CR3)
    uint64_t table_pa = 0;  // physical address of the table holding that entry
    PageRights rights;      // rights of the entries above
};

struct WalkResult {
    Fault fault;            // raised() on failure
    uint64_t pa = 0;        // physical address of the access
    uint64_t frame_pa = 0;  // physical base of the page
    unsigned page_shift = 12; // 12, 21 (2 MiB), 22 (4 MiB) or 30 (1 GiB)
    PageRights rights;
    bool global = false;    // leaf G with CR4.PGE
    bool dirty = false;     // leaf D after the access (a TLB entry may cache a clean page)
    unsigned mem_refs = 0;  // paging-structure entries read from memory
    unsigned ad_writes = 0; // entries written back to set A or D
    unsigned nsteps = 0;
    WalkStep steps[5] = {};
    // Tables reached on the way down, for filling paging-structure caches: next_table[l] is the
    // physical address of the table that the level-l entry points to (0 if not reached).
    uint64_t next_table[6] = {};
    PageRights rights_above[6]; // rights accumulated above and including level l
};

// Walks the paging structures for `req`. `start` (optional) resumes below a cached
// paging-structure entry. Sets A and D bits in emulated RAM as the SDM requires: A in every entry
// used when the translation succeeds (upper-level A as each entry is passed), D in the leaf on a
// write.
WalkResult page_walk(const CpuRegs& regs, const PdpteRegs& pdptes, PhysicalMemory& ram,
                     const AccessRequest& req, const WalkStart* start = nullptr);

// The permission decision (SDM 4.6) for an access with the accumulated rights of a translation;
// used both after a walk and on a TLB hit. Returns 0 if permitted, else the #PF error code bits
// beyond P (W/U/I/D/PK are added by the caller) with PFERR_PK when a protection key decided.
// `why` receives the rule's name.
bool access_permitted(const CpuRegs& regs, const AccessRequest& req, const PageRights& r,
                      bool& pk_violation, const char** why);

// The #PF error code of an access (without P/RSVD/PK).
uint32_t pf_access_bits(const CpuRegs& regs, const AccessRequest& req);

// True if `la` is canonical for the paging mode (48 or 57 bits; always true outside IA-32e).
bool is_canonical(const CpuRegs& regs, uint64_t la);

} // namespace mmemu
