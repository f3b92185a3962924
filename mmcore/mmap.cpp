// mmap and munmap of anonymous memory (mm/mmap.c: do_mmap, __get_unmapped_area; mm/vma.c:
// __mmap_region, vma_merge_new_range, __split_vma, do_vmi_align_munmap, unmapped_area_topdown;
// arch/x86/kernel/sys_x86_64.c: arch_get_unmapped_area_topdown), Linux 6.18. The rules are in
// ../shared/reference/linux-process-facts.md sections 1-3.
#include <algorithm>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"
#include "mmcore/gfp.h"

namespace mmemu {

namespace {
// The effective mmap_min_addr: max(vm.mmap_min_addr 4096, CONFIG_LSM_MMAP_MIN_ADDR 65536).
constexpr uint64_t MMAP_MIN_ADDR = 65536;
constexpr uint64_t STACK_GUARD_GAP = 256 * PAGE_SIZE; // stack_guard_gap

uint64_t vm_start_gap(const vm_area_struct* v) {
    if (!(v->vm_flags & VM_GROWSDOWN)) return v->vm_start;
    return v->vm_start > STACK_GUARD_GAP ? v->vm_start - STACK_GUARD_GAP : 0;
}

vm_area_struct* as_vma(uint64_t entry) {
    return reinterpret_cast<vm_area_struct*>(entry);
}

// is_mergeable_anon_vma(): a NULL anon_vma merges with anything except one whose VMA inherited
// anon_vmas through fork (a chain list that is not singular).
bool mergeable_anon(const anon_vma* a, const vm_area_struct* b) {
    if (!a || !b->anon) return !b->anon || !b->avc_list || !b->avc_list->same_vma_next;
    return a == b->anon;
}
} // namespace

vm_area_struct* AddressSpaces::find_vma(const mm_struct* mm, uint64_t addr) const {
    const auto r = mm->mm_mt.find(addr, UINT64_MAX);
    return r ? as_vma(r->entry) : nullptr;
}

vm_area_struct* AddressSpaces::vma_prev(const mm_struct* mm, uint64_t addr) const {
    if (!addr) return nullptr;
    const auto r = mm->mm_mt.find_rev(addr - 1, 0);
    return r ? as_vma(r->entry) : nullptr;
}

std::vector<const vm_area_struct*> AddressSpaces::vmas(const mm_struct* mm) const {
    std::vector<const vm_area_struct*> v;
    mm->mm_mt.for_each([&](const MapleRange& r) { v.push_back(as_vma(r.entry)); });
    return v;
}

// vm_area_alloc() / vm_area_dup() / vm_area_free(): objects of the vm_area_struct cache.
vm_area_struct* AddressSpaces::vm_area_alloc(mm_struct* mm) {
    const SlabObj obj =
        slab_.kmem_cache_alloc(vm_area_cachep_, GFP_KERNEL | __GFP_ACCOUNT, mm_percall::cpu);
    if (obj.null()) return nullptr;
    auto* v = new vm_area_struct;
    v->obj = obj;
    v->vm_mm = mm;
    return v;
}

vm_area_struct* AddressSpaces::vm_area_dup(vm_area_struct* vma) {
    vm_area_struct* v = vm_area_alloc(vma->vm_mm);
    if (!v) return nullptr;
    const SlabObj obj = v->obj;
    *v = *vma;
    v->obj = obj;
    v->anon = nullptr;
    v->avc_list = nullptr;
    if (v->vm_file) get_file(v->vm_file); // the copy holds the file too
    return v;
}

// The VMA goes, with its reference to its file (remove_vma() -> fput()).
void AddressSpaces::vm_area_free(vm_area_struct* vma) {
    if (vma->vm_file) fput(vma->vm_file, mm_percall::cpu);
    slab_.kmem_cache_free(vm_area_cachep_, vma->obj, mm_percall::cpu);
    free_host_vma(vma);
}

void AddressSpaces::free_host_vma(vm_area_struct* vma) {
    for (anon_vma_chain* c = vma->avc_list; c;) {
        anon_vma_chain* n = c->same_vma_next;
        delete c;
        c = n;
    }
    delete vma;
}

bool AddressSpaces::store_vma(mm_struct* mm, vm_area_struct* vma) {
    return mm->mm_mt.store(vma->vm_start, vma->vm_end - 1, reinterpret_cast<uint64_t>(vma));
}

// vm_stat_account(): total_vm, and exec_vm, stack_vm or data_vm by the kind of mapping
// (is_exec_mapping, is_stack_mapping, is_data_mapping).
void AddressSpaces::vm_stat_account(mm_struct* mm, vm_flags_t flags, int64_t npages) {
    mm->total_vm += npages;
    if ((flags & (VM_EXEC | VM_WRITE | VM_GROWSDOWN)) == VM_EXEC)
        mm->exec_vm += npages;
    else if ((flags & VM_GROWSDOWN) == VM_GROWSDOWN)
        mm->stack_vm += npages;
    else if ((flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) == VM_WRITE)
        mm->data_vm += npages;
}

// unmapped_area_topdown(): the highest gap of `length` below `high` and at or above `low`,
// retried below a VMA whose stack guard gap the result would reach into.
std::optional<uint64_t> AddressSpaces::unmapped_area_topdown(mm_struct* mm, uint64_t length,
                                                             uint64_t low, uint64_t high,
                                                             uint64_t align_mask) const {
    const uint64_t search = length + align_mask;
    if (search < length) return std::nullopt;
    for (;;) {
        if (high <= low) return std::nullopt;
        const auto start = mm->mm_mt.empty_area_rev(low, high - 1, search);
        if (!start) return std::nullopt;
        const uint64_t gap_end = *start + search; // vma_iter_end()
        uint64_t gap = gap_end - length;
        gap -= gap & align_mask;
        // A VMA that grows down keeps stack_guard_gap free below it (vm_start_gap()). The
        // kernel's other check, against the previous VMA's vm_end_gap(), cannot fire on x86
        // (no VM_GROWSUP): the gap found is free.
        const vm_area_struct* next = find_vma(mm, gap_end);
        if (next && (next->vm_flags & VM_GROWSDOWN) && vm_start_gap(next) < gap_end) {
            high = vm_start_gap(next);
            continue;
        }
        return gap;
    }
}

// __get_unmapped_area() -> arch_get_unmapped_area_topdown() for a 64-bit task: MAP_FIXED as
// given; a usable hint; else the top-down search below mmap_base (with THP alignment for
// anonymous lengths that are multiples of 2 MiB, as CONFIG_TRANSPARENT_HUGEPAGE kernels do),
// falling back to bottom-up.
uint64_t AddressSpaces::get_unmapped_area(mm_struct* mm, uint64_t addr, uint64_t len,
                                          unsigned flags, int& err, uint64_t pgoff) {
    err = 0;
    const uint64_t ts = mm->task_size;
    if (len > ts) {
        err = -ENOMEM;
        return 0;
    }
    uint64_t result = 0;
    bool found = false;
    if (flags & MAP_FIXED) {
        result = addr;
        found = true;
    } else if (addr) {
        addr &= PAGE_MASK;
        // mmap_address_hint_valid() (the hint may not straddle DEFAULT_MAP_WINDOW, which only
        // 5-level paging puts below TASK_SIZE_MAX), then the hint must end at or below the
        // next VMA's start gap (the previous VMA is not checked).
        if (ts - len >= addr && (addr > map_window_) == (addr + len > map_window_)) {
            const vm_area_struct* next = find_vma(mm, addr);
            if (!next || addr + len <= vm_start_gap(next)) {
                result = addr;
                found = true;
            }
        }
    }
    // The top-down search's upper end: mmap_base, raised by TASK_SIZE_MAX - DEFAULT_MAP_WINDOW
    // for a hint above the default window (5-level paging: arch_get_unmapped_area_topdown()).
    const uint64_t high = addr > map_window_ ? mm->mmap_base + (ts - map_window_) : mm->mmap_base;
    // __thp_get_unmapped_area(): the address is made congruent to the file offset (pgoff; 0 for a
    // new anonymous mapping, the VMA's for mremap) modulo 2 MiB when [off, off + len) holds a
    // whole aligned 2 MiB: search len + 2 MiB, then move up by off_sub (off_sub == 0 on a
    // top-down mm means the slot one 2 MiB above). A 32-bit kernel skips it ("if
    // (!IS_ENABLED(CONFIG_64BIT) ...) return 0", Linux 6.11 and later).
    const uint64_t off = pgoff << PAGE_SHIFT;
    const uint64_t off_align = (off + PMD_SIZE - 1) & ~(PMD_SIZE - 1);
    const bool thp_fits = off + len > off_align && off + len - off_align >= PMD_SIZE;
    if (!found && !addr && fmt_.levels >= 4 && (len & (PMD_SIZE - 1)) == 0 && thp_fits) {
        const uint64_t padded = len + PMD_SIZE;
        if (padded > len) {
            if (auto r = unmapped_area_topdown(mm, padded, PAGE_SIZE, mm->mmap_base, 0)) {
                const uint64_t off_sub = (off - *r) & (PMD_SIZE - 1);
                result = off_sub ? *r + off_sub : *r + PMD_SIZE;
                found = true;
            }
        }
    }
    if (!found) {
        if (auto r = unmapped_area_topdown(mm, len, PAGE_SIZE, high, 0)) {
            result = *r;
            found = true;
        } else {
            // Bottom-up from TASK_UNMAPPED_BASE (the legacy base) when top-down fails.
            if (auto b = mm->mm_mt.empty_area(mm->mmap_legacy_base, ts - 1, len)) {
                result = *b;
                found = true;
            }
        }
    }
    if (!found) {
        err = -ENOMEM;
        return 0;
    }
    if (result > ts - len) {
        err = -ENOMEM;
        return 0;
    }
    if (result & ~PAGE_MASK) {
        err = -EINVAL;
        return 0;
    }
    if (result < MMAP_MIN_ADDR) { // security_mmap_addr(): below mmap_min_addr needs CAP_SYS_RAWIO
        err = -EPERM;
        return 0;
    }
    return result;
}

// expand_downwards() (mm/mmap.c) for a fault at addr below a VM_GROWSDOWN VMA: the VMA's start
// moves down to addr's page if the page is not below mmap_min_addr (EPERM), the VMA below
// (unless it grows down too or is PROT_NONE) stays stack_guard_gap away (ENOMEM), an anon_vma
// can be had, and acct_stack_growth() allows it: the new size within RLIMIT_STACK (8 MiB), a
// locked stack within RLIMIT_MEMLOCK. The growth counts in stack_vm, total_vm (and locked_vm).
// 0 or -errno.
int AddressSpaces::expand_downwards(mm_struct* mm, vm_area_struct* vma, uint64_t addr,
                                    unsigned cpu) {
    if (!(vma->vm_flags & VM_GROWSDOWN)) return -EFAULT;
    addr &= PAGE_MASK;
    if (addr < MMAP_MIN_ADDR) return -EPERM;
    if (vm_area_struct* prev = vma_prev(mm, vma->vm_start)) {
        const bool accessible = prev->vm_flags & VM_ACCESS_FLAGS;
        if (!(prev->vm_flags & VM_GROWSDOWN) && accessible &&
            (addr < prev->vm_end || addr - prev->vm_end < STACK_GUARD_GAP))
            return -ENOMEM;
    }
    if (!anon_vma_prepare(vma, cpu)) return -ENOMEM;
    if (addr >= vma->vm_start) return 0;
    const uint64_t size = vma->vm_end - addr, grow = (vma->vm_start - addr) >> PAGE_SHIFT;
    if (grow > vma->vm_pgoff) return 0; // the kernel's "grow <= vm_pgoff" (pgoff cannot wrap)
    if (size > RLIMIT_STACK_BYTES) return -ENOMEM;
    if ((vma->vm_flags & VM_LOCKED) && mm->locked_vm + grow > RLIMIT_MEMLOCK_PAGES) return -ENOMEM;
    if (!mm->mm_mt.store(addr, vma->vm_end - 1, reinterpret_cast<uint64_t>(vma))) return -ENOMEM;
    if (vma->vm_flags & VM_LOCKED) mm->locked_vm += grow;
    vm_stat_account(mm, vma->vm_flags, int64_t(grow));
    vma->vm_start = addr;
    vma->vm_pgoff -= grow;
    return 0;
}

// do_mmap() + __mmap_region() for MAP_ANONYMOUS, private or shared (shmem_zero_setup()).
int64_t AddressSpaces::vm_mmap(mm_struct* mm, uint64_t addr, uint64_t len, unsigned prot,
                               unsigned flags, unsigned cpu) {
    const WriteGuard locked(mm->mmap_lock); // vm_mmap_pgoff()
    return do_mmap(mm, addr, len, prot, flags, cpu);
}

int AddressSpaces::vm_munmap(mm_struct* mm, uint64_t start, uint64_t len, unsigned cpu) {
    const WriteGuard locked(mm->mmap_lock); // __vm_munmap()
    return do_munmap(mm, start, len, cpu);
}

int64_t AddressSpaces::do_mmap(mm_struct* mm, uint64_t addr, uint64_t len, unsigned prot,
                               unsigned flags, unsigned cpu) {
    mm_percall::cpu = cpu;
    mmap_assert_write_locked(mm);
    if (!(flags & MAP_ANONYMOUS))
        throw KernelBug("do_mmap: file mappings are not implemented (there is no page cache)");
    if (!len) return -EINVAL;
    const unsigned type = flags & 0x0f;
    if (type != MAP_PRIVATE && type != MAP_SHARED) return -EINVAL;
    const bool shared = type == MAP_SHARED;
    if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
    if (!(flags & MAP_FIXED)) { // round_hint_to_min()
        addr &= PAGE_MASK;
        if (addr && addr < MMAP_MIN_ADDR) addr = MMAP_MIN_ADDR;
    }
    const uint64_t plen = (len + PAGE_SIZE - 1) & PAGE_MASK;
    if (!plen) return -ENOMEM;
    if (mm->map_count > max_map_count()) return -ENOMEM;
    int err = 0;
    addr = get_unmapped_area(mm, addr, plen, flags, err);
    if (err) return err;
    const uint64_t end = addr + plen;
    if ((flags & MAP_FIXED_NOREPLACE) && mm->mm_mt.find(addr, end - 1)) return -EEXIST;

    vm_flags_t vm_flags = mm->def_flags | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
    if (prot & PROT_READ) vm_flags |= VM_READ;
    if (prot & PROT_WRITE) vm_flags |= VM_WRITE;
    if (prot & PROT_EXEC) vm_flags |= VM_EXEC;
    if (flags & MAP_GROWSDOWN) vm_flags |= VM_GROWSDOWN;
    if (shared) vm_flags |= VM_SHARED | VM_MAYSHARE;
    if (flags & MAP_LOCKED) vm_flags |= VM_LOCKED;
    // mlock_future_ok(): RLIMIT_MEMLOCK (8 MiB) for a task without CAP_IPC_LOCK, for MAP_LOCKED
    // or def_flags' VM_LOCKED (mlockall(MCL_FUTURE)).
    if ((vm_flags & VM_LOCKED) && mm->locked_vm + (plen >> PAGE_SHIFT) > RLIMIT_MEMLOCK_PAGES)
        return -EAGAIN;
    if (flags & MAP_NORESERVE) vm_flags |= VM_NORESERVE;
    vm_flags = ksm_vma_flags(mm, vm_flags); // prctl(PR_SET_MEMORY_MERGE): mergeable from birth
    // A private anonymous VMA's pgoff is its address in pages; a shared one starts at its file's
    // first page (mmap_region() with pgoff 0).
    const uint64_t pgoff = shared ? 0 : addr >> PAGE_SHIFT;
    const uint64_t pglen = plen >> PAGE_SHIFT;

    // MAP_FIXED over existing mappings replaces them (vms_gather_munmap_vmas, then the new VMA
    // goes in their place).
    if (mm->mm_mt.find(addr, end - 1)) {
        if (const int e = do_munmap(mm, addr, plen, cpu); e) return e;
    }
    // accountable_mapping(): private writable memory is charged (VM_ACCOUNT) if the overcommit
    // heuristic allows it: mode 0 refuses only a request larger than RAM + swap.
    if ((vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE) {
        if (pglen > pa_.totalram_pages()) return -ENOMEM;
        vm_flags |= VM_ACCOUNT;
    }

    // vma_merge_new_range(): extend the previous VMA, the next one, or both into one.
    vm_area_struct* prev = vma_prev(mm, addr);
    if (prev && prev->vm_end != addr) prev = nullptr;
    vm_area_struct* next = find_vma(mm, end);
    if (next && next->vm_start != end) next = nullptr;
    // A new shared anonymous mapping never merges: the merge is tried before shmem_zero_setup()
    // gives it a file, with no file, and every other shared VMA has one.
    auto same = [&](const vm_area_struct* v) {
        return v && !shared && v->vm_flags == vm_flags && !(vm_flags & VM_SPECIAL) && !v->vm_file;
    };
    const bool left =
        same(prev) && mergeable_anon(nullptr, prev) && prev->vm_pgoff + prev->pages() == pgoff;
    bool right = same(next) && mergeable_anon(nullptr, next) && next->vm_pgoff == pgoff + pglen;
    if (left && right && prev->anon && next->anon && prev->anon != next->anon) right = false;
    vm_area_struct* vma = nullptr;
    if (left || right) {
        // vma_expand() / the next VMA's start moved down: one store over the merged range.
        vm_area_struct* target = left ? prev : next;
        const uint64_t new_start = left ? prev->vm_start : addr;
        const uint64_t new_end = right ? next->vm_end : end;
        if (!mm->mm_mt.store(new_start, new_end - 1, reinterpret_cast<uint64_t>(target)))
            return -ENOMEM;
        if (left && right) {
            // The next VMA goes; its anon_vma, if it had one and prev did not, carries over
            // (dup_anon_vma).
            if (next->anon && !prev->anon) {
                std::swap(prev->anon, next->anon);
                std::swap(prev->avc_list, next->avc_list);
                for (anon_vma_chain* c = prev->avc_list; c; c = c->same_vma_next) c->vma = prev;
            }
            unlink_anon_vmas(next, cpu);
            vm_area_free(next);
            mm->map_count--;
        }
        if (!left) next->vm_pgoff = pgoff;
        target->vm_start = new_start;
        target->vm_end = new_end;
        vma = target;
    } else {
        vma = vm_area_alloc(mm);
        if (!vma) return -ENOMEM;
        vma->vm_start = addr;
        vma->vm_end = end;
        vma->vm_flags = vm_flags;
        vma->vm_pgoff = pgoff;
        vma->vm_page_prot = fmt_.supported(vm_get_page_prot(vm_flags));
        if (shared) {
            if (const int e = shmem_zero_setup(vma, cpu); e) {
                vm_area_free(vma);
                return e;
            }
        }
        if (!store_vma(mm, vma)) {
            vm_area_free(vma);
            return -ENOMEM;
        }
        mm->map_count++;
    }
    vm_stat_account(mm, vm_flags, int64_t(pglen));
    if (vm_flags & VM_LOCKED) mm->locked_vm += pglen;

    // mm_populate(): MAP_POPULATE or a locked mapping (not VM_LOCKONFAULT) faults every page in.
    if ((vm_flags & (VM_LOCKED | VM_LOCKONFAULT)) == VM_LOCKED || (flags & MAP_POPULATE))
        mm_populate(mm, addr, end, true, cpu);
    return int64_t(addr);
}

// __split_vma(): `vma` becomes two at addr; the new VMA (from the vm_area_struct cache, with
// clones of the anon_vma chains) takes the lower part if new_below, else the upper part.
int AddressSpaces::split_vma(mm_struct* mm, vm_area_struct* vma, uint64_t addr, bool new_below) {
    vm_area_struct* nv = vm_area_dup(vma);
    if (!nv) return -ENOMEM;
    if (new_below) {
        nv->vm_end = addr;
    } else {
        nv->vm_start = addr;
        nv->vm_pgoff += (addr - vma->vm_start) >> PAGE_SHIFT;
    }
    // anon_vma_clone(): the new VMA links to the same anon_vmas and shares the anon_vma.
    nv->anon = vma->anon;
    if (!anon_vma_clone(nv, vma, mm_percall::cpu)) {
        vm_area_free(nv);
        return -ENOMEM;
    }
    if (!store_vma(mm, nv)) {
        unlink_anon_vmas(nv, mm_percall::cpu);
        vm_area_free(nv);
        return -ENOMEM;
    }
    if (new_below) {
        vma->vm_pgoff += (addr - vma->vm_start) >> PAGE_SHIFT;
        vma->vm_start = addr;
    } else {
        vma->vm_end = addr;
    }
    mm->map_count++;
    return 0;
}

// do_vmi_munmap() checks, then do_vmi_align_munmap().
int AddressSpaces::do_munmap(mm_struct* mm, uint64_t start, uint64_t len, unsigned cpu) {
    mm_percall::cpu = cpu;
    mmap_assert_write_locked(mm);
    const uint64_t ts = mm->task_size;
    if ((start & ~PAGE_MASK) || start > ts || len > ts - start) return -EINVAL;
    const uint64_t end = start + ((len + PAGE_SIZE - 1) & PAGE_MASK);
    if (end == start) return -EINVAL;
    const auto first = mm->mm_mt.find(start, end - 1);
    if (!first) return 0;
    return do_vmi_align_munmap(mm, as_vma(first->entry), start, end);
}

int AddressSpaces::do_vmi_align_munmap(mm_struct* mm, vm_area_struct* vma, uint64_t start,
                                       uint64_t end) {
    const unsigned cpu = mm_percall::cpu;
    // vms_gather_munmap_vmas(): split the first and last VMA where the range cuts them.
    if (start > vma->vm_start) {
        if (end < vma->vm_end && mm->map_count >= max_map_count()) return -ENOMEM;
        if (const int e = split_vma(mm, vma, start, true); e) return e;
    }
    std::vector<vm_area_struct*> gone;
    for (vm_area_struct* v = vma; v && v->vm_start < end;) {
        if (v->vm_end > end) {
            if (const int e = split_vma(mm, v, end, false); e) return e;
        }
        gone.push_back(v);
        v = v->vm_end < mm->task_size ? find_vma(mm, v->vm_end) : nullptr;
    }
    vm_area_struct* prev = vma_prev(mm, start);
    vm_area_struct* next = end < mm->task_size ? find_vma(mm, end) : nullptr;
    // vma_iter_clear_gfp(): the range leaves the tree.
    if (!mm->mm_mt.erase(start, end - 1)) return -ENOMEM;
    // vms_complete_munmap_vmas(): the page tables and pages go, then the VMAs, then the counts.
    lru_add_drain(cpu); // vms_clear_ptes()
    mm->update_hiwater_rss();
    // unmap_region(): the PTEs cleared and the tables freed under one mmu_gather, then one
    // flush (tlb->freed_tables when tables went), then the pages freed.
    std::vector<page*> batch;
    const bool cleared = zap_range(mm, start, end, cpu, &batch);
    const uint64_t freed = tables_freed_;
    free_pgtables(mm, gone, prev ? prev->vm_end : 0, next ? next->vm_start : 0, cpu);
    if (cleared || tables_freed_ != freed)
        flush_tlb_mm_range(mm, start, end, tables_freed_ != freed);
    for (page* p : batch) put_anon_page(p, cpu);
    mm->update_hiwater_vm();
    for (vm_area_struct* v : gone) {
        vm_stat_account(mm, v->vm_flags, -int64_t(v->pages()));
        if (v->vm_flags & VM_LOCKED) mm->locked_vm -= v->pages();
        mm->map_count--;
        vm_area_free(v);
    }
    return 0;
}

// SYSCALL_DEFINE1(brk) (mm/mmap.c) with do_brk_flags() (mm/vma.c): shrinking unmaps the pages
// above the new break; growing extends the heap VMA (the one at or above start_brk, so never the
// bss) or makes it (the first brk gives a VMA of its own), refused if the heap would come within
// a page and the stack guard gap of the next VMA. The heap is VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT.
uint64_t AddressSpaces::sys_brk(mm_struct* mm, uint64_t brk, unsigned cpu) {
    mm_percall::cpu = cpu;
    const WriteGuard locked(mm->mmap_lock);
    const uint64_t origbrk = mm->brk;
    if (brk < mm->start_brk) return origbrk;
    const uint64_t newbrk = (brk + PAGE_SIZE - 1) & PAGE_MASK;
    const uint64_t oldbrk = (mm->brk + PAGE_SIZE - 1) & PAGE_MASK;
    if (newbrk < brk || newbrk > mm->task_size) return origbrk;
    if (oldbrk == newbrk) {
        mm->brk = brk;
        return brk;
    }
    if (brk <= mm->brk) { // always allow shrinking
        const auto v = mm->mm_mt.find(newbrk, oldbrk - 1);
        if (!v) return origbrk;
        mm->brk = brk;
        if (do_vmi_align_munmap(mm, as_vma(v->entry), newbrk, oldbrk)) {
            mm->brk = origbrk;
            return origbrk;
        }
        return brk;
    }
    if (mm->map_count > max_map_count()) return origbrk;
    // check_brk_limits() -> mlock_future_ok() for a heap mlockall(MCL_FUTURE) locks.
    if ((mm->def_flags & VM_LOCKED) &&
        mm->locked_vm + ((newbrk - oldbrk) >> PAGE_SHIFT) > RLIMIT_MEMLOCK_PAGES)
        return origbrk;
    if (const vm_area_struct* next = newbrk < mm->task_size ? find_vma(mm, oldbrk) : nullptr;
        next && newbrk + PAGE_SIZE > vm_start_gap(next))
        return origbrk;
    // do_brk_flags(): expand the heap VMA ending at oldbrk (vma_prev_limit(start_brk)) or make
    // one.
    const vm_flags_t flags = ksm_vma_flags(mm, VM_DATA_FLAGS_NON_EXEC | VM_ACCOUNT | mm->def_flags);
    const uint64_t pages = (newbrk - oldbrk) >> PAGE_SHIFT;
    vm_area_struct* heap = vma_prev(mm, oldbrk);
    if (heap &&
        (heap->vm_end != oldbrk || heap->vm_start < mm->start_brk || heap->vm_flags != flags))
        heap = nullptr;
    if (heap) {
        if (!mm->mm_mt.store(heap->vm_start, newbrk - 1, reinterpret_cast<uint64_t>(heap)))
            return origbrk;
        heap->vm_end = newbrk;
    } else {
        vm_area_struct* v = vm_area_alloc(mm);
        if (!v) return origbrk;
        v->vm_start = oldbrk;
        v->vm_end = newbrk;
        v->vm_pgoff = oldbrk >> PAGE_SHIFT;
        v->vm_flags = flags;
        v->vm_page_prot = fmt_.supported(vm_get_page_prot(flags));
        if (!store_vma(mm, v)) {
            vm_area_free(v);
            return origbrk;
        }
        mm->map_count++;
    }
    mm->total_vm += pages;
    mm->data_vm += pages;
    mm->brk = brk;
    // mlockall(MCL_FUTURE): a locked heap is faulted in (and VM_LOCKED counted).
    if (flags & VM_LOCKED) {
        mm->locked_vm += pages;
        mm_populate(mm, oldbrk, newbrk, true, cpu);
    }
    return brk;
}

} // namespace mmemu
