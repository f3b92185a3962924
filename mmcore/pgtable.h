// x86 page-table entries as the kernel writes them (arch/x86/include/asm/pgtable_types.h,
// arch/x86/mm/pgprot.c) and the layout of the 64-bit formats (4-level, and 5-level with LA57:
// asm/pgtable_64_types.h). The entries live in emulated frames and the CPU's walker decodes them;
// pgtable_64.cpp has the code that allocates, walks and frees the tables.
#pragma once

#include <cstdint>

#include "mmcore/mm_types.h"

namespace mmemu {

using pteval_t = uint64_t;
inline constexpr pteval_t _PAGE_PRESENT = 1ull << 0;
inline constexpr pteval_t _PAGE_RW = 1ull << 1;
inline constexpr pteval_t _PAGE_USER = 1ull << 2;
inline constexpr pteval_t _PAGE_PWT = 1ull << 3;
inline constexpr pteval_t _PAGE_PCD = 1ull << 4;
inline constexpr pteval_t _PAGE_ACCESSED = 1ull << 5;
inline constexpr pteval_t _PAGE_DIRTY = 1ull << 6;
inline constexpr pteval_t _PAGE_PSE = 1ull << 7;
inline constexpr pteval_t _PAGE_GLOBAL = 1ull << 8;
inline constexpr pteval_t _PAGE_SPECIAL = 1ull << 9; // _PAGE_BIT_SOFTW1: pte_special()
inline constexpr pteval_t _PAGE_NX = 1ull << 63;
// _PAGE_PROTNONE shares the global bit: PAGE_NONE entries are not present to the CPU.
inline constexpr pteval_t _PAGE_PROTNONE = _PAGE_GLOBAL;
// The frame number bits of a 4 KiB entry (PTE_PFN_MASK with __PHYSICAL_MASK_SHIFT 52).
inline constexpr pteval_t PTE_PFN_MASK = 0x000ffffffffff000ull;

// An upper-level entry that points to a table (_PAGE_TABLE for user tables, _KERNPG_TABLE for
// the kernel's).
inline constexpr pteval_t _PAGE_TABLE =
    _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
inline constexpr pteval_t _KERNPG_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY;

// The page protections of protection_map[] (x86, with NX supported).
inline constexpr pteval_t PAGE_NONE = _PAGE_ACCESSED | _PAGE_PROTNONE;
inline constexpr pteval_t PAGE_SHARED =
    _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
inline constexpr pteval_t PAGE_SHARED_EXEC = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;
inline constexpr pteval_t PAGE_COPY = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
inline constexpr pteval_t PAGE_COPY_EXEC = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
inline constexpr pteval_t PAGE_READONLY = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
inline constexpr pteval_t PAGE_READONLY_EXEC = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
// __PAGE_KERNEL and __PAGE_KERNEL_LARGE: the direct map.
inline constexpr pteval_t __PAGE_KERNEL =
    _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_GLOBAL | _PAGE_NX;
inline constexpr pteval_t __PAGE_KERNEL_LARGE = __PAGE_KERNEL | _PAGE_PSE;

// vm_get_page_prot(): protection_map[vm_flags & (VM_READ|VM_WRITE|VM_EXEC|VM_SHARED)]. A
// private writable mapping gets PAGE_COPY (read-only): its pages become writable per PTE, at the
// fault that gives the process its own copy.
pteval_t vm_get_page_prot(vm_flags_t flags);

constexpr bool pte_present(pteval_t e) {
    return e & (_PAGE_PRESENT | _PAGE_PROTNONE);
}
constexpr bool pte_none(pteval_t e) {
    return e == 0;
}
constexpr bool pte_write(pteval_t e) {
    return e & _PAGE_RW;
}
constexpr bool pte_special(pteval_t e) {
    return e & _PAGE_SPECIAL;
}
constexpr Pfn pte_pfn(pteval_t e) {
    return Pfn{(e & PTE_PFN_MASK) >> 12};
}
constexpr pteval_t pfn_pte(Pfn pfn, pteval_t prot) {
    return pfn.value << 12 | prot;
}

// The 64-bit layout: 512 entries of 8 bytes per table; a PTE table maps 2 MiB (PMD_SIZE), a
// PMD table 1 GiB, a PUD table 512 GiB, a P4D table (5-level) 256 TiB.
inline constexpr unsigned PTRS_PER_TABLE = 512;
inline constexpr unsigned PMD_SHIFT = 21, PUD_SHIFT = 30, P4D_SHIFT = 39;
inline constexpr uint64_t PMD_SIZE = 1ull << PMD_SHIFT;
inline constexpr uint64_t PUD_SIZE = 1ull << PUD_SHIFT;
inline constexpr uint64_t P4D_SIZE = 1ull << P4D_SHIFT;

// The page-table format of a kernel build, as the levels it walks: 2-level (i386 without PAE:
// pgtable-2level_types.h, PMD/PUD/P4D folded), 3-level PAE (pgtable-3level_types.h: a 4-entry
// PGD, the PDPT, of 8-byte entries; PUD/P4D folded), 4-level and 5-level (pgtable_64_types.h;
// P4D folded without LA57). Level 0 is the PGD, levels - 1 the PTE table.
struct PgtableFormat {
    enum Kind : uint8_t { two_level, pae, four_level, five_level };
    Kind kind = four_level;
    unsigned levels = 4;
    unsigned shift[5] = {39, 30, 21, 12, 0};    // the address bits a level's index starts at
    unsigned ptrs[5] = {512, 512, 512, 512, 0}; // PTRS_PER_PGD .. PTRS_PER_PTE
    unsigned entry_bytes = 8;                   // sizeof(pte_t)
    bool nx = true; // _PAGE_NX exists (X86_64 or X86_PAE; 0 in pgtable_types.h otherwise)

    unsigned pte_level() const { return levels - 1; }
    unsigned pmd_level() const { return levels - 2; } // the PGD on 2-level (PMD folded)
    // PMD_SIZE: what one PTE table maps (4 MiB on 2-level, 2 MiB otherwise).
    uint64_t pmd_size() const { return uint64_t{1} << shift[levels - 2]; }
    // What one entry of `level` maps.
    uint64_t span(unsigned level) const { return uint64_t{1} << shift[level]; }
    unsigned index(uint64_t addr, unsigned level) const {
        return unsigned(addr >> shift[level]) & (ptrs[level] - 1);
    }
    // A real PUD level (not folded): 4- and 5-level.
    bool has_pud() const { return levels >= 4; }
    // __supported_pte_mask: what the format can hold (no NX bit without PAE).
    pteval_t supported(pteval_t e) const { return nx ? e : e & ~_PAGE_NX; }

    static constexpr PgtableFormat make_2level() {
        return {two_level, 2, {22, 12, 0, 0, 0}, {1024, 1024, 0, 0, 0}, 4, false};
    }
    static constexpr PgtableFormat make_pae() {
        return {pae, 3, {30, 21, 12, 0, 0}, {4, 512, 512, 0, 0}, 8, true};
    }
    static constexpr PgtableFormat make_4level() {
        return {four_level, 4, {39, 30, 21, 12, 0}, {512, 512, 512, 512, 0}, 8, true};
    }
    static constexpr PgtableFormat make_5level() {
        return {five_level, 5, {48, 39, 30, 21, 12}, {512, 512, 512, 512, 512}, 8, true};
    }
};

} // namespace mmemu
