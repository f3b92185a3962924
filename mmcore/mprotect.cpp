// mprotect(2) (mm/mprotect.c: do_mprotect_pkey, mprotect_fixup, change_pte_range; mm/vma.c:
// vma_modify_flags -> vma_merge_existing_range or split_vma), Linux 6.18, and the VMA merge of
// an existing range that mprotect, mlock and madvise share.
#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"

namespace mmemu {

namespace {

// is_mergeable_anon_vma(): both anon_vmas set must be the same; a VMA whose anon_vma came
// through fork (more than one chain) does not merge with one that has none.
bool anon_compatible(const vm_area_struct* a, const vm_area_struct* b) {
    if (a->anon && b->anon) return a->anon == b->anon;
    const vm_area_struct* with = a->anon ? a : b->anon ? b : nullptr;
    return !with || !with->avc_list || !with->avc_list->same_vma_next;
}
} // namespace

// The VMA that holds `from`'s pages takes over its anon_vma if it has none (dup_anon_vma).
void AddressSpaces::take_anon_vma(vm_area_struct* dst, vm_area_struct* from) {
    if (dst->anon || !from->anon) return;
    dst->anon = from->anon;
    if (!anon_vma_clone(dst, from, mm_percall::cpu)) throw KernelBug("dup_anon_vma: no memory");
}

void AddressSpaces::remove_vma(mm_struct* mm, vm_area_struct* vma) {
    unlink_anon_vmas(vma, mm_percall::cpu);
    vm_area_free(vma);
    mm->map_count--;
}

// vma_modify_flags(): make [start, end) of `vma` one VMA that can take `newflags`: merged into
// the previous and/or next VMA when they touch the range's edges and would be identical
// (vma_merge_existing_range), else split off at start and end. Returns that VMA, or nullptr
// with -ENOMEM.
vm_area_struct* AddressSpaces::vma_modify_flags(mm_struct* mm, vm_area_struct* vma, uint64_t start,
                                                uint64_t end, vm_flags_t newflags, int& err) {
    err = 0;
    vm_area_struct* prev = vma_prev(mm, vma->vm_start);
    if (prev && prev->vm_end != vma->vm_start) prev = nullptr;
    vm_area_struct* next = vma->vm_end < mm->task_size ? find_vma(mm, vma->vm_end) : nullptr;
    if (next && next->vm_start != vma->vm_end) next = nullptr;
    auto same = [&](const vm_area_struct* v) {
        return v && v->vm_flags == newflags && !(newflags & VM_SPECIAL) &&
               v->vm_file == vma->vm_file && anon_compatible(v, vma);
    };
    const bool left =
        start == vma->vm_start && same(prev) && prev->vm_pgoff + prev->pages() == vma->vm_pgoff;
    bool right = end == vma->vm_end && same(next) && vma->vm_pgoff + vma->pages() == next->vm_pgoff;
    if (left && right && !anon_compatible(prev, next)) right = false;
    auto store = [&](vm_area_struct* v, uint64_t s, uint64_t e) {
        if (!mm->mm_mt.store(s, e - 1, reinterpret_cast<uint64_t>(v))) {
            err = -ENOMEM;
            return false;
        }
        return true;
    };
    if (left && right) { // prev absorbs vma and next
        if (!store(prev, prev->vm_start, next->vm_end)) return nullptr;
        take_anon_vma(prev, vma);
        take_anon_vma(prev, next);
        prev->vm_end = next->vm_end;
        remove_vma(mm, vma);
        remove_vma(mm, next);
        return prev;
    }
    if (left) { // prev grows over [start, end); vma keeps the rest, if any
        if (!store(prev, prev->vm_start, end)) return nullptr;
        take_anon_vma(prev, vma);
        prev->vm_end = end;
        if (end == vma->vm_end) {
            remove_vma(mm, vma);
        } else {
            vma->vm_pgoff += (end - vma->vm_start) >> PAGE_SHIFT;
            vma->vm_start = end;
        }
        return prev;
    }
    if (right) { // next grows down over [start, end); vma keeps what is below, if anything
        if (!store(next, start, next->vm_end)) return nullptr;
        take_anon_vma(next, vma);
        next->vm_pgoff -= (next->vm_start - start) >> PAGE_SHIFT;
        next->vm_start = start;
        if (start == vma->vm_start)
            remove_vma(mm, vma);
        else
            vma->vm_end = start;
        return next;
    }
    // No merge: split_vma() at the edges (each refused at vm.max_map_count).
    if (start > vma->vm_start) {
        if (mm->map_count >= max_map_count()) return err = -ENOMEM, nullptr;
        if (const int e = split_vma(mm, vma, start, true); e) return err = e, nullptr;
    }
    if (end < vma->vm_end) {
        if (mm->map_count >= max_map_count()) return err = -ENOMEM, nullptr;
        if (const int e = split_vma(mm, vma, end, false); e) return err = e, nullptr;
    }
    return vma;
}

// change_pte_range(): each present PTE gets the VMA's new protection (pte_modify keeps the
// frame, the special, accessed and dirty bits); a VMA that wants manual write upgrades makes
// exclusive anonymous pages writable at once (can_change_pte_writable), so no fault follows.
uint64_t AddressSpaces::change_protection(mm_struct* mm, vm_area_struct* vma, uint64_t start,
                                          uint64_t end) {
    constexpr pteval_t CHG_MASK =
        PTE_PFN_MASK | _PAGE_PCD | _PAGE_PWT | _PAGE_SPECIAL | _PAGE_ACCESSED | _PAGE_DIRTY;
    const bool try_writable = (vma->vm_flags & (VM_SHARED | VM_WRITE)) == VM_WRITE;
    uint64_t changed = 0;
    PtlHolder ptl; // change_pte_range(): each PTE table under its lock
    for_each_pte(mm, start, end, [&](PhysAddr e, uint64_t) {
        ptl.lock(pt_page(e));
        const pteval_t old = get_entry(e);
        if (!pte_present(old)) return;
        pteval_t n = (old & CHG_MASK) | (vma->vm_page_prot & ~CHG_MASK);
        // can_change_pte_writable(): not from a PROT_NONE entry (pte_protnone).
        const bool protnone = !(old & _PAGE_PRESENT);
        if (try_writable && !protnone && !pte_write(n) && !pte_special(n)) {
            const page& p = pa_.mem_map()[pte_pfn(n)];
            if (p.test(PG_anon) && p.test(PG_anon_exclusive)) n |= _PAGE_RW;
        }
        if (n != old) {
            set_entry(e, n);
            changed++;
        }
    });
    return changed;
}

// do_mprotect_pkey() without pkeys: 0 or -errno.
int AddressSpaces::do_mprotect(mm_struct* mm, uint64_t start, uint64_t len, unsigned prot,
                               unsigned cpu) {
    mm_percall::cpu = cpu;
    if (start & ~PAGE_MASK) return -EINVAL;
    if (!len) return 0;
    const WriteGuard locked(mm->mmap_lock);
    len = (len + PAGE_SIZE - 1) & PAGE_MASK;
    const uint64_t end = start + len;
    if (!len || end <= start) return -ENOMEM;
    if (prot & ~unsigned(PROT_READ | PROT_WRITE | PROT_EXEC)) return -EINVAL; // arch_validate_prot
    vm_area_struct* vma = find_vma(mm, start);
    if (!vma || vma->vm_start > start) return -ENOMEM;
    vm_flags_t wanted = 0;
    if (prot & PROT_READ) wanted |= VM_READ;
    if (prot & PROT_WRITE) wanted |= VM_WRITE;
    if (prot & PROT_EXEC) wanted |= VM_EXEC;
    uint64_t at = start;
    int err = 0;
    bool flush = false;
    while (vma && vma->vm_start < end) {
        if (vma->vm_start > at) { // a hole in the range
            err = -ENOMEM;
            break;
        }
        vm_flags_t newflags = wanted | (vma->vm_flags & ~VM_ACCESS_FLAGS);
        // Each new access needs its VM_MAY bit (VM_MAYREAD is VM_READ << 4, and so on).
        if ((newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS) {
            err = -EACCES;
            break;
        }
        const uint64_t tend = std::min(end, vma->vm_end);
        const vm_flags_t oldflags = vma->vm_flags;
        if (newflags != oldflags) {
            // mprotect_fixup(): memory that becomes private writable is charged (VM_ACCOUNT).
            if ((newflags & VM_WRITE) &&
                !(oldflags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE)))
                newflags |= VM_ACCOUNT;
            const uint64_t pages = (tend - at) >> PAGE_SHIFT;
            vm_area_struct* v = vma_modify_flags(mm, vma, at, tend, newflags, err);
            if (!v) break;
            v->vm_flags = newflags;
            v->vm_page_prot = fmt_.supported(vm_get_page_prot(newflags));
            if (change_protection(mm, v, at, tend)) flush = true;
            vm_stat_account(mm, oldflags, -int64_t(pages));
            vm_stat_account(mm, newflags, int64_t(pages));
            vma = v;
        }
        at = tend;
        if (at >= end) break;
        vma = find_vma(mm, at);
    }
    if (flush) flush_tlb_mm_range(mm, start, end);
    if (!err && at < end) err = -ENOMEM;
    return err;
}

} // namespace mmemu
