// madvise(2) (mm/madvise.c), Linux 6.18, for anonymous private memory: MADV_DONTNEED (zap the
// range; the next read maps the zero page, the next write a fresh page; the PTE tables left
// empty are freed, as 6.18's CONFIG_PT_RECLAIM does on x86_64), MADV_DONTFORK / MADV_DOFORK
// (VM_DONTCOPY), MADV_WIPEONFORK / MADV_KEEPONFORK (VM_WIPEONFORK), MADV_WILLNEED (swap-in
// readahead: nothing to do without swap). The flag changes split and merge VMAs as mprotect's do.
#include "mmcore/address_spaces.h"

namespace mmemu {

// try_to_free_pte(): the PTE tables under [start, end) that hold no entry any more go.
void AddressSpaces::reclaim_empty_pte_tables(mm_struct* mm, uint64_t start, uint64_t end,
                                             bool flushed) {
    bool freed = false;
    for (uint64_t a = start & ~(PMD_SIZE - 1); a < end; a += PMD_SIZE) {
        const auto ptep = pte_offset(mm, a);
        if (!ptep) continue;
        const PhysAddr table{ptep->value & PAGE_MASK};
        bool empty = true;
        for (unsigned i = 0; i < PTRS_PER_TABLE && empty; i++)
            empty = ram_.read_u64(PhysAddr{table.value + 8 * i}) == 0;
        if (!empty) continue;
        clear_pmd(mm, a);
        mm->pgtables_bytes -= PAGE_SIZE;
        free_pt_page(mm, table, false);
        freed = true;
    }
    // The paging-structure caches may hold the freed tables' PDEs: one flush for the zap and
    // the tables (tlb_finish_mmu), unless the zap flushed already.
    if (freed && !flushed) flush_tlb_mm_range(mm, start, end);
}

int AddressSpaces::do_madvise(mm_struct* mm, uint64_t start, uint64_t len, int behavior,
                              unsigned cpu) {
    node_cpu_ = cpu;
    if (start & ~PAGE_MASK) return -EINVAL;
    switch (behavior) {
    case MADV_DONTNEED:
    case MADV_DONTFORK:
    case MADV_DOFORK:
    case MADV_WIPEONFORK:
    case MADV_KEEPONFORK:
    case MADV_WILLNEED: break;
    default: return -EINVAL;
    }
    const uint64_t plen = (len + PAGE_SIZE - 1) & PAGE_MASK;
    if (plen < len) return -EINVAL;
    const uint64_t end = start + plen;
    if (end < start) return -EINVAL;
    if (end == start) return 0;
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
            reclaim_empty_pte_tables(mm, at, tend, zap_range(mm, at, tend, cpu));
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
