// The page-table edits of KSM (mm/ksm.c, Linux 6.18; docs/dev/ksm-facts.md sections 3, 6 and
// 7): the scan's walk to the next anonymous page, write_protect_page(), replace_page() and
// break_ksm(). In Linux they are ksm.c's own; here they live in mmcore, the only layer that
// writes page tables, and ksm/ calls them when its algorithm decides to.
#include "mmcore/address_spaces.h"

namespace mmemu {

// scan_get_next_rmap_item()'s range walk (ksm_next_page_pmd_entry): the next present PTE of
// the VMA that maps a normal page (vm_normal_page: not the zero page, not a KSM zero page) that
// is anonymous. Absent page tables are passed a table at a time.
std::optional<std::pair<uint64_t, Pfn>> AddressSpaces::ksm_next_anon_page(const vm_area_struct* vma,
                                                                          uint64_t addr) {
    const uint64_t pmd_size = fmt_.pmd_size(), step = fmt_.entry_bytes;
    for (uint64_t a = addr; a < vma->vm_end;) {
        const uint64_t table_end = std::min(vma->vm_end, (a + pmd_size) & ~(pmd_size - 1));
        if (const auto ptep = pte_offset(vma->vm_mm, a)) {
            PhysAddr e = *ptep;
            // Stops at the first page found: the walk's cost is the distance to it.
            for (; a < table_end; a += PAGE_SIZE, e = PhysAddr{e.value + step}) {
                const pteval_t v = get_entry(e);
                if (pte_present(v) && !pte_special(v) && pa_.mem_map()[pte_pfn(v)].test(PG_anon)) {
                    // Host speed only: the next page's bytes start coming from host memory
                    // while this one is checksummed and looked up in the trees.
                    if (a + PAGE_SIZE < table_end) {
                        const pteval_t n = get_entry(PhysAddr{e.value + step});
                        if (pte_present(n)) {
                            const uint8_t* f = ram_.frame(pte_pfn(n));
                            for (unsigned l = 0; l < PAGE_SIZE; l += 64) __builtin_prefetch(f + l);
                        }
                    }
                    // ksm_next_page_pmd_entry() holds the PTE lock: the entry checked again
                    // under it, and the page's reference taken (else the next entry).
                    if (const std::optional<Pfn> got = ksm_get_anon_page(e); got)
                        return std::pair{a, *got};
                }
            }
        }
        a = table_end;
    }
    return std::nullopt;
}

// The PTE lock keeps the entry from changing while the reference is taken.
std::optional<Pfn> AddressSpaces::ksm_get_anon_page_locked(PhysAddr ptep, bool get) {
    const PtlHolder ptl(pt_page(ptep));
    const pteval_t v = get_entry(ptep);
    if (!pte_present(v) || pte_special(v)) return std::nullopt;
    page* p = pa_.mem_map().pfn_to_page(pte_pfn(v));
    if (!p->test(PG_anon)) return std::nullopt;
    if (get) p->_refcount++; // folio_get(): the PTE's own reference keeps it above zero
    return pte_pfn(v);
}

bool AddressSpaces::ksm_try_get_page(Pfn pfn, uint64_t mapping, unsigned cpu) {
    page* p = pa_.mem_map().pfn_to_page(pfn);
    if (p->mapping != mapping) return false;
    if (!p->_refcount.inc_not_zero()) return false; // freed meanwhile
    // The page may have been freed and reused between the two reads: checked again.
    if (p->mapping == mapping && p->test(PG_ksm)) return true;
    put_anon_page(p, cpu);
    return false;
}

// write_protect_page(): a writable, dirty or AnonExclusive PTE (or one of an mm with a flush
// pending) is cleared and flushed (ptep_clear_flush), the page's references checked against
// its mappings (mapcount + ksmd's own reference == refcount: a pin or a batch's reference makes
// the merge wait for another pass), its exclusivity given up, and the PTE put back read-only
// and clean, young as it was. A PTE that is already read-only and clean is left alone.
int AddressSpaces::write_protect_page(vm_area_struct* vma, uint64_t addr, Pfn pfn, pteval_t& orig,
                                      unsigned cpu) {
    mm_percall::cpu = cpu; // the CPU ksmd runs on: it initiates the flushes
    mm_struct* mm = vma->vm_mm;
    if (addr < vma->vm_start || addr >= vma->vm_end) return -EFAULT;
    const auto ptep = pte_offset(mm, addr);
    if (!ptep) return -EFAULT;
    const PtlHolder ptl(pt_page(*ptep)); // page_vma_mapped_walk() takes it
    const pteval_t e = get_entry(*ptep);
    if (!pte_present(e) || pte_special(e) || pte_pfn(e) != pfn) return -EFAULT;
    page* p = pa_.mem_map().pfn_to_page(pfn);
    if (pte_write(e) || (e & _PAGE_DIRTY) || p->test(PG_anon_exclusive) || mm->tlb_flush_pending) {
        set_entry(*ptep, 0);
        flush_tlb_mm_range(mm, addr, addr + PAGE_SIZE);
        // folio_mapcount() + 1 (ksmd's own reference) must be the reference count: anything more
        // is a pin or a batch. A page waiting in a CPU's lazyfree batch has the batch's
        // reference too in Linux (mmemu's batch takes none, so it is added here); the lru_add
        // batches' references are not modelled.
        if (p->_mapcount + 1 != p->_refcount + (p->test(PG_lazyfree_batch) ? 1 : 0)) {
            set_entry(*ptep, e);
            return -EFAULT;
        }
        p->clear(PG_anon_exclusive); // folio_try_share_anon_rmap_pte()
        if (e & _PAGE_DIRTY) p->set(PG_dirty);
        const pteval_t n = e & ~(_PAGE_RW | _PAGE_DIRTY);
        set_entry(*ptep, n);
        orig = n;
        return 0;
    }
    orig = e;
    return 0;
}

// replace_page(): the PTE, still what write_protect_page() left, maps the KSM page instead (one
// more mapping and reference of it; read-only and clean, from vm_page_prot) or, for the zero
// page, the zero page special and dirty (a KSM zero page: counted in the mm's and KSM's
// ksm_zero_pages, and no longer in MM_ANONPAGES); flushed before the new PTE goes in; the old
// page loses the mapping and its reference.
int AddressSpaces::replace_page(vm_area_struct* vma, uint64_t addr, Pfn pfn, Pfn kpfn,
                                pteval_t orig, unsigned cpu) {
    mm_percall::cpu = cpu;
    mm_struct* mm = vma->vm_mm;
    const auto ptep = pte_offset(mm, addr);
    if (!ptep) return -EFAULT;
    PtlHolder ptl(pt_page(*ptep)); // pte_offset_map_lock()
    if (get_entry(*ptep) != orig) return -EFAULT;
    pteval_t n;
    if (kpfn == zero_pfn_) {
        n = pfn_pte(zero_pfn_, vma->vm_page_prot) | _PAGE_SPECIAL | _PAGE_DIRTY;
        mm->ksm_zero_pages++;
        mm->rss_stat[MM_ANONPAGES]--;
    } else {
        page* kp = pa_.mem_map().pfn_to_page(kpfn);
        kp->_refcount++;
        if (kp->_mapcount++ == 0) vmstat_.nr_anon_pages++;
        n = pfn_pte(kpfn, vma->vm_page_prot);
    }
    set_entry(*ptep, 0);
    flush_tlb_mm_range(mm, addr, addr + PAGE_SIZE);
    set_entry(*ptep, n);
    page* old = pa_.mem_map().pfn_to_page(pfn);
    if (--old->_mapcount == 0) vmstat_.nr_anon_pages--;
    ptl.unlock(); // folio_put() after pte_unmap_unlock()
    put_anon_page(old, cpu);
    return 0;
}

// break_ksm(): while addr maps a KSM page or a KSM zero page, an unshare fault
// (FAULT_FLAG_UNSHARE | FAULT_FLAG_REMOTE) gives the process its own copy; each fault counts
// in pgfault and, for a process's own madvise, in its min_flt (mm_account_fault()).
int AddressSpaces::break_ksm(vm_area_struct* vma, uint64_t addr, task_struct* t, unsigned cpu) {
    mm_percall::cpu = cpu;
    mm_struct* mm = vma->vm_mm;
    mmap_assert_locked(mm);
    for (;;) {
        const auto ptep = pte_offset(mm, addr);
        if (!ptep) return 0;
        // folio_walk_start() under the PTE table's lock, then the unshare fault
        // (handle_mm_fault(), which takes it again and checks the PTE is still the same).
        PtlHolder ptl(pt_page(*ptep));
        const pteval_t e = get_entry(*ptep);
        if (!pte_present(e)) return 0;
        const bool ksm_page =
            is_ksm_zero_pte(e) || (!pte_special(e) && pa_.mem_map()[pte_pfn(e)].test(PG_ksm));
        if (!ksm_page) return 0;
        charge(cpu, &CostModel::fault_handling);
        vmstat_.pgfault++;
        if (t) t->min_flt++;
        if (do_wp_page(mm, vma, addr, *ptep, e, ptl, cpu, true) == vm_fault::oom) return -ENOMEM;
    }
}

} // namespace mmemu
