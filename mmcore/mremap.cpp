// mremap(2) (mm/mremap.c, Linux 6.18, built around struct vma_remap_struct) for anonymous
// private memory: check_mremap_params(), check_prep_vma(), shrinking in place, growing in place
// (vma_expandable(), vma_merge_extend()), moving (copy_vma() then move_page_tables(), which
// moves whole PMD or PUD entries where both sides are aligned and PTEs one by one otherwise, then
// the source unmapped), MREMAP_FIXED, MREMAP_DONTUNMAP, and remap_move() for a fixed move of
// several VMAs. The rules are in ../shared/reference/linux-process-facts.md section 4.
#include <algorithm>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"

namespace mmemu {

static_assert(MREMAP_MAYMOVE == 1 && MREMAP_FIXED == 2 && MREMAP_DONTUNMAP == 4);

// vma_lookup(): the VMA that contains addr.
vm_area_struct* AddressSpaces::vma_lookup(const mm_struct* mm, uint64_t addr) const {
    vm_area_struct* v = find_vma(mm, addr);
    return v && v->vm_start <= addr ? v : nullptr;
}

// copy_vma(): a VMA for [addr, addr + len) with `vma`'s flags and anon_vma at pgoff, merged with
// the VMAs around it where vma_merge_new_range() would, else a new one (vm_area_dup +
// anon_vma_clone). An anonymous VMA that never faulted takes the pgoff of its new place. Returns
// the VMA now covering the range, or nullptr (-ENOMEM).
vm_area_struct* AddressSpaces::copy_vma(mm_struct* mm, vm_area_struct* vma, uint64_t addr,
                                        uint64_t len, uint64_t pgoff) {
    // An anonymous VMA (no vm_ops) that never faulted takes the pgoff of its new place; a
    // shmem VMA keeps its file offset.
    if (!vma->anon && !vma->vm_file) pgoff = addr >> PAGE_SHIFT;
    const uint64_t end = addr + len;
    vm_area_struct* prev = vma_prev(mm, addr);
    if (prev && prev->vm_end != addr) prev = nullptr;
    vm_area_struct* next = end < mm->task_size ? find_vma(mm, end) : nullptr;
    if (next && next->vm_start != end) next = nullptr;
    // is_mergeable_anon_vma(): with the copied VMA's anon_vma on the one side and the
    // neighbour's on the other, equal or one of them NULL (a neighbour with anon_vmas from fork
    // only if its own is the same).
    auto anon_ok = [&](const vm_area_struct* n) {
        if (!vma->anon || !n->anon) return !n->anon || !n->avc_list || !n->avc_list->same_vma_next;
        return vma->anon == n->anon;
    };
    auto same = [&](const vm_area_struct* n) {
        return n && n->vm_flags == vma->vm_flags && !(n->vm_flags & VM_SPECIAL) &&
               n->vm_file == vma->vm_file && anon_ok(n);
    };
    const bool left = same(prev) && prev->vm_pgoff + prev->pages() == pgoff;
    bool right = same(next) && next->vm_pgoff == pgoff + (len >> PAGE_SHIFT);
    if (left && right && prev->anon && next->anon && prev->anon != next->anon) right = false;
    if (left || right) {
        vm_area_struct* target = left ? prev : next;
        const uint64_t s = left ? prev->vm_start : addr, e = right ? next->vm_end : end;
        if (!mm->mm_mt.store(s, e - 1, reinterpret_cast<uint64_t>(target))) return nullptr;
        if (left && right) {
            take_anon_vma(prev, next);
            remove_vma(mm, next);
        }
        // The pages moving in point at the copied VMA's anon_vma (dup_anon_vma()).
        take_anon_vma(target, vma);
        if (!left) next->vm_pgoff = pgoff;
        target->vm_start = s;
        target->vm_end = e;
        return target;
    }
    vm_area_struct* nv = vm_area_dup(vma);
    if (!nv) return nullptr;
    nv->vm_start = addr;
    nv->vm_end = end;
    nv->vm_pgoff = pgoff;
    nv->anon = vma->anon;
    if (!anon_vma_clone(nv, vma, mm_percall::cpu)) {
        vm_area_free(nv);
        return nullptr;
    }
    if (!store_vma(mm, nv)) {
        unlink_anon_vmas(nv, mm_percall::cpu);
        vm_area_free(nv);
        return nullptr;
    }
    mm->map_count++;
    return nv;
}

// move_page_tables(): [old, old + len) moves to [new_addr, new_addr + len). Where the extent is
// a whole PUD or PMD on both sides and the new entry is empty, the table below moves in one
// entry (move_normal_pud / move_normal_pmd) and that range is flushed; elsewhere PTEs move one
// by one (move_ptes) into PTE tables allocated at the new place, and the extent is flushed if a
// present PTE moved. The pages stay where they are: no refcount, mapcount or RSS changes. Returns
// the bytes moved (less than len when a page table could not be allocated).
uint64_t AddressSpaces::move_page_tables(mm_struct* mm, uint64_t old_addr, uint64_t new_addr,
                                         uint64_t len) {
    const uint64_t start = old_addr, old_end = old_addr + len;
    // get_extent(): up to the next `size` boundary on either side, at most what is left.
    auto extent = [&](uint64_t size) {
        return std::min(
            {old_end - old_addr, size - (old_addr & (size - 1)), size - (new_addr & (size - 1))});
    };
    // get_old_pud() / get_old_pmd(): the entry of `level` if a table hangs below it.
    auto old_entry = [&](unsigned level) -> std::optional<PhysAddr> {
        const auto e = entry_offset(mm, old_addr, level);
        if (!e || !(get_entry(*e) & _PAGE_PRESENT)) return std::nullopt;
        return e;
    };
    // move_normal_pud() / move_normal_pmd(): the table below moves if the new entry is empty
    // (move_normal_pud() warns and declines otherwise). On PAE the PUD is the PDPTE, and its
    // pud_populate() is a flush_tlb_mm(), as any PDPTE change needs a CR3 reload.
    auto move_entry = [&](PhysAddr from, PhysAddr to, uint64_t size, bool pdpte) {
        // pmd_lock() of both (mm->page_table_lock for both: x86 has no split PMD locks for
        // them here, so once).
        const LockGuard<spinlock_t> locked(mm->page_table_lock);
        if (get_entry(to) & _PAGE_PRESENT) return false;
        set_entry(to, get_entry(from));
        set_entry(from, 0);
        if (pdpte) mm_percall::need_flush_all = true;
        flush_tlb_mm_range(mm, old_addr, old_addr + size);
        return true;
    };
    // The levels: HAVE_MOVE_PUD and HAVE_MOVE_PMD are selected on every x86 build; the PUD is
    // folded into the PGD on PAE and gone on 2-level (move_normal_pud() is compiled out with
    // PGTABLE_LEVELS 2), where the PMD level is the PGD.
    const bool pud_moves = fmt_.levels >= 3;
    const unsigned pud_level = fmt_.levels >= 4 ? fmt_.levels - 3 : 0;
    const unsigned pmd_level = fmt_.pmd_level(), pte_level = fmt_.pte_level();
    const uint64_t pud_size = fmt_.span(pud_level), pmd_size = fmt_.pmd_size();
    for (uint64_t ext = 0; old_addr < old_end; old_addr += ext, new_addr += ext) {
        if (pud_moves) {
            ext = extent(pud_size);
            const auto old_pud = old_entry(pud_level);
            if (!old_pud) continue;
            const auto new_pud = entry_alloc_walk(mm, new_addr, pud_level); // alloc_new_pud()
            if (!new_pud) break;
            if (ext == pud_size &&
                move_entry(*old_pud, *new_pud, pud_size, fmt_.kind == PgtableFormat::pae))
                continue;
        }
        ext = extent(pmd_size);
        const auto old_pmd = old_entry(pmd_level);
        if (!old_pmd) continue;
        const auto new_pmd = entry_alloc_walk(mm, new_addr, pmd_level); // alloc_new_pmd()
        if (!new_pmd) break;
        if (ext == pmd_size && move_entry(*old_pmd, *new_pmd, pmd_size, false)) continue;
        // pte_alloc(), then move_ptes(): each PTE cleared at the old place and set at the new.
        const auto new_pte = entry_alloc_walk(mm, new_addr, pte_level);
        if (!new_pte) break;
        const PhysAddr old_pte = *entry_offset(mm, old_addr, pte_level);
        // The old table's lock, then the new one's, nested (unless it is the same table).
        PtlHolder old_ptl(pt_page(old_pte));
        PtlHolder new_ptl;
        if (&pt_page(*new_pte) != &pt_page(old_pte))
            new_ptl.lock(pt_page(*new_pte), SINGLE_DEPTH_NESTING);
        bool flush = false;
        const unsigned eb = fmt_.entry_bytes;
        for (uint64_t i = 0; i < (ext >> PAGE_SHIFT); i++) {
            const PhysAddr oe{old_pte.value + eb * i}, ne{new_pte->value + eb * i};
            const pteval_t v = get_entry(oe);
            if (pte_none(v)) continue;
            set_entry(oe, 0);
            set_entry(ne, v);
            flush |= pte_present(v);
        }
        if (flush) flush_tlb_mm_range(mm, old_addr, old_addr + ext);
    }
    return old_addr - start;
}

// move_vma(): copy the VMA's part [addr, addr + old_len) to new_addr (copy_vma_and_data), count
// the new range (vrm_stat_account), then unmap the source (unmap_source_vma) or, with
// MREMAP_DONTUNMAP, leave it empty and unlocked (dontunmap_complete). hiwater_vm is kept as it
// was (total_vm is briefly too high).
int64_t AddressSpaces::move_vma(mm_struct* mm, vm_area_struct* vma, uint64_t addr, uint64_t old_len,
                                uint64_t new_addr, uint64_t new_len, unsigned flags) {
    // prep_move_vma(): room for the copy and a split of the source.
    if (mm->map_count + 2 > max_map_count()) return -ENOMEM;
    // KSM pages of the range are broken first (their rmap_items know the old address), the
    // VMA's flags left as they are so that KSM merges there again later.
    if (ksm_ && (vma->vm_flags & VM_MERGEABLE)) {
        vm_flags_t dummy = vma->vm_flags;
        if (const int e = ksm_->ksm_madvise(mm, vma, addr, addr + old_len, MADV_UNMERGEABLE, dummy,
                                            mm_percall::cpu);
            e)
            return e;
    }
    // vrm_calc_charge(): an accounted VMA is charged the growth (the whole new length with
    // MREMAP_DONTUNMAP); overcommit mode 0 refuses more than RAM.
    if (vma->vm_flags & VM_ACCOUNT) {
        const uint64_t charged =
            (flags & MREMAP_DONTUNMAP) ? new_len : new_len - std::min(new_len, old_len);
        if ((charged >> PAGE_SHIFT) > pa_.totalram_pages()) return -ENOMEM;
    }
    const vm_flags_t vm_flags = vma->vm_flags;
    const uint64_t vma_start = vma->vm_start, vma_end = vma->vm_end;
    const uint64_t new_pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
    vm_area_struct* nv = copy_vma(mm, vma, new_addr, new_len, new_pgoff);
    if (!nv) return -ENOMEM;
    const uint64_t moved = move_page_tables(mm, addr, new_addr, old_len);
    int err = 0;
    uint64_t unmap_addr = addr, unmap_len = old_len;
    if (moved < old_len) {
        // Move back what moved, then unmap the new range instead of the old.
        move_page_tables(mm, new_addr, addr, moved);
        err = -ENOMEM;
        unmap_addr = new_addr;
        unmap_len = new_len;
    }
    const uint64_t hiwater_vm = mm->hiwater_vm;
    vm_stat_account(mm, vm_flags, int64_t(new_len >> PAGE_SHIFT));
    if (vm_flags & VM_LOCKED) mm->locked_vm += new_len >> PAGE_SHIFT;
    if (!err && (flags & MREMAP_DONTUNMAP)) {
        // dontunmap_complete(): the old VMA loses its lock flags (locked_vm untouched); its
        // anon_vma chains go if all of it moved.
        if (vm_area_struct* old = vma_lookup(mm, addr)) {
            old->vm_flags &= ~VM_LOCKED_MASK;
            if (old != nv && addr == vma_start && addr + old_len == vma_end)
                unlink_anon_vmas(old, mm_percall::cpu);
        }
    } else {
        do_munmap(mm, unmap_addr, unmap_len, mm_percall::cpu);
    }
    mm->hiwater_vm = hiwater_vm;
    return err ? err : int64_t(new_addr);
}

// check_prep_vma(): the checks of a resize or move once the VMA is known. `will_map_new`: the
// range grows or moves.
int AddressSpaces::mremap_prep(mm_struct* mm, vm_area_struct* vma, uint64_t addr, uint64_t old_len,
                               uint64_t new_len, unsigned flags) {
    if (!vma) return -EFAULT;
    const bool implies_new = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
    if (new_len <= old_len && !implies_new) return 0;
    if (!old_len && !(vma->vm_flags & (VM_SHARED | VM_MAYSHARE))) return -EINVAL;
    if ((flags & MREMAP_DONTUNMAP) && (vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP))) return -EINVAL;
    const uint64_t len = new_len < old_len ? new_len : old_len; // a shrink may cross VMAs
    if (len > vma->vm_end - addr) return -EFAULT;
    if (new_len == len) return 0;
    const uint64_t delta = new_len - len;
    const uint64_t pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
    if (pgoff + (new_len >> PAGE_SHIFT) < pgoff) return -EINVAL;
    if (vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EFAULT;
    // mlock_future_ok()
    if ((vma->vm_flags & VM_LOCKED) && mm->locked_vm + (delta >> PAGE_SHIFT) > RLIMIT_MEMLOCK_PAGES)
        return -EAGAIN;
    // may_expand_vm(): RLIMIT_AS and RLIMIT_DATA are unlimited by default.
    return 0;
}

// One resize or move of a range inside one VMA (the vrm of do_mremap()): mremap_to() for a
// new address (MREMAP_FIXED / MREMAP_DONTUNMAP), else mremap_at(): no change, a shrink in place,
// or expand_vma(): in place when the range ends at the VMA's end and the space after is free,
// else moved (MREMAP_MAYMOVE) to a get_unmapped_area() address.
int64_t AddressSpaces::mremap_one(mm_struct* mm, uint64_t addr, uint64_t old_len, uint64_t new_len,
                                  unsigned flags, uint64_t new_addr) {
    vm_area_struct* vma = vma_lookup(mm, addr);
    if (const int e = mremap_prep(mm, vma, addr, old_len, new_len, flags); e) return e;
    const unsigned cpu = mm_percall::cpu;
    const bool implies_new = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
    if (implies_new) {
        if (flags & MREMAP_FIXED) {
            if (const int e = do_munmap(mm, new_addr, new_len, cpu); e) return e;
            vma = vma_lookup(mm, addr);
            if (!vma) return -EFAULT;
        }
        if (new_len < old_len) {
            if (const int e = do_munmap(mm, addr + new_len, old_len - new_len, cpu); e) return e;
            vma = vma_lookup(mm, addr);
            if (!vma) return -EFAULT;
            old_len = new_len;
        }
        int err = 0;
        const uint64_t pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
        const uint64_t at = get_unmapped_area(mm, new_addr, new_len,
                                              (flags & MREMAP_FIXED) ? MAP_FIXED : 0, err, pgoff);
        if (err) return err;
        return move_vma(mm, vma, addr, old_len, at, new_len, flags);
    }
    if (new_len == old_len) return int64_t(addr);
    if (new_len < old_len) {
        if (const int e = do_munmap(mm, addr + new_len, old_len - new_len, cpu); e) return e;
        return int64_t(addr);
    }
    const uint64_t delta = new_len - old_len;
    // vrm_can_expand_in_place(): [addr, addr + old_len) ends at vm_end and vma_expandable().
    const uint64_t end = vma->vm_end + delta;
    const bool expandable = vma->vm_end - addr == old_len && end > vma->vm_end &&
                            end <= mm->task_size && !mm->mm_mt.find(vma->vm_end, end - 1);
    if (expandable) {
        if ((vma->vm_flags & VM_ACCOUNT) && (delta >> PAGE_SHIFT) > pa_.totalram_pages())
            return -ENOMEM;
        // vma_merge_extend(): the extension merges into vma, and vma with the next VMA if they
        // now touch and could be one.
        const vm_flags_t vm_flags = vma->vm_flags;
        vm_area_struct* next = end < mm->task_size ? find_vma(mm, end) : nullptr;
        const bool with_next =
            next && next->vm_start == end && next->vm_flags == vm_flags &&
            !(vm_flags & VM_SPECIAL) && next->vm_file == vma->vm_file &&
            next->vm_pgoff == vma->vm_pgoff + ((end - vma->vm_start) >> PAGE_SHIFT) &&
            (!vma->anon || !next->anon || vma->anon == next->anon) &&
            (vma->anon || !next->avc_list || !next->avc_list->same_vma_next);
        const uint64_t new_end = with_next ? next->vm_end : end;
        if (!mm->mm_mt.store(vma->vm_start, new_end - 1, reinterpret_cast<uint64_t>(vma)))
            return -ENOMEM;
        if (with_next) {
            take_anon_vma(vma, next);
            remove_vma(mm, next);
        }
        vma->vm_end = new_end;
        vm_stat_account(mm, vm_flags, int64_t(delta >> PAGE_SHIFT));
        if (vm_flags & VM_LOCKED) mm->locked_vm += delta >> PAGE_SHIFT;
        return int64_t(addr);
    }
    if (!(flags & MREMAP_MAYMOVE)) return -ENOMEM;
    int err = 0;
    const uint64_t pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
    const uint64_t at = get_unmapped_area(mm, 0, new_len, 0, err, pgoff);
    if (err) return err;
    return move_vma(mm, vma, addr, old_len, at, new_len, flags);
}

int64_t AddressSpaces::do_mremap(mm_struct* mm, uint64_t addr, uint64_t old_len, uint64_t new_len,
                                 unsigned flags, uint64_t new_addr, unsigned cpu) {
    mm_percall::cpu = cpu;
    const WriteGuard locked(mm->mmap_lock);
    old_len = PAGE_ALIGN(old_len);
    new_len = PAGE_ALIGN(new_len);
    // check_mremap_params()
    if (flags & ~unsigned(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) return -EINVAL;
    if (addr & ~PAGE_MASK) return -EINVAL;
    if (!new_len || new_len > mm->task_size) return -EINVAL;
    const bool implies_new = flags & (MREMAP_FIXED | MREMAP_DONTUNMAP);
    if (implies_new) {
        if (new_addr > mm->task_size - new_len || (new_addr & ~PAGE_MASK)) return -EINVAL;
        if (!(flags & MREMAP_MAYMOVE)) return -EINVAL;
        if ((flags & MREMAP_DONTUNMAP) && old_len != new_len) return -EINVAL;
        if (addr + old_len > new_addr && new_addr + new_len > addr) return -EINVAL; // overlap
    }
    // check_map_count_against_split_early(): room for two splits before the move's two.
    if (mm->map_count + 4 > max_map_count()) return -ENOMEM;
    lru_add_drain(cpu);
    int64_t res = 0;
    bool populate = false;
    if ((flags & MREMAP_FIXED) && old_len == new_len) {
        // remap_move(): every VMA of [addr, addr + old_len) moves, the gaps between them kept;
        // the range must start in a VMA.
        const uint64_t end = addr + old_len;
        if (end < addr) return -EINVAL;
        uint64_t target = new_addr, last_end = 0;
        bool seen = false;
        res = -EFAULT;
        for (vm_area_struct* v = find_vma(mm, addr); v && v->vm_start < end;) {
            if (!seen && addr < v->vm_start) return -EFAULT;
            const uint64_t from = std::max(v->vm_start, addr), to = std::min(end, v->vm_end);
            const uint64_t offset = seen ? v->vm_start - last_end : 0;
            last_end = v->vm_end;
            const int64_t r = mremap_one(mm, from, to - from, to - from, flags, target + offset);
            if (r < 0) return r;
            if (!seen) res = r;
            seen = true;
            target = uint64_t(r) + (to - from);
            v = to < end ? find_vma(mm, to) : nullptr;
        }
        return res;
    }
    if (vm_area_struct* vma = vma_lookup(mm, addr);
        vma && (vma->vm_flags & VM_LOCKED) && new_len > old_len)
        populate = true;
    res = mremap_one(mm, addr, old_len, new_len, flags, new_addr);
    // A locked mapping that grew is faulted in (populate_expand).
    if (res >= 0 && populate)
        mm_populate(mm, uint64_t(res) + old_len, uint64_t(res) + new_len, true, cpu);
    return res;
}

} // namespace mmemu
