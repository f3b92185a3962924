// The user page tables in every format (2-level, PAE, 4-level, 5-level): pgd_alloc() and
// pgd_free() of arch/x86/mm/pgtable.c (the kernel's half cloned from swapper_pg_dir; on PAE the
// four PMDs preallocated with a per-process copy of the kernel's), the p4d/pud/pmd/pte_alloc
// walk of __handle_mm_fault(), and free_pgd_range() (mm/memory.c). Every table is a frame of
// emulated RAM whose entries the CPU's walker reads; the format (PgtableFormat) says how many
// levels there are, how wide an entry is and which address bits index each level. The boot
// tables of each format are in pgtable_32.cpp and pgtable_64.cpp.
// Facts: docs/dev/i386-pae-facts.md sections 3 and 4.
#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"
#include "mmcore/gfp.h"

namespace mmemu {

// GFP_PGTABLE_USER: GFP_KERNEL_ACCOUNT | __GFP_ZERO (include/asm-generic/pgalloc.h), never
// highmem (HIGHPTE is gone; preallocate_pmds() masks __GFP_HIGHMEM). A page-table page counts
// in NR_PAGETABLE (__pagetable_ctor); the PGD too (pagetable_pgd_ctor).
std::optional<PhysAddr> AddressSpaces::alloc_pt_page(mm_struct* mm) {
    (void)mm;
    // pagetable_alloc() -> alloc_pages(): in process context, the task's memory policy.
    page* p = alloc_pages_task(GFP_KERNEL | __GFP_ACCOUNT | __GFP_ZERO, 0, mm_percall::cpu);
    if (!p) return std::nullopt;
    vmstat_.nr_page_table_pages++;
    return pfn_phys(pa_.mem_map().page_to_pfn(p));
}

void AddressSpaces::free_pt_page(mm_struct* mm, PhysAddr table, bool pgd) {
    if (mm) mm->pt_frees++;
    if (!pgd) tables_freed_++;
    vmstat_.nr_page_table_pages--;
    pa_.free_pages(pa_.mem_map().pfn_to_page(phys_pfn(table)), 0, mm_percall::cpu);
}

// pte_free_defer() (mm/pgtable-generic.c): a table unhooked while mmap_lock is only held for
// reading may still be in use by a walker that found it a moment before without the lock
// (ksmd's walks; in Linux every lockless walker, under RCU), so it is freed after a grace
// period: in the concurrent mode at rcu_grace_period(), which the driver calls when every CPU is
// idle. Walkers that look again see the table gone at once (pt_frees moves now). In the
// deterministic mode nothing walks beside, and it goes at once.
void AddressSpaces::pte_free_defer(mm_struct* mm, PhysAddr table) {
    if (!Smp::concurrent_here()) return free_pt_page(mm, table, false);
    mm->pt_frees++;
    deferred_pt_[mm_percall::cpu].push_back(table);
}

void AddressSpaces::rcu_grace_period() {
    for (auto& tables : deferred_pt_) {
        for (const PhysAddr t : tables) free_pt_page(nullptr, t, false);
        tables.clear();
    }
}

// pgd_alloc() -> _pgd_alloc() + pgd_ctor(), and on PAE preallocate_pmds() +
// pgd_prepopulate_pmd() (Linux 6.16 and later: "Preallocate all PAE page tables").
//  - 2-level, 4-level, 5-level: a zeroed PGD whose kernel entries (KERNEL_PGD_BOUNDARY =
//    pgd_index(PAGE_OFFSET) and up) are those of swapper_pg_dir (clone_pgd_range), so every
//    address space shares the kernel's lower tables.
//  - PAE: a whole page for the 4-entry PGD, and all four PMDs allocated at once (each counted
//    by mm_inc_nr_pmds); the kernel slots get a copy of swapper_pg_dir's PMD (memcpy of its 512
//    entries: the PTE tables below stay shared), then pud_populate() writes every PDPTE with
//    _PAGE_PRESENT alone (the other bits are reserved at that level).
PhysAddr AddressSpaces::pgd_alloc(mm_struct* mm) {
    const auto pgd = alloc_pt_page(mm);
    if (!pgd) return PhysAddr{};
    if (fmt_.kind != PgtableFormat::pae) {
        for (unsigned i = kernel_pgd_boundary_; i < fmt_.ptrs[0]; i++)
            set_entry(entry_at(*pgd, i), get_entry(entry_at(swapper_pg_dir_, i)));
        return *pgd;
    }
    PhysAddr pmds[4];
    for (unsigned i = 0; i < 4; i++) {
        const auto t = alloc_pt_page(mm);
        if (!t) {
            while (i--) free_pt_page(mm, pmds[i], false);
            free_pt_page(mm, *pgd, true);
            return PhysAddr{};
        }
        pmds[i] = *t;
    }
    for (unsigned i = 0; i < 4; i++) {
        if (i >= kernel_pgd_boundary_) {
            const PhysAddr kpmd = table_of(get_entry(entry_at(swapper_pg_dir_, i)));
            for (unsigned j = 0; j < fmt_.ptrs[1]; j++)
                set_entry(entry_at(pmds[i], j), get_entry(entry_at(kpmd, j)));
        }
        set_entry(entry_at(*pgd, i), pmds[i].value | _PAGE_PRESENT);
        mm->pgtables_bytes += PAGE_SIZE; // mm_inc_nr_pmds
    }
    return *pgd;
}

// pgd_free(): on PAE pgd_mop_up_pmds() first frees every PMD still present (the kernel copies,
// and user PMDs that free_pgtables() never freed), each with mm_dec_nr_pmds; then the PGD.
void AddressSpaces::pgd_free(mm_struct* mm) {
    if (fmt_.kind == PgtableFormat::pae) {
        for (unsigned i = 0; i < 4; i++) {
            const PhysAddr e = entry_at(mm->pgd, i);
            const pteval_t v = get_entry(e);
            if (!(v & _PAGE_PRESENT)) continue;
            set_entry(e, 0);
            mm->pgtables_bytes -= PAGE_SIZE;
            free_pt_page(mm, table_of(v), false);
        }
    }
    free_pt_page(mm, mm->pgd, true);
    mm->pgd = PhysAddr{};
}

// The walk of __handle_mm_fault(): p4d/pud/pmd_alloc() then pte_alloc(), each a zeroed table
// linked with _PAGE_TABLE and counted in mm->pgtables_bytes (mm_inc_nr_puds/pmds/ptes), down to
// the entry of `level` (0 PGD .. levels - 1 PTE) that maps addr. On PAE a PMD re-created under
// the PGD (after free_pgtables() freed it) is linked by pud_populate(): the PDPTE holds
// _PAGE_PRESENT alone, and flush_tlb_mm() follows, as a PDPTE change needs a CR3 reload.
std::optional<PhysAddr> AddressSpaces::entry_alloc_walk(mm_struct* mm, uint64_t addr,
                                                        unsigned level) {
    PhysAddr table = mm->pgd;
    for (unsigned l = 0; l < level; l++) {
        const PhysAddr e = entry_at(table, fmt_.index(addr, l));
        pteval_t v = get_entry(e);
        if (!(v & _PAGE_PRESENT)) {
            // __pte_alloc() / __pmd_alloc(): the table is allocated first, then put in place
            // under mm->page_table_lock unless another CPU did so meanwhile (then freed).
            const auto t = alloc_pt_page(mm);
            if (!t) return std::nullopt;
            const bool pdpte = l == 0 && fmt_.kind == PgtableFormat::pae;
            bool raced = false;
            {
                const LockGuard<spinlock_t> locked(mm->page_table_lock);
                v = get_entry(e);
                if (v & _PAGE_PRESENT) {
                    raced = true;
                } else {
                    mm->pgtables_bytes += PAGE_SIZE;
                    v = t->value | (pdpte ? _PAGE_PRESENT : _PAGE_TABLE);
                    set_entry(e, v);
                }
            }
            if (raced)
                free_pt_page(mm, *t, false);
            else if (pdpte)
                flush_tlb_mm_range(mm, 0, UINT64_MAX);
        }
        table = table_of(v);
    }
    return entry_at(table, fmt_.index(addr, level));
}

std::optional<PhysAddr> AddressSpaces::entry_offset(const mm_struct* mm, uint64_t addr,
                                                    unsigned level) const {
    PhysAddr table = mm->pgd;
    for (unsigned l = 0; l < level; l++) {
        const pteval_t v = get_entry(entry_at(table, fmt_.index(addr, l)));
        if (!(v & _PAGE_PRESENT)) return std::nullopt;
        table = table_of(v);
    }
    return entry_at(table, fmt_.index(addr, level));
}

std::optional<PhysAddr> AddressSpaces::pte_alloc_walk(mm_struct* mm, uint64_t addr) {
    return entry_alloc_walk(mm, addr, fmt_.pte_level());
}

std::optional<PhysAddr> AddressSpaces::pte_offset(const mm_struct* mm, uint64_t addr) const {
    return entry_offset(mm, addr, fmt_.pte_level());
}

void AddressSpaces::clear_pmd(mm_struct* mm, uint64_t addr) {
    if (const auto e = entry_offset(mm, addr, fmt_.pmd_level())) set_entry(*e, 0);
}

pteval_t AddressSpaces::lookup_pte(const mm_struct* mm, uint64_t addr) const {
    const auto e = pte_offset(mm, addr);
    return e ? get_entry(*e) : 0;
}

// free_p4d_range() .. free_pte_range(): free the tables below `entry` (an entry of level
// `level` covering [addr, end)), then the table the entry points to if all it maps lies in
// [floor, ceiling). The table an entry of level L points to maps span(L) bytes. The PTE
// tables of the range always go: free_pgd_range() has already trimmed the range to the PMDs
// that nothing outside [floor, ceiling) shares. On PAE freeing a PMD clears a PDPTE, which
// sets need_flush_all (___pmd_free_tlb): the flush that follows reloads CR3.
void AddressSpaces::free_level(mm_struct* mm, PhysAddr entry, int level, uint64_t addr,
                               uint64_t end, uint64_t floor, uint64_t ceiling) {
    const pteval_t v = get_entry(entry);
    if (!(v & _PAGE_PRESENT)) return;
    const PhysAddr table = table_of(v);
    if (level == int(fmt_.pmd_level())) { // free_pte_range(): the PTE table always goes
        set_entry(entry, 0);
        mm->pgtables_bytes -= PAGE_SIZE;
        free_pt_page(mm, table, false);
        return;
    }
    {
        // The entries of the table below: each covers span(level + 1).
        const uint64_t span = fmt_.span(unsigned(level) + 1);
        uint64_t a = addr;
        do {
            const uint64_t boundary = (a + span) & ~(span - 1);
            const uint64_t next = boundary - 1 < end - 1 ? boundary : end;
            free_level(mm, entry_at(table, fmt_.index(a, unsigned(level) + 1)), level + 1, a, next,
                       floor, ceiling);
            a = next;
        } while (a != end);
    }
    // The table `entry` points to covers span(level); free it only if all of that lies in
    // [floor, ceiling) (the kernel's start &= MASK / ceiling &= MASK / end - 1 > ceiling - 1
    // tests).
    const uint64_t mask = ~(fmt_.span(unsigned(level)) - 1);
    const uint64_t start = addr & mask;
    if (start < floor) return;
    if (ceiling) {
        ceiling &= mask;
        if (!ceiling) return;
    }
    if (end - 1 > ceiling - 1) return;
    set_entry(entry, 0);
    mm->pgtables_bytes -= PAGE_SIZE;
    free_pt_page(mm, table, false);
    if (level == 0 && fmt_.kind == PgtableFormat::pae) mm_percall::need_flush_all = true;
}

// free_pgd_range(): the tables of [addr, end) that no address outside [floor, ceiling) needs.
void AddressSpaces::free_pgd_range(mm_struct* mm, uint64_t addr, uint64_t end, uint64_t floor,
                                   uint64_t ceiling) {
    const uint64_t pmd_size = fmt_.pmd_size();
    addr &= ~(pmd_size - 1);
    if (addr < floor) {
        addr += pmd_size;
        if (!addr) return;
    }
    if (ceiling) {
        ceiling &= ~(pmd_size - 1);
        if (!ceiling) return;
    }
    if (end - 1 > ceiling - 1) end -= pmd_size;
    if (addr > end - 1) return;
    const uint64_t span = fmt_.span(0);
    uint64_t a = addr;
    do {
        const uint64_t boundary = (a + span) & ~(span - 1);
        const uint64_t next = boundary - 1 < end - 1 ? boundary : end;
        free_level(mm, entry_at(mm->pgd, fmt_.index(a, 0)), 0, a, next, floor, ceiling);
        a = next;
    } while (a != end);
}

// The audit's walk of one mm's own tables: every table below its user PGD entries, and on PAE
// the kernel PMD copies (the mm's own pages, though their entries point at the kernel's shared
// tables). f(pfn) for each PTE that maps a page; returns the table pages found.
uint64_t AddressSpaces::audit_tables(const mm_struct* mm, std::vector<OwnedFrames>& owned,
                                     const std::function<void(pteval_t)>& f) const {
    uint64_t tables = 0;
    const std::function<void(PhysAddr, unsigned)> walk = [&](PhysAddr table, unsigned level) {
        owned.push_back({phys_pfn(table), phys_pfn(table) + 1, "page table", 0});
        tables++;
        for (unsigned i = 0; i < fmt_.ptrs[level]; i++) {
            const pteval_t e = get_entry(entry_at(table, i));
            if (level == fmt_.pte_level()) {
                if (!pte_none(e)) f(e);
            } else if (e & _PAGE_PRESENT) {
                walk(table_of(e), level + 1);
            }
        }
    };
    for (unsigned i = 0; i < fmt_.ptrs[0]; i++) {
        const pteval_t g = get_entry(entry_at(mm->pgd, i));
        if (!(g & _PAGE_PRESENT)) continue;
        if (i < kernel_pgd_boundary_) {
            walk(table_of(g), 1);
        } else if (fmt_.kind == PgtableFormat::pae) {
            const PhysAddr kpmd = table_of(g);
            owned.push_back({phys_pfn(kpmd), phys_pfn(kpmd) + 1, "page table", 0});
            tables++;
        }
    }
    return tables;
}

} // namespace mmemu
