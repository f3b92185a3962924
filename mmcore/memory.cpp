// The page-fault path and page-table teardown (Linux 6.18): do_user_addr_fault() and
// access_error() of arch/x86/mm/fault.c, then handle_mm_fault(), do_anonymous_page(),
// do_wp_page() / wp_page_copy() / wp_page_reuse(), zap_pte_range(), free_pgtables() and
// exit_mmap() of mm/memory.c and mm/mmap.c. Facts: ../shared/reference/linux-process-facts.md
// section 10 and linux-mm-facts.md section 6.
#include <algorithm>
#include <cstring>
#include <map>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"
#include "mmcore/gfp.h"

namespace mmemu {

pteval_t vm_get_page_prot(vm_flags_t flags) {
    // protection_map[] (arch/x86/mm/pgprot.c), indexed by VM_SHARED|VM_EXEC|VM_WRITE|VM_READ.
    static constexpr pteval_t map[16] = {
        PAGE_NONE,          PAGE_READONLY,      PAGE_COPY,        PAGE_COPY,
        PAGE_READONLY_EXEC, PAGE_READONLY_EXEC, PAGE_COPY_EXEC,   PAGE_COPY_EXEC,
        PAGE_NONE,          PAGE_READONLY,      PAGE_SHARED,      PAGE_SHARED,
        PAGE_READONLY_EXEC, PAGE_READONLY_EXEC, PAGE_SHARED_EXEC, PAGE_SHARED_EXEC,
    };
    return map[flags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED)];
}

// do_user_addr_fault() for a #PF from user mode (and the kernel-mode cases, which are oopses:
// mmemu's kernel never touches user memory). Records a SIGSEGV in the task where the kernel
// would send one.
FaultResolution AddressSpaces::do_page_fault(unsigned cpu, const Fault& fault) {
    mm_percall::cpu = cpu;
    task_struct* t = current_[cpu];
    mm_struct* mm = t ? t->mm : nullptr;
    const uint64_t addr = fault.cr2.value;
    const uint32_t ec = fault.error_code;
    auto segv = [&](int code, const char* why) {
        counts_.sigsegv++;
        if (t && !t->segv) t->segv = SegvInfo{code, addr, ec, why};
        return FaultResolution::not_resolved;
    };
    if (!(ec & PFERR_U) || !mm || (ec & PFERR_RSVD)) {
        // A supervisor-mode fault, a fault with no mm, or a reserved bit in a page table
        // (pgtable_bad()): the kernel oopses.
        kernel_oops_++;
        return FaultResolution::not_resolved;
    }
    // fault_in_kernel_space(): do_kern_addr_fault() -> bad_area_nosemaphore() for a user.
    if (addr >= task_size_) return segv(SEGV_MAPERR, "user access to a kernel address");
    // lock_mm_and_find_vma(): mmap_lock for reading (6.18 first tries the VMA's own lock,
    // lock_vma_under_rcu(); mmemu has no per-VMA locks and takes the fallback path).
    mm->mmap_lock.down_read();
    struct Unlock {
        rw_semaphore& l;
        ~Unlock() { l.up_read(); }
    } unlock{mm->mmap_lock};
    vm_area_struct* vma = find_vma(mm, addr);
    if (!vma) return segv(SEGV_MAPERR, "no VMA at or above the address (bad_area)");
    // Below a VMA that grows down, expand_stack_locked() extends it, with mmap_lock upgraded
    // to writing (dropped and taken again: the VMAs may have changed meanwhile), then
    // downgraded (mmap_write_downgrade()).
    if (vma->vm_start > addr) {
        if (!(vma->vm_flags & VM_GROWSDOWN))
            return segv(SEGV_MAPERR, "address below the VMA (bad_area)");
        mm->mmap_lock.up_read();
        mm->mmap_lock.down_write();
        vma = find_vma(mm, addr);
        // (A VMA whose pgoff cannot go that far down, a shared one at file offset 0, is left as
        // it was: the address is still outside it.)
        const bool grown =
            vma && (vma->vm_start <= addr ||
                    ((vma->vm_flags & VM_GROWSDOWN) && expand_downwards(mm, vma, addr, cpu) == 0 &&
                     vma->vm_start <= addr));
        mm->mmap_lock.downgrade_write();
        if (!vma) return segv(SEGV_MAPERR, "no VMA at or above the address (bad_area)");
        if (!grown) return segv(SEGV_MAPERR, "the stack cannot grow to the address (expand_stack)");
    }
    // access_error()
    const bool write = ec & PFERR_W;
    if (ec & PFERR_PK) return segv(SEGV_ACCERR, "protection-key violation");
    if (write) {
        if (!(vma->vm_flags & VM_WRITE))
            return segv(SEGV_ACCERR, "write to a VMA without VM_WRITE");
    } else if (ec & PFERR_P) {
        return segv(SEGV_ACCERR, "read or fetch violating a present page's protection");
    } else if (!(vma->vm_flags & VM_ACCESS_FLAGS)) {
        return segv(SEGV_ACCERR, "access to a PROT_NONE VMA");
    }
    const vm_fault r = handle_mm_fault(mm, vma, addr, write, cpu);
    // mm_account_fault(): pgfault and the task's min_flt (nothing here is a major fault).
    vmstat_.pgfault++;
    if (t) t->min_flt++;
    if (r == vm_fault::oom) counts_.oom++;
    // A task the OOM killer chose during this fault never retries the access: the SIGKILL is
    // delivered on the way back to user mode (pagefault_out_of_memory() returns at once for
    // it, too).
    if (t && t->sigkill_pending) return FaultResolution::not_resolved;
    if (r == vm_fault::ok) return FaultResolution::resolved;
    if (r == vm_fault::oom) {
        // VM_FAULT_OOM with no kill pending: the OOM killer found no one (where Linux panics)
        // or was not asked. Linux would retry the fault for ever; mmemu kills the task.
        if (t && !t->sigkill_pending) {
            t->kill_reason = "out of memory in a page fault and the OOM killer had no process "
                             "to kill (Linux panics: \"System is deadlocked on memory\")";
            t->sigkill_pending = true; // after the reason, which its reader reads after it
            kills_pending_ = true;
        }
        return FaultResolution::not_resolved;
    }
    // VM_FAULT_SIGBUS: do_sigbus() sends SIGBUS with BUS_ADRERR.
    counts_.sigbus++;
    if (t && !t->segv)
        t->segv = SegvInfo{BUS_ADRERR, addr, ec,
                           "the page lies beyond the end of the shmem object (shmem_fault)", true};
    return FaultResolution::not_resolved;
}

// __handle_mm_fault() -> handle_pte_fault() for an anonymous VMA with 4 KiB pages (mmemu maps
// THP-eligible memory with 4 KiB pages, as a kernel with THP disabled does).
AddressSpaces::vm_fault AddressSpaces::handle_mm_fault(mm_struct* mm, vm_area_struct* vma,
                                                       uint64_t addr, bool write, unsigned cpu) {
    charge(cpu, &CostModel::fault_handling);
    const auto ptep = pte_alloc_walk(mm, addr);
    if (!ptep) return vm_fault::oom;
    // handle_pte_fault(): the PTE read without the lock (ptep_get())...
    const pteval_t orig = get_entry(*ptep);
    // do_pte_missing(): do_fault() for a VMA with vm_ops (shmem), do_anonymous_page() else.
    if (pte_none(orig))
        return vma->vm_file ? shmem_fault(mm, vma, addr, *ptep, write, cpu)
                            : do_anonymous_page(mm, vma, addr, *ptep, write, cpu);
    // ...then under the PTE table's lock, and if it changed meanwhile (another CPU's fault
    // resolved it) the fault is done: the access is retried (pte_same()).
    PtlHolder ptl(pt_page(*ptep));
    if (get_entry(*ptep) != orig) return vm_fault::ok;
    if (write && !pte_write(orig))
        return vma->vm_flags & (VM_SHARED | VM_MAYSHARE)
                   ? wp_page_shared(vma, *ptep, orig)
                   : do_wp_page(mm, vma, addr, *ptep, orig, ptl, cpu);
    // The PTE already allows the access: set young (and dirty for a write) if not yet, and
    // count it as a spurious fault (a stale TLB entry elsewhere; the CPU drops the faulting
    // address's entries on every #PF, SDM 4.10.4.1, so nothing needs flushing here).
    const pteval_t e = orig | _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0);
    if (e != orig) set_entry(*ptep, e);
    counts_.spurious++;
    return vm_fault::ok;
}

// do_anonymous_page(): a read maps the shared zero page (pte_mkspecial, read-only, no RSS); a
// write gets a zeroed page (GFP_HIGHUSER_MOVABLE | __GFP_ZERO), mapped writable and dirty
// because the VMA has VM_WRITE, counted in MM_ANONPAGES and made anonymous and exclusive.
AddressSpaces::vm_fault AddressSpaces::do_anonymous_page(mm_struct* mm, vm_area_struct* vma,
                                                         uint64_t addr, PhysAddr ptep, bool write,
                                                         unsigned cpu) {
    if (vma->vm_flags & VM_SHARED) return vm_fault::sigbus;
    if (!write) {
        const PtlHolder ptl(pt_page(ptep));
        if (!pte_none(get_entry(ptep))) return vm_fault::ok; // vmf_pte_changed(): retried
        set_entry(ptep, pfn_pte(zero_pfn_, vma->vm_page_prot) | _PAGE_SPECIAL);
        counts_.zero_page++;
        return vm_fault::ok;
    }
    // The anon_vma and the page first, then the PTE table's lock.
    if (!anon_vma_prepare(vma, cpu)) return vm_fault::oom;
    page* p = vma_alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, vma, addr, cpu);
    if (!p) return vm_fault::oom;
    charge(cpu, &CostModel::clear_page);
    const PtlHolder ptl(pt_page(ptep));
    if (!pte_none(get_entry(ptep))) { // another CPU's fault mapped it meanwhile: retried
        pa_.free_pages(p, 0, cpu);
        return vm_fault::ok;
    }
    pteval_t e = pfn_pte(pa_.mem_map().page_to_pfn(p), vma->vm_page_prot);
    if (vma->vm_flags & VM_WRITE) e |= _PAGE_DIRTY | _PAGE_RW;
    mm->rss_stat[MM_ANONPAGES]++;
    folio_add_new_anon_rmap(p, vma, addr);
    set_entry(ptep, e);
    counts_.anonymous++;
    return vm_fault::ok;
}

// do_wp_page(): a write to a present read-only PTE in a writable VMA. An anonymous page this
// process alone maps (PageAnonExclusive, or a refcount of 1 once no one else maps it and it is
// not KSM) is reused in place (wp_page_reuse, pgreuse); the zero page and shared pages are
// copied (wp_page_copy). A KSM page is never reused: its copy counts in cow_ksm, before it is
// made, for a write or an unshare fault alike (a KSM zero page has no folio: not counted).
AddressSpaces::vm_fault AddressSpaces::do_wp_page(mm_struct* mm, vm_area_struct* vma, uint64_t addr,
                                                  PhysAddr ptep, pteval_t orig, PtlHolder& ptl,
                                                  unsigned cpu, bool unshare) {
    page* old = nullptr;
    if (!pte_special(orig)) old = pa_.mem_map().pfn_to_page(pte_pfn(orig));
    // wp_can_reuse_anon_folio(): a page not marked exclusive is reused only if its refcount
    // is one, checked again under its folio lock (folio_trylock(): a page someone else has
    // locked is copied instead), which also covers folio_move_anon_rmap().
    auto reusable = [&] {
        if (old->test(PG_anon_exclusive)) return true;
        if (old->_refcount != 1 || !folio_trylock(*old)) return false;
        const bool alone = old->_refcount == 1;
        if (alone) { // folio_move_anon_rmap()
            old->mapping = reinterpret_cast<uint64_t>(vma->anon);
            old->set(PG_anon_exclusive);
        }
        folio_unlock(*old);
        return alone;
    };
    if (!unshare && old && old->test(PG_anon) && !old->test(PG_ksm) && reusable()) {
        set_entry(ptep, orig | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_RW);
        vmstat_.pgreuse++;
        if (Tracer* tr = tracer())
            tr->instant(cpu, "cow", "COW reuse", cpu_ns(cpu), {trace_hex("address", addr)});
        return vm_fault::ok;
    }
    if (old && old->test(PG_ksm)) vmstat_.cow_ksm++;
    // wp_page_copy(), with the PTE lock dropped while it prepares the anon_vma and allocates
    // and copies (the old page held by its reference), then taken again: if the PTE changed
    // meanwhile, the copy is dropped and the access retried.
    ptl.unlock();
    if (old) old->_refcount++; // folio_get()
    auto put_old = [&] {
        if (old) put_anon_page(old, cpu);
    };
    if (!anon_vma_prepare(vma, cpu)) {
        put_old();
        return vm_fault::oom;
    }
    page* np = vma_alloc_page(GFP_HIGHUSER_MOVABLE | (old ? 0 : __GFP_ZERO), vma, addr, cpu);
    if (!np) {
        put_old();
        return vm_fault::oom;
    }
    const Pfn npfn = pa_.mem_map().page_to_pfn(np);
    const uint64_t copy_begin = tracer() ? cpu_ns(cpu) : 0;
    if (old) copy_user_highpage(npfn, pte_pfn(orig), cpu); // __wp_page_copy_user()
    charge(cpu, old ? &CostModel::copy_page : &CostModel::clear_page);
    if (Tracer* tr = tracer())
        tr->slice(cpu, "cow",
                  !old                ? "COW copy (zero page)"
                  : old->test(PG_ksm) ? "COW copy (KSM page)"
                                      : "COW copy",
                  copy_begin, cpu_ns(cpu),
                  {trace_hex("address", addr),
                   trace_hex("from_pfn", old ? pte_pfn(orig).value : 0),
                   trace_hex("to_pfn", npfn.value),
                   {"unshare", unshare}});
    ptl.relock();
    if (get_entry(ptep) != orig) {
        pa_.free_pages(np, 0, cpu);
        put_old();
        return vm_fault::ok;
    }
    if (!old) {
        mm->rss_stat[MM_ANONPAGES]++;
        ksm_might_unmap_zero_page(mm, orig);
    }
    // Young; for a write dirty and (VM_WRITE) writable, for an unshare neither.
    pteval_t e = pfn_pte(npfn, vma->vm_page_prot);
    if (!unshare) e |= _PAGE_DIRTY | ((vma->vm_flags & VM_WRITE) ? _PAGE_RW : 0);
    // ptep_clear_flush(): the old translation leaves every TLB before the new one goes in.
    set_entry(ptep, 0);
    flush_tlb_mm_range(mm, addr, addr + PAGE_SIZE);
    folio_add_new_anon_rmap(np, vma, addr);
    set_entry(ptep, e);
    if (old) {
        // folio_remove_rmap_pte() + the mapping's reference dropped, then wp_page_copy()'s own.
        if (--old->_mapcount == 0) vmstat_.nr_anon_pages--;
        put_anon_page(old, cpu);
        put_old();
    }
    counts_.cow_copy++;
    return vm_fault::ok;
}

void AddressSpaces::put_anon_page(page* p, unsigned cpu) {
    // folio_put(): the reference dropped atomically; the thread that drops the last one frees.
    if (p->test(PG_buddy) || p->test(PG_reserved) || p->_refcount <= 0)
        throw KernelBug("bad_page: freeing pfn " + to_string(pa_.mem_map().page_to_pfn(p)) +
                        " which is not an allocated page");
    if (--p->_refcount > 0) return;
    {
        // The kernel's batch holds a reference of its own; mmemu's does not, so a page freed
        // while it waits there leaves the batch (unmap paths drain first, as the kernel's do).
        // (Each CPU takes it out of its own batch: a batch is its CPU's alone.)
        if (p->test(PG_lazyfree_batch)) {
            for (unsigned c = 0; c < machine_.nr_cpus(); c++)
                machine_.smp().call_function_single(cpu, c, [this, c, p] {
                    auto& batch = lazyfree_batch_[c];
                    if (auto it = std::find(batch.begin(), batch.end(), p); it != batch.end())
                        batch.erase(it);
                });
            p->clear(PG_lazyfree_batch);
        }
        p->clear(PG_anon_exclusive);
        p->clear(PG_swapbacked);
    }
    pa_.free_frozen_pages(p, 0, cpu);
}

// zap_pte_range() over [start, end): every PTE cleared; an anonymous page loses a mapping
// (MM_ANONPAGES, mapcount, NR_ANON_MAPPED) and, after the TLB flush, the mapping's reference
// (tlb_finish_mmu frees the batch); the zero page is not counted anywhere.
bool AddressSpaces::zap_range(mm_struct* mm, uint64_t start, uint64_t end, unsigned cpu,
                              std::vector<page*>* gather) {
    std::vector<page*> own;
    std::vector<page*>& batch = gather ? *gather : own;
    bool any = false;
    PtlHolder ptl; // zap_pte_range(): each PTE table under its lock
    for_each_pte(mm, start, end, [&](PhysAddr e, uint64_t) {
        ptl.lock(pt_page(e));
        const pteval_t v = get_entry(e);
        if (pte_none(v)) return;
        set_entry(e, 0);
        any = true;
        if (pte_special(v)) return ksm_might_unmap_zero_page(mm, v);
        page* p = pa_.mem_map().pfn_to_page(pte_pfn(v));
        if (p->test(PG_anon)) {
            mm->rss_stat[MM_ANONPAGES]--;
            if (--p->_mapcount == 0) vmstat_.nr_anon_pages--;
        } else {
            zap_file_page(mm, p); // a shmem page: the page cache keeps it
        }
        batch.push_back(p);
    });
    ptl.unlock();
    if (gather) return any; // the caller flushes once and frees the batch (tlb_finish_mmu)
    if (any) flush_tlb_mm_range(mm, start, end);
    for (page* p : batch) put_anon_page(p, cpu);
    return any;
}

// free_pgtables(): the anon_vmas of the VMAs go, then their page tables, neighbours within
// PMD_SIZE gathered into one free_pgd_range() call; floor and ceiling are the ends of the VMAs
// that stay on either side.
void AddressSpaces::free_pgtables(mm_struct* mm, const std::vector<vm_area_struct*>& vmas,
                                  uint64_t floor, uint64_t ceiling, unsigned cpu) {
    size_t i = 0;
    while (i < vmas.size()) {
        vm_area_struct* v = vmas[i];
        const uint64_t addr = v->vm_start;
        unlink_anon_vmas(v, cpu);
        size_t j = i + 1;
        while (j < vmas.size() && vmas[j]->vm_start <= v->vm_end + fmt_.pmd_size()) {
            v = vmas[j++];
            unlink_anon_vmas(v, cpu);
        }
        free_pgd_range(mm, addr, v->vm_end, floor, j < vmas.size() ? vmas[j]->vm_start : ceiling);
        i = j;
    }
}

// exit_mmap(): unmap every VMA, free every page table, remove every VMA, destroy the tree (out
// of RCU mode, so its nodes go at once).
void AddressSpaces::exit_mmap(mm_struct* mm, unsigned cpu) {
    mm_percall::cpu = cpu;
    // 6.18 unmaps under mmap_read_lock, then takes it for writing to free the tables and VMAs;
    // nobody else holds a reference that could take it in between here, so one write hold.
    const WriteGuard locked(mm->mmap_lock);
    lru_add_drain(cpu);
    std::vector<vm_area_struct*> all;
    mm->mm_mt.for_each(
        [&](const MapleRange& r) { all.push_back(reinterpret_cast<vm_area_struct*>(r.entry)); });
    // unmap_vmas() and free_pgtables() under one full-mm gather, then tlb_finish_mmu(): one
    // full flush (page tables freed), then the pages go.
    std::vector<page*> batch;
    for (vm_area_struct* v : all) zap_range(mm, v->vm_start, v->vm_end, cpu, &batch);
    mm->mm_mt.set_in_rcu(false);
    free_pgtables(mm, all, 0, 0, cpu);
    flush_tlb_mm_range(mm, 0, mm->task_size, true);
    for (page* p : batch) put_anon_page(p, cpu);
    for (vm_area_struct* v : all) {
        vm_stat_account(mm, v->vm_flags, -int64_t(v->pages()));
        mm->map_count--;
        vm_area_free(v);
    }
    if (mm->map_count != 0) throw KernelBug("exit_mmap: map_count does not match the VMAs");
    mm->mm_mt.destroy();
}

// The "nothing lost" audit of the user address spaces: walk every page table, check each
// mapped page's mapcount and refcount against the PTEs found, list the frames owned, then the
// anon_vma chains and rmap_walk against those mappings (audit_rmap).
std::string AddressSpaces::audit(std::vector<OwnedFrames>& owned) const {
    // Between events no kmap_local mapping is live: every slot's PTE is empty.
    if (max_low_pfn_ < max_pfn_) {
        for (unsigned slot = 0; slot < KM_MAX_IDX * machine_.nr_cpus(); slot++) {
            const uint64_t va = kmap_slot_vaddr(slot);
            if (get_entry(entry_at(kmap_pte_table_, fmt_.index(va, fmt_.pte_level()))))
                return "kmap_local slot " + std::to_string(slot) + " is still mapped";
        }
    }
    std::map<uint64_t, int> maps; // pfn -> PTEs mapping it
    for (const mm_struct* mm : mms_) {
        owned.push_back({phys_pfn(mm->pgd), phys_pfn(mm->pgd) + 1, "page table", 0});
        uint64_t ksm_zero = 0;
        bool ksm_writable = false; // a KSM page is never mapped writable (write_protect_page)
        const uint64_t tables = audit_tables(mm, owned, [&](pteval_t e) {
            if (!pte_special(e)) {
                maps[pte_pfn(e).value]++;
                ksm_writable |= pte_write(e) && pa_.mem_map()[pte_pfn(e)].test(PG_ksm);
            }
            ksm_zero += is_ksm_zero_pte(e);
        });
        if (ksm_writable) return "a KSM page is mapped writable";
        if (tables * PAGE_SIZE != mm->pgtables_bytes)
            return "an mm's pgtables_bytes (" + std::to_string(mm->pgtables_bytes) +
                   ") differs from its page tables (" + std::to_string(tables) + " pages)";
        if (ksm_zero + mm->ksm_zero_pages_not_copied != mm->ksm_zero_pages)
            return "an mm's ksm_zero_pages (" + std::to_string(mm->ksm_zero_pages) + ", " +
                   std::to_string(mm->ksm_zero_pages_not_copied) +
                   " of them inherited without their PTEs) differs from the KSM zero-page PTEs "
                   "of its page tables (" +
                   std::to_string(ksm_zero) + ")";
    }
    if (std::string e = audit_shmem(maps, owned); !e.empty()) return e;
    for (const auto& [pfn, n] : maps) {
        const page& p = pa_.mem_map()[Pfn{pfn}];
        if (!p.test(PG_anon)) {
            // A shmem page: audit_shmem() checked it, if it is in its file's page cache.
            const auto* f = reinterpret_cast<const shmem_file*>(p.mapping.load());
            const bool cached =
                std::find(shmem_files_.begin(), shmem_files_.end(), f) != shmem_files_.end() &&
                f->pages.count(p.index) && f->pages.at(p.index).value == pfn;
            if (!cached)
                return "pfn " + std::to_string(pfn) + " is mapped but neither anonymous nor in a " +
                       "shmem file's page cache";
            continue;
        }
        if (p._mapcount != n)
            return "pfn " + std::to_string(pfn) + " has mapcount " + std::to_string(p._mapcount) +
                   " but " + std::to_string(n) + " PTEs map it";
        if (p._refcount != n)
            return "pfn " + std::to_string(pfn) + " has refcount " + std::to_string(p._refcount) +
                   " but " + std::to_string(n) + " PTEs map it";
        owned.push_back({Pfn{pfn}, Pfn{pfn + 1}, "anonymous page", 0});
    }
    return audit_rmap(maps);
}

} // namespace mmemu
