// madvise(2) (mm/madvise.c), Linux 6.18, for anonymous private memory: MADV_DONTNEED (zap the
// range; the next read maps the zero page, the next write a fresh page; the PTE tables left
// empty are freed, as 6.18's CONFIG_PT_RECLAIM does on x86_64), MADV_DONTFORK / MADV_DOFORK
// (VM_DONTCOPY), MADV_WIPEONFORK / MADV_KEEPONFORK (VM_WIPEONFORK), MADV_WILLNEED (swap-in
// readahead: nothing to do without swap), MADV_FREE (lazy free: the pages stay mapped, clean and
// old, and are marked for reclaim to drop, which mmemu does not have yet). The flag changes split
// and merge VMAs as mprotect's do.
#include <optional>

#include "mmcore/address_spaces.h"

namespace mmemu {

namespace {
constexpr size_t FOLIO_BATCH_SIZE = 31;
} // namespace

// lru_add_drain() for the lazyfree batch: lru_lazyfree() clears PG_swapbacked of each folio
// (it moves to the inactive file LRU) and counts PGLAZYFREE.
void AddressSpaces::lru_add_drain(unsigned cpu) {
    auto& batch = lazyfree_batch_[cpu];
    for (page* p : batch) {
        p->clear(PG_lazyfree_batch);
        p->clear(PG_swapbacked);
        vmstat_.pglazyfree++;
    }
    batch.clear();
}

// folio_mark_lazyfree(): an anonymous, swap-backed page joins this CPU's batch (once: a page
// already waiting in a batch is off the LRU), which goes through when it holds 31 folios.
void AddressSpaces::folio_mark_lazyfree(page* p, unsigned cpu) {
    if (!p->test(PG_anon) || !p->test(PG_swapbacked) || p->test(PG_lazyfree_batch)) return;
    p->set(PG_lazyfree_batch);
    lazyfree_batch_[cpu].push_back(p);
    if (lazyfree_batch_[cpu].size() == FOLIO_BATCH_SIZE) lru_add_drain(cpu);
}

// madvise_free_single_vma() -> madvise_free_pte_range() over [start, end) of one VMA: this CPU's
// batches drained first; then each present page (not the zero page) loses the young and dirty
// bits of its PTE and is marked lazyfree, shared or not; one flush if a PTE changed.
void AddressSpaces::madvise_free_range(mm_struct* mm, uint64_t start, uint64_t end, unsigned cpu) {
    lru_add_drain(cpu);
    bool changed = false;
    PtlHolder ptl; // each PTE table under its lock
    for_each_pte(mm, start, end, [&](PhysAddr e, uint64_t) {
        ptl.lock(pt_page(e));
        const pteval_t v = get_entry(e);
        if (!pte_present(v) || pte_special(v)) return;
        page* p = pa_.mem_map().pfn_to_page(pte_pfn(v));
        if (v & (_PAGE_ACCESSED | _PAGE_DIRTY)) {
            set_entry(e, v & ~(_PAGE_ACCESSED | _PAGE_DIRTY));
            changed = true;
        }
        folio_mark_lazyfree(p, cpu);
    });
    ptl.unlock();
    if (changed) flush_tlb_mm_range(mm, start, end);
}

// try_to_free_pte(): the PTE tables under [start, end) that hold no entry any more go.
void AddressSpaces::reclaim_empty_pte_tables(mm_struct* mm, uint64_t start, uint64_t end,
                                             bool flushed) {
    bool freed = false;
    const uint64_t pmd_size = fmt_.pmd_size();
    for (uint64_t a = start & ~(pmd_size - 1); a < end; a += pmd_size) {
        const auto ptep = pte_offset(mm, a);
        if (!ptep) continue;
        const PhysAddr table{ptep->value & PAGE_MASK};
        {
            // The PMD's lock (mm->page_table_lock), then the table's own: no fault can fill
            // the table while it is checked and unhooked.
            const LockGuard<spinlock_t> pmd_locked(mm->page_table_lock);
            const PtlHolder ptl(pt_page(table));
            bool empty = true;
            for (unsigned i = 0; i < fmt_.ptrs[fmt_.pte_level()] && empty; i++)
                empty = get_entry(entry_at(table, i)) == 0;
            if (!empty) continue;
            clear_pmd(mm, a);
            mm->pgtables_bytes -= PAGE_SIZE;
        }
        pte_free_defer(mm, table);
        freed = true;
    }
    // The paging-structure caches may hold the freed tables' PDEs: one flush for the zap and
    // the tables (tlb_finish_mmu), unless the zap flushed already.
    if (freed && !flushed) flush_tlb_mm_range(mm, start, end, true);
}

int AddressSpaces::do_madvise(mm_struct* mm, uint64_t start, uint64_t len, int behavior,
                              unsigned cpu) {
    mm_percall::cpu = cpu;
    if (start & ~PAGE_MASK) return -EINVAL;
    switch (behavior) {
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_DONTFORK:
    case MADV_DOFORK:
    case MADV_WIPEONFORK:
    case MADV_KEEPONFORK:
    case MADV_WILLNEED: break;
    case MADV_MERGEABLE:
    case MADV_UNMERGEABLE:
        if (ksm_) break;
        return -EINVAL; // madvise_behavior_valid(): KSM's advice needs CONFIG_KSM
    default: return -EINVAL;
    }
    const uint64_t plen = PAGE_ALIGN(len);
    if (plen < len) return -EINVAL;
    const uint64_t end = start + plen;
    if (end < start) return -EINVAL;
    if (end == start) return 0;
    // madvise_lock() (get_lock_mode()): advice that changes vm_flags takes mmap_lock for
    // writing; DONTNEED and FREE take the VMA's lock for reading in 6.18 (mmemu has no per-VMA
    // locks: mmap_lock for reading, the kernel's fallback), WILLNEED mmap_lock for reading.
    const bool reads =
        behavior == MADV_DONTNEED || behavior == MADV_FREE || behavior == MADV_WILLNEED;
    std::optional<ReadGuard> read_locked;
    std::optional<WriteGuard> write_locked;
    if (reads)
        read_locked.emplace(mm->mmap_lock);
    else
        write_locked.emplace(mm->mmap_lock);
    // madvise_walk_vmas(): each VMA in the range in turn; a hole makes the result -ENOMEM,
    // but the mapped parts are still done.
    int unmapped_error = 0;
    uint64_t at = start;
    vm_area_struct* vma = find_vma(mm, at);
    if (!vma) return -ENOMEM;
    while (vma && vma->vm_start < end) {
        if (vma->vm_start > at) unmapped_error = -ENOMEM;
        at = std::max(at, vma->vm_start);
        const uint64_t tend = std::min(end, vma->vm_end);
        vm_flags_t newflags = vma->vm_flags;
        switch (behavior) {
        case MADV_DONTNEED:
            if (vma->vm_flags & (VM_LOCKED | VM_PFNMAP)) return -EINVAL; // can_madv_lru_vma()
            lru_add_drain(cpu); // zap_page_range_single_batched()
            // CONFIG_PT_RECLAIM: ARCH_SUPPORTS_PT_RECLAIM is selected only on X86_64
            // (arch/x86/Kconfig), so a 32-bit kernel keeps the empty PTE tables.
            if (fmt_.levels >= 4)
                reclaim_empty_pte_tables(mm, at, tend, zap_range(mm, at, tend, cpu));
            else
                zap_range(mm, at, tend, cpu);
            break;
        case MADV_FREE:
            if (vma->vm_flags & (VM_LOCKED | VM_PFNMAP)) return -EINVAL; // can_madv_lru_vma()
            if (vma->vm_flags & VM_SHARED) return -EINVAL;               // !vma_is_anonymous()
            madvise_free_range(mm, at, tend, cpu);
            break;
        case MADV_DONTFORK: newflags |= VM_DONTCOPY; break;
        case MADV_DOFORK:
            if (vma->vm_flags & VM_IO) return -EINVAL;
            newflags &= ~VM_DONTCOPY;
            break;
        case MADV_WIPEONFORK:
            if (vma->vm_flags & VM_SHARED) return -EINVAL; // private anonymous memory only
            newflags |= VM_WIPEONFORK;
            break;
        case MADV_KEEPONFORK: newflags &= ~VM_WIPEONFORK; break;
        case MADV_MERGEABLE:
        case MADV_UNMERGEABLE:
            if (const int e = ksm_->ksm_madvise(mm, vma, at, tend, behavior, newflags, cpu); e)
                return e;
            break;
        default: break; // MADV_WILLNEED
        }
        if (newflags != vma->vm_flags) {
            int err = 0;
            vm_area_struct* v = vma_modify_flags(mm, vma, at, tend, newflags, err);
            if (!v) return err == -ENOMEM ? -EAGAIN : err; // madvise_update_vma(): EAGAIN
            v->vm_flags = newflags;
            vma = v;
        }
        at = tend;
        if (at >= end) break;
        vma = find_vma(mm, at);
    }
    if (at < end) unmapped_error = -ENOMEM;
    return unmapped_error;
}

} // namespace mmemu
