// Merging and breaking (mm/ksm.c, Linux 6.18; docs/dev/ksm-facts.md sections 6 and 7):
// try_to_merge_one_page and its callers, the zero-page merge, break_cow. The page-table edits
// are mmcore's (write_protect_page, replace_page, break_ksm).
#include "ksm/ksm.h"

namespace mmemu {

// find_mergeable_vma(): the VMA at addr if the mm is alive and the VMA mergeable with an
// anon_vma.
vm_area_struct* Ksm::find_mergeable_vma(mm_struct* mm, uint64_t addr) const {
    if (mm->mm_users == 0) return nullptr; // ksm_test_exit()
    vm_area_struct* vma = as_.vma_lookup(mm, addr);
    if (!vma || !(vma->vm_flags & VM_MERGEABLE) || !katomic::read(vma->anon)) return nullptr;
    return vma;
}

// try_to_merge_one_page(): `page`, mapped at addr, write-protected; with no kpage it becomes a
// KSM page (no node yet; marked dirty so that reclaim would swap it, not drop it); with one,
// its PTE is replaced by the KSM page (or the zero page) if their contents are still the same.
// 0 or -EFAULT.
int Ksm::try_to_merge_one_page(vm_area_struct* vma, uint64_t addr, Pfn page,
                               std::optional<Pfn> kpage) {
    if (kpage && *kpage == page) return 0;
    if (!as_.ksm_page_flags(page).test(PG_anon)) return -EFAULT;
    // The page's lock, without waiting: a page someone else has locked is left for a later
    // pass ("we don't want to wait here: we prefer to continue scanning").
    if (!folio_trylock(as_.ksm_page_flags(page))) return -EFAULT;
    struct Unlock {
        struct page& p;
        ~Unlock() { folio_unlock(p); }
    } unlock{as_.ksm_page_flags(page)};
    pteval_t orig = 0;
    work_.merges++;
    if (as_.write_protect_page(vma, addr, page, orig, ksm_percall::cpu)) return -EFAULT;
    if (!kpage) {
        folio_set_stable_node(page, nullptr);
        as_.ksm_page_flags(page).set(PG_referenced); // folio_mark_accessed()
        as_.ksm_page_flags(page).set(PG_dirty);      // folio_mark_dirty()
        return 0;
    }
    if (memcmp_pages(page, *kpage) != 0) return -EFAULT; // pages_identical()
    const int err = as_.replace_page(vma, addr, page, *kpage, orig, ksm_percall::cpu);
    if (Tracer* tr = as_.tracer(); tr && !err && clock_)
        tr->instant(Tracer::KSMD, "ksm", *kpage == as_.zero_pfn() ? "merge (zero page)" : "merge",
                    clock_->now_ns(),
                    {trace_hex("address", addr), trace_hex("pfn", page.value),
                     trace_hex("kpfn", kpage->value)});
    return err;
}

// try_to_merge_with_ksm_page(): the item's page merged (kpage: with it; none: made the KSM
// page); the item leaves its tree and takes a reference to the VMA's anon_vma.
int Ksm::try_to_merge_with_ksm_page(ksm_rmap_item* item, Pfn page, std::optional<Pfn> kpage) {
    const uint64_t addr = item->address & PAGE_MASK;
    const ReadGuard mmap_locked(item->mm->mmap_lock);
    vm_area_struct* vma = find_mergeable_vma(item->mm, addr);
    if (!vma) return -EFAULT;
    if (const int e = try_to_merge_one_page(vma, addr, page, kpage); e) return e;
    remove_rmap_item_from_tree(item);
    item->av = katomic::read(vma->anon);
    as_.get_anon_vma(item->av);
    return 0;
}

// try_to_merge_two_pages(): the scanned page becomes the KSM page, then the tree page's PTE is
// replaced by it; if that fails, the lone KSM page is broken again.
bool Ksm::try_to_merge_two_pages(ksm_rmap_item* item, Pfn page, ksm_rmap_item* tree_item,
                                 Pfn tree_page) {
    int err = try_to_merge_with_ksm_page(item, page, std::nullopt);
    if (!err) {
        err = try_to_merge_with_ksm_page(tree_item, tree_page, page);
        if (err) break_cow(item);
    }
    return err == 0;
}

// try_to_merge_with_zero_page(): with use_zero_pages, a page whose checksum (held for a pass)
// is the zero page's is replaced by the zero page, special and dirty (a KSM zero page). 0: done
// with the page (merged, or its VMA is gone); -EFAULT: go on to the trees.
int Ksm::try_to_merge_with_zero_page(ksm_rmap_item* item, Pfn page) {
    if (!knobs_.use_zero_pages || item->oldchecksum != zero_checksum_) return -EFAULT;
    const uint64_t addr = item->address & PAGE_MASK;
    const ReadGuard mmap_locked(item->mm->mmap_lock);
    vm_area_struct* vma = find_mergeable_vma(item->mm, addr);
    if (!vma) return 0;
    const int err = try_to_merge_one_page(vma, addr, page, as_.zero_pfn());
    if (!err) ksm_zero_pages_++; // ksm_map_zero_page()
    return err;
}

// break_cow(): the item's anon_vma reference drops, and an unshare fault at its address gives
// the process its own copy again.
void Ksm::break_cow(ksm_rmap_item* item) {
    if (item->av) {
        as_.put_anon_vma(item->av, ksm_percall::cpu);
        item->av = nullptr;
    }
    const uint64_t addr = item->address & PAGE_MASK;
    const ReadGuard mmap_locked(item->mm->mmap_lock);
    if (vm_area_struct* vma = find_mergeable_vma(item->mm, addr))
        (void)as_.break_ksm(vma, addr, nullptr, ksm_percall::cpu);
}

} // namespace mmemu
