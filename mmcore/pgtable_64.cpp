// The 64-bit page tables (4-level; 5-level joins later): pgd_alloc() with the kernel's half
// cloned from swapper_pg_dir (arch/x86/mm/pgtable.c: pgd_ctor), the p4d/pud/pmd/pte_alloc walk
// of __handle_mm_fault, free_pgd_range() (mm/memory.c) and the boot direct map
// (arch/x86/mm/init_64.c: kernel_physical_mapping_init). Every table is a frame of emulated
// RAM whose entries the CPU's walker reads.
#include <algorithm>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"
#include "mmcore/gfp.h"

namespace mmemu {

namespace {

constexpr unsigned LEVELS = 4;                       // pgd, pud, pmd, pte
constexpr unsigned SHIFT[LEVELS] = {39, 30, 21, 12}; // the address bits each level indexes
constexpr uint64_t PAGE_OFFSET_64 = 0xffff888000000000ull;
// USER_PGTABLES_CEILING (0: the top of the address space) and FIRST_USER_ADDRESS.
constexpr uint64_t USER_PGTABLES_CEILING = 0;

constexpr unsigned index_at(uint64_t addr, unsigned level) {
    return unsigned(addr >> SHIFT[level]) & (PTRS_PER_TABLE - 1);
}
constexpr PhysAddr table_of(pteval_t e) {
    return PhysAddr{e & PTE_PFN_MASK};
}
constexpr PhysAddr entry_at(PhysAddr table, unsigned idx) {
    return PhysAddr{table.value + 8 * idx};
}

} // namespace

// GFP_PGTABLE_USER: GFP_KERNEL_ACCOUNT | __GFP_ZERO (include/asm-generic/pgalloc.h). A page-table
// page counts in NR_PAGETABLE (__pagetable_ctor); the PGD too (pagetable_pgd_ctor).
std::optional<PhysAddr> AddressSpaces::alloc_pt_page(mm_struct* mm) {
    (void)mm;
    page* p = pa_.alloc_pages(GFP_KERNEL | __GFP_ACCOUNT | __GFP_ZERO, 0, -1, node_cpu_);
    if (!p) return std::nullopt;
    vmstat_.nr_page_table_pages++;
    return pfn_phys(pa_.mem_map().page_to_pfn(p));
}

void AddressSpaces::free_pt_page(mm_struct* mm, PhysAddr table, bool pgd) {
    (void)mm;
    if (!pgd) tables_freed_++;
    vmstat_.nr_page_table_pages--;
    pa_.free_pages(pa_.mem_map().pfn_to_page(phys_pfn(table)), 0, node_cpu_);
}

// pgd_alloc() + pgd_ctor(): a zeroed PGD whose kernel entries (from pgd_index(PAGE_OFFSET) up,
// KERNEL_PGD_BOUNDARY) are those of swapper_pg_dir, so every address space shares the kernel's
// lower tables.
PhysAddr AddressSpaces::pgd_alloc(mm_struct* mm) {
    const auto pgd = alloc_pt_page(mm);
    if (!pgd) return PhysAddr{};
    for (unsigned i = index_at(PAGE_OFFSET_64, 0); i < PTRS_PER_TABLE; i++)
        ram_.write_u64(entry_at(*pgd, i), ram_.read_u64(entry_at(swapper_pg_dir_, i)));
    return *pgd;
}

void AddressSpaces::pgd_free(mm_struct* mm) {
    free_pt_page(mm, mm->pgd, true);
    mm->pgd = PhysAddr{};
}

// The walk of __handle_mm_fault(): p4d/pud/pmd_alloc() then pte_alloc(), each a zeroed table
// linked with _PAGE_TABLE and counted in mm->pgtables_bytes (mm_inc_nr_puds/pmds/ptes), down to
// the entry of `level` (0 PGD .. 3 PTE) that maps addr.
std::optional<PhysAddr> AddressSpaces::entry_alloc_walk(mm_struct* mm, uint64_t addr,
                                                        unsigned level) {
    PhysAddr table = mm->pgd;
    for (unsigned l = 0; l < level; l++) {
        const PhysAddr e = entry_at(table, index_at(addr, l));
        pteval_t v = ram_.read_u64(e);
        if (!(v & _PAGE_PRESENT)) {
            const auto t = alloc_pt_page(mm);
            if (!t) return std::nullopt;
            mm->pgtables_bytes += PAGE_SIZE;
            v = t->value | _PAGE_TABLE;
            ram_.write_u64(e, v);
        }
        table = table_of(v);
    }
    return entry_at(table, index_at(addr, level));
}

std::optional<PhysAddr> AddressSpaces::entry_offset(const mm_struct* mm, uint64_t addr,
                                                    unsigned level) const {
    PhysAddr table = mm->pgd;
    for (unsigned l = 0; l < level; l++) {
        const pteval_t v = ram_.read_u64(entry_at(table, index_at(addr, l)));
        if (!(v & _PAGE_PRESENT)) return std::nullopt;
        table = table_of(v);
    }
    return entry_at(table, index_at(addr, level));
}

std::optional<PhysAddr> AddressSpaces::pte_alloc_walk(mm_struct* mm, uint64_t addr) {
    return entry_alloc_walk(mm, addr, LEVELS - 1);
}

std::optional<PhysAddr> AddressSpaces::pte_offset(const mm_struct* mm, uint64_t addr) const {
    return entry_offset(mm, addr, LEVELS - 1);
}

void AddressSpaces::clear_pmd(mm_struct* mm, uint64_t addr) {
    if (const auto e = entry_offset(mm, addr, LEVELS - 2)) ram_.write_u64(*e, 0);
}

pteval_t AddressSpaces::lookup_pte(const mm_struct* mm, uint64_t addr) const {
    const auto e = pte_offset(mm, addr);
    return e ? ram_.read_u64(*e) : 0;
}

// free_p4d_range() .. free_pte_range(): free the tables below `entry` (an entry of level
// `level` covering [addr, end)), then the table the entry points to if all it maps lies in
// [floor, ceiling). The table an entry of level L points to maps 1 << SHIFT[L] bytes. The PTE
// tables of the range always go: free_pgd_range() has already trimmed the range to the PMDs
// that nothing outside [floor, ceiling) shares.
void AddressSpaces::free_level(mm_struct* mm, PhysAddr entry, int level, uint64_t addr,
                               uint64_t end, uint64_t floor, uint64_t ceiling) {
    const pteval_t v = ram_.read_u64(entry);
    if (!(v & _PAGE_PRESENT)) return;
    const PhysAddr table = table_of(v);
    if (level + 2 == int(LEVELS)) { // free_pte_range(): a PMD entry's PTE table always goes
        ram_.write_u64(entry, 0);
        mm->pgtables_bytes -= PAGE_SIZE;
        free_pt_page(mm, table, false);
        return;
    }
    {
        // The entries of the table below: each covers 1 << SHIFT[level + 1].
        const uint64_t span = 1ull << SHIFT[level + 1];
        uint64_t a = addr;
        do {
            const uint64_t boundary = (a + span) & ~(span - 1);
            const uint64_t next = boundary - 1 < end - 1 ? boundary : end;
            free_level(mm, entry_at(table, index_at(a, level + 1)), level + 1, a, next, floor,
                       ceiling);
            a = next;
        } while (a != end);
    }
    // The table `entry` points to covers 1 << SHIFT[level]; free it only if all of that lies
    // in [floor, ceiling) (the kernel's start &= MASK / ceiling &= MASK / end - 1 > ceiling - 1
    // tests).
    const uint64_t mask = ~((1ull << SHIFT[level]) - 1);
    const uint64_t start = addr & mask;
    if (start < floor) return;
    if (ceiling) {
        ceiling &= mask;
        if (!ceiling) return;
    }
    if (end - 1 > ceiling - 1) return;
    ram_.write_u64(entry, 0);
    mm->pgtables_bytes -= PAGE_SIZE;
    free_pt_page(mm, table, false);
}

// free_pgd_range(): the tables of [addr, end) that no address outside [floor, ceiling) needs.
void AddressSpaces::free_pgd_range(mm_struct* mm, uint64_t addr, uint64_t end, uint64_t floor,
                                   uint64_t ceiling) {
    addr &= ~(PMD_SIZE - 1);
    if (addr < floor) {
        addr += PMD_SIZE;
        if (!addr) return;
    }
    if (ceiling) {
        ceiling &= ~(PMD_SIZE - 1);
        if (!ceiling) return;
    }
    if (end - 1 > ceiling - 1) end -= PMD_SIZE;
    if (addr > end - 1) return;
    const uint64_t span = 1ull << SHIFT[0];
    uint64_t a = addr;
    do {
        const uint64_t boundary = (a + span) & ~(span - 1);
        const uint64_t next = boundary - 1 < end - 1 ? boundary : end;
        free_level(mm, entry_at(mm->pgd, index_at(a, 0)), 0, a, next, floor, ceiling);
        a = next;
    } while (a != end);
}

// kernel_physical_mapping_init() with gbpages: PAGE_OFFSET maps all of RAM with 1 GiB pages
// (__PAGE_KERNEL_LARGE: global, supervisor, NX). Its PUD tables, like the kernel's early page
// tables, come from the image's brk area: the pages just below swapper_pg_dir.
std::string AddressSpaces::build_direct_map(const BootLayout& layout) {
    const uint64_t gib = (layout.max_pfn * PAGE_SIZE + PUD_SIZE - 1) / PUD_SIZE;
    PhysAddr next_table{swapper_pg_dir_.value - PAGE_SIZE};
    const uint64_t image_start = uint64_t{16} << 20;
    for (uint64_t g = 0; g < gib; g++) {
        const uint64_t la = PAGE_OFFSET_64 + (g << 30);
        const PhysAddr pgde = entry_at(swapper_pg_dir_, index_at(la, 0));
        pteval_t v = ram_.read_u64(pgde);
        if (!(v & _PAGE_PRESENT)) {
            if (next_table.value < image_start + 2 * PAGE_SIZE)
                return "the kernel image is too small for the direct map's page tables";
            ram_.fill(next_table, 0, PAGE_SIZE);
            v = next_table.value | _KERNPG_TABLE;
            ram_.write_u64(pgde, v);
            next_table = PhysAddr{next_table.value - PAGE_SIZE};
        }
        ram_.write_u64(entry_at(table_of(v), index_at(la, 1)), (g << 30) | __PAGE_KERNEL_LARGE);
    }
    return {};
}

} // namespace mmemu
