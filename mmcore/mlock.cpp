// mlock(2), mlock2(2), munlock(2), mlockall(2) and munlockall(2) (mm/mlock.c), and
// __mm_populate() (mm/gup.c), Linux 6.18. The rules are in
// ../shared/reference/linux-process-facts.md section 7.
//
// mmemu keeps VM_LOCKED / VM_LOCKONFAULT on the VMAs, mm->locked_vm (VmLck) and the faulting-in
// of locked ranges; it has no reclaim, so the page side of mlock (PG_mlocked, the unevictable
// LRU, NR_MLOCK and the unevictable_pgs_* events) is not kept: nothing could evict a page anyway.
// Processes run without CAP_IPC_LOCK, so RLIMIT_MEMLOCK (8 MiB, the default) applies.
#include "mmcore/address_spaces.h"

namespace mmemu {

// __mm_populate(): fault in every page of [start, end) VMA by VMA, as get_user_pages does
// (populate_vma_page_range): a write fault for private writable memory (FOLL_WRITE breaks COW),
// a read fault otherwise (the zero page); VM_LOCKONFAULT VMAs are skipped, VM_IO / VM_PFNMAP
// ones too. A VMA with no access at all fails with -EFAULT (check_vma_flags refuses even
// FOLL_FORCE), as does a fault that finds no memory (-ENOMEM); with `ignore_errors`
// (mm_populate()) the next VMA is tried instead.
int AddressSpaces::mm_populate(mm_struct* mm, uint64_t start, uint64_t end, bool ignore_errors,
                               unsigned cpu) {
    for (uint64_t at = start; at < end;) {
        vm_area_struct* vma = find_vma(mm, at);
        if (!vma || vma->vm_start >= end) break;
        const uint64_t from = std::max(at, vma->vm_start), to = std::min(end, vma->vm_end);
        at = to;
        if (vma->vm_flags & (VM_IO | VM_PFNMAP) || (vma->vm_flags & VM_LOCKONFAULT)) continue;
        int err = 0;
        if (!(vma->vm_flags & VM_ACCESS_FLAGS)) err = -EFAULT;
        const bool write = (vma->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE;
        for (uint64_t a = from; a < to && !err; a += PAGE_SIZE) {
            const pteval_t e = lookup_pte(mm, a);
            if (pte_present(e) && (!write || pte_write(e))) continue;
            // handle_mm_fault() from GUP: pgfault and the task's min_flt are counted.
            vmstat_.pgfault++;
            if (task_struct* t = current_[cpu]; t && t->mm == mm) t->min_flt++;
            if (handle_mm_fault(mm, vma, a, write, cpu) != vm_fault::ok) err = -ENOMEM;
            if (task_struct* t = current_[cpu]; t && t->mm == mm && t->sigkill_pending)
                return -EINTR; // fatal_signal_pending(): GUP stops
        }
        if (err && !ignore_errors) return err;
    }
    return 0;
}

// mlock_fixup(): one VMA's part [start, end) takes `newflags` (merged or split as mprotect's
// changes are) and locked_vm follows; special mappings are left as they are, uncounted.
int AddressSpaces::mlock_fixup(mm_struct* mm, vm_area_struct*& vma, uint64_t start, uint64_t end,
                               vm_flags_t newflags) {
    const vm_flags_t oldflags = vma->vm_flags;
    if (newflags == oldflags || (oldflags & VM_SPECIAL)) return 0;
    int err = 0;
    vm_area_struct* v = vma_modify_flags(mm, vma, start, end, newflags, err);
    if (!v) return err;
    v->vm_flags = newflags;
    vma = v;
    const int64_t pages = int64_t((end - start) >> PAGE_SHIFT);
    if (!(newflags & VM_LOCKED))
        mm->locked_vm -= uint64_t(pages);
    else if (!(oldflags & VM_LOCKED))
        mm->locked_vm += uint64_t(pages);
    return 0;
}

// apply_vma_lock_flags(): every VMA of [start, start + len) gets `flags` in place of its lock
// flags; the range must start inside a VMA and have no hole (-ENOMEM, with the VMAs before the
// hole already changed).
int AddressSpaces::apply_vma_lock_flags(mm_struct* mm, uint64_t start, uint64_t len,
                                        vm_flags_t flags) {
    const uint64_t end = start + len;
    if (end < start) return -EINVAL;
    if (end == start) return 0;
    vm_area_struct* vma = find_vma(mm, start);
    if (!vma || vma->vm_start > start) return -ENOMEM;
    uint64_t at = start;
    while (vma && vma->vm_start < end) {
        if (vma->vm_start > at) return -ENOMEM; // a hole
        const uint64_t to = std::min(end, vma->vm_end);
        if (const int e = mlock_fixup(mm, vma, at, to, (vma->vm_flags & ~VM_LOCKED_MASK) | flags))
            return e;
        at = to;
        vma = at < end ? find_vma(mm, at) : nullptr;
    }
    return at < end ? -ENOMEM : 0;
}

// do_mlock(): start rounded down, length up; RLIMIT_MEMLOCK counts the range less what is
// locked already inside it (count_mm_mlocked_page_nr) once the plain sum is over the limit;
// then the VMAs change and the range is faulted in (an -EFAULT of __mm_populate is returned as
// -ENOMEM, an -ENOMEM as -EAGAIN: __mlock_posix_error_return).
int AddressSpaces::do_mlock(mm_struct* mm, uint64_t start, uint64_t len, bool onfault,
                            unsigned cpu) {
    mm_percall::cpu = cpu;
    const WriteGuard mmap_locked(mm->mmap_lock);
    // PAGE_ALIGN(len + offset_in_page(start)), wrapping as the kernel's unsigned long does (a
    // length that wraps to 0 locks nothing and succeeds).
    len = PAGE_ALIGN(len + (start & ~PAGE_MASK));
    start &= PAGE_MASK;
    uint64_t locked = (len >> PAGE_SHIFT) + mm->locked_vm;
    if (locked > RLIMIT_MEMLOCK_PAGES) {
        const uint64_t end = start + len < start ? UINT64_MAX : start + len;
        for (vm_area_struct* v = find_vma(mm, start); v && v->vm_start < end;
             v = v->vm_end < end ? find_vma(mm, v->vm_end) : nullptr)
            if (v->vm_flags & VM_LOCKED)
                locked -= (std::min(end, v->vm_end) - std::max(start, v->vm_start)) >> PAGE_SHIFT;
    }
    if (locked > RLIMIT_MEMLOCK_PAGES) return -ENOMEM;
    const vm_flags_t flags = VM_LOCKED | (onfault ? VM_LOCKONFAULT : 0);
    if (const int e = apply_vma_lock_flags(mm, start, len, flags); e) return e;
    const int e = mm_populate(mm, start, start + len, false, cpu);
    if (e == -EFAULT) return -ENOMEM;
    if (e == -ENOMEM) return -EAGAIN;
    return e;
}

int AddressSpaces::do_munlock(mm_struct* mm, uint64_t start, uint64_t len, unsigned cpu) {
    mm_percall::cpu = cpu;
    const WriteGuard mmap_locked(mm->mmap_lock);
    len = PAGE_ALIGN(len + (start & ~PAGE_MASK));
    return apply_vma_lock_flags(mm, start & PAGE_MASK, len, 0);
}

// mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) / munlockall() (flags 0):
// apply_mlockall_flags() sets def_flags for future mappings and the lock flags of every VMA
// (errors ignored); MCL_CURRENT needs total_vm within RLIMIT_MEMLOCK and faults everything in
// (mm_populate, errors ignored).
int AddressSpaces::do_mlockall(mm_struct* mm, int flags, unsigned cpu) {
    mm_percall::cpu = cpu;
    const WriteGuard mmap_locked(mm->mmap_lock);
    if (flags != 0) {
        if (flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) || flags == MCL_ONFAULT)
            return -EINVAL;
        if ((flags & MCL_CURRENT) && mm->total_vm > RLIMIT_MEMLOCK_PAGES) return -ENOMEM;
    }
    mm->def_flags &= ~VM_LOCKED_MASK;
    if (flags & MCL_FUTURE) {
        mm->def_flags |= VM_LOCKED;
        if (flags & MCL_ONFAULT) mm->def_flags |= VM_LOCKONFAULT;
        if (!(flags & MCL_CURRENT)) return 0;
    }
    vm_flags_t to_add = 0;
    if (flags & MCL_CURRENT) to_add = VM_LOCKED | ((flags & MCL_ONFAULT) ? VM_LOCKONFAULT : 0);
    for (uint64_t at = 0; vm_area_struct* v = find_vma(mm, at);) {
        mlock_fixup(mm, v, v->vm_start, v->vm_end, (v->vm_flags & ~VM_LOCKED_MASK) | to_add);
        at = v->vm_end;
        if (at >= mm->task_size) break;
    }
    if (flags & MCL_CURRENT) mm_populate(mm, 0, mm->task_size, true, cpu);
    return 0;
}

} // namespace mmemu
