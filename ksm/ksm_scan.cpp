// ksmd's scan (mm/ksm.c, Linux 6.18; docs/dev/ksm-facts.md section 3 and linux-mm-facts.md
// 1.2, 1.7): ksm_do_scan, scan_get_next_rmap_item with its cursor over the registered mms,
// get_next_rmap_item, smart_scan's skips, and cmp_and_merge_page in the kernel's order.
#include <algorithm>
#include <cstring>

#include "ksm/ksm.h"

namespace mmemu {

ksm_rmap_item* Ksm::alloc_rmap_item() {
    // __GFP_NORETRY | __GFP_NOWARN: a failure leaves the page for the next batch.
    const SlabObj obj =
        slab_.kmem_cache_alloc(rmap_item_cache_, GFP_KERNEL | __GFP_ZERO, ksm_percall::cpu);
    if (obj.null()) return nullptr;
    auto* i = new ksm_rmap_item;
    i->obj = obj;
    rmap_items_++;
    return i;
}

void Ksm::free_rmap_item(ksm_rmap_item* item) {
    rmap_items_--;
    item->mm->ksm_rmap_items--;
    slab_.kmem_cache_free(rmap_item_cache_, item->obj, ksm_percall::cpu);
    delete item;
}

// ksm_do_scan(): up to `pages` items, each through cmp_and_merge_page and counted in
// pages_scanned; the end of a pass ends the batch.
void Ksm::ksm_do_scan(unsigned pages, uint64_t now_ms, unsigned cpu) {
    const LockGuard<kernel_mutex> locked(ksm_thread_mutex_); // ksm_scan_thread() holds it
    ksm_percall::cpu = cpu;
    now_ms_ = now_ms;
    while (pages--) {
        Pfn page{};
        ksm_rmap_item* item = scan_get_next_rmap_item(page);
        if (!item) return;
        cmp_and_merge_page(page, item);
        folio_put(page); // the scan's reference
        pages_scanned_++;
        work_.visits++;
    }
}

// get_next_rmap_item(): the item of addr on the mm's list, freeing the items passed on the way
// (their addresses hold no scannable page any more), or a new one linked in its place.
ksm_rmap_item* Ksm::get_next_rmap_item(ksm_mm_slot* s, ksm_rmap_item** rmap_list, uint64_t addr) {
    while (*rmap_list) {
        ksm_rmap_item* item = *rmap_list;
        if ((item->address & PAGE_MASK) == addr) return item;
        if (item->address > addr) break;
        *rmap_list = item->rmap_list;
        remove_rmap_item_from_tree(item);
        free_rmap_item(item);
    }
    ksm_rmap_item* item = alloc_rmap_item();
    if (item) {
        item->mm = s->mm;
        item->mm->ksm_rmap_items++;
        item->address = addr;
        item->rmap_list = *rmap_list;
        *rmap_list = item;
    }
    return item;
}

// remove_trailing_rmap_items(): every item from here on goes.
void Ksm::remove_trailing_rmap_items(ksm_rmap_item** rmap_list) {
    while (*rmap_list) {
        ksm_rmap_item* item = *rmap_list;
        *rmap_list = item->rmap_list;
        remove_rmap_item_from_tree(item);
        free_rmap_item(item);
    }
}

// should_skip_rmap_item() (smart_scan): a page that is not KSM ages by one each visit; from age
// 3 it is skipped for skip_age(age) visits after each one it is looked at (1, 2, 4, then 8),
// and a skipped item leaves its tree.
bool Ksm::should_skip_rmap_item(Pfn page, ksm_rmap_item* item) {
    if (!knobs_.smart_scan) return false;
    if (as_.ksm_page_flags(page).test(PG_ksm)) return false;
    const uint8_t age = item->age;
    if (age != 255) item->age++;
    if (age < 3) return false;
    if (!item->remaining_skips) {
        item->remaining_skips = age <= 3 ? 1 : age <= 5 ? 2 : age <= 8 ? 4 : 8;
        return false;
    }
    pages_skipped_++;
    work_.visits++;
    item->remaining_skips--;
    remove_rmap_item_from_tree(item);
    return true;
}

// scan_get_next_rmap_item(): the next anonymous page of a mergeable VMA after the cursor, with
// its item. At a pass's start: the CPUs' batches are drained and the unstable tree forgotten.
// At an mm's end: the items past the last page go, and the slot too if the mm has exited or had
// no mergeable VMA at all. After the last mm: the pass count goes up, and nullptr.
ksm_rmap_item* Ksm::scan_get_next_rmap_item(Pfn& page) {
    if (!ksmd_should_have_work()) return nullptr;
    auto* s = static_cast<ksm_mm_slot*>(scan_slot_);
    if (scan_slot_ == slots_.head()) {
        advisor_start_scan();
        as_.lru_add_drain_all(ksm_percall::cpu);
        for (auto& root : root_unstable_tree_) root->reset();
        {
            const LockGuard<spinlock_t> mmlist(ksm_mmlist_lock_);
            scan_slot_ = slots_.head()->next;
        }
        if (scan_slot_ == slots_.head()) return nullptr;
        s = static_cast<ksm_mm_slot*>(scan_slot_);
        scan_address_ = 0;
        scan_rmap_list_ = &s->rmap_list;
    }
    for (;;) {
        mm_struct* mm = s->mm;
        const bool exiting = mm->mm_users == 0;
        if (!exiting) {
            // The mm's VMAs under its mmap_lock, dropped before the item is returned.
            const ReadGuard mmap_locked(mm->mmap_lock);
            // for_each_vma() from the cursor's address: each VMA ending above it, in order.
            for (const vm_area_struct* cv = as_.find_vma(mm, scan_address_); cv;
                 cv = cv->vm_end < mm->task_size ? as_.find_vma(mm, cv->vm_end) : nullptr) {
                if (!(cv->vm_flags & VM_MERGEABLE)) continue;
                if (scan_address_ < cv->vm_start) scan_address_ = cv->vm_start;
                if (!katomic::read(cv->anon)) scan_address_ = cv->vm_end;
                while (scan_address_ < cv->vm_end) {
                    const auto found = as_.ksm_next_anon_page(cv, scan_address_);
                    if (!found) {
                        scan_address_ = cv->vm_end;
                        break;
                    }
                    scan_address_ = found->first;
                    ksm_rmap_item* item = get_next_rmap_item(s, scan_rmap_list_, scan_address_);
                    if (!item) {
                        folio_put(found->second);
                        return nullptr; // retried in the next batch
                    }
                    scan_rmap_list_ = &item->rmap_list;
                    if (should_skip_rmap_item(found->second, item)) {
                        folio_put(found->second);
                        scan_address_ += PAGE_SIZE;
                        continue;
                    }
                    scan_address_ += PAGE_SIZE;
                    page = found->second;
                    return item;
                }
            }
        }
        if (exiting) {
            scan_address_ = 0;
            scan_rmap_list_ = &s->rmap_list;
        }
        remove_trailing_rmap_items(scan_rmap_list_);
        {
            const LockGuard<spinlock_t> mmlist(ksm_mmlist_lock_);
            scan_slot_ = s->next;
            if (scan_address_ == 0) unlink_mm_slot(s);
        }
        if (scan_address_ == 0) free_mm_slot(s);
        if (scan_slot_ == slots_.head()) break;
        s = static_cast<ksm_mm_slot*>(scan_slot_);
        scan_address_ = 0;
        scan_rmap_list_ = &s->rmap_list;
    }
    advisor_stop_scan();
    seqnr_++;
    return nullptr;
}

// advisor_start_scan(): the pass's start time (CLOCK_MONOTONIC), with the scan-time advisor.
void Ksm::advisor_start_scan() {
    if (knobs_.advisor_scan_time) advisor_.start_scan_ns = now_ns();
}

// advisor_stop_scan() -> scan_time_advisor() (docs/dev/ksm-facts.md 11c): the next
// pages_to_scan from the pass's time against advisor_target_scan_time, smoothed (an EWMA of
// the change in pass time, weight 30%), and capped by ksmd's CPU use: at most advisor_max_cpu
// percent's worth, at least 10 percent's, at most advisor_max_pages_to_scan. The integer
// arithmetic is the kernel's, in its order and widths (unsigned long is 32 bits on i386).
void Ksm::advisor_stop_scan() {
    if (!knobs_.advisor_scan_time) return;
    const auto ul = [this](uint64_t x) { return is_64bit_ ? x : x & 0xffffffffu; };
    const auto or1 = [](uint64_t x) { return x ? x : 1; };
    const uint64_t scan_s = or1((now_ns() - advisor_.start_scan_ns) / 1000000 / 1000);
    // task_sched_runtime(): ksmd's CPU time (its clock's), in an unsigned long.
    const uint64_t cpu_ns = ul(clock_ ? clock_->ksmd_cputime_ns() : 0);
    const uint64_t diff_ms = ul(cpu_ns - advisor_.cpu_time_ns) / 1000 / 1000;
    const uint64_t cpu_percent = or1(uint32_t(ul(diff_ms * 100) / ul(scan_s * 1000)));
    const uint64_t last = advisor_.scan_time_s ? advisor_.scan_time_s : scan_s;
    const uint64_t factor = or1(ul(knobs_.advisor_target_scan_time * 100) / scan_s);
    uint64_t change = or1(ul(scan_s * 100) / last);
    change = ul(70 * advisor_.change + 30 * change) / 100; // ewma(), EWMA_WEIGHT 30
    const uint32_t p = knobs_.pages_to_scan;
    uint64_t pages = uint32_t(p * 100u) / factor; // unsigned int arithmetic
    pages = ul(pages * change) / 100;
    const uint64_t ppc = or1(p / cpu_percent);
    pages = std::min<uint64_t>(pages, ul(ppc * knobs_.advisor_max_cpu));
    pages = std::max<uint64_t>(pages, ul(ppc * 10)); // KSM_ADVISOR_MIN_CPU
    pages = std::min<uint64_t>(pages, knobs_.advisor_max_pages_to_scan);
    advisor_.change = change;
    advisor_.scan_time_s = scan_s;
    advisor_.cpu_time_ns = cpu_ns;
    knobs_.pages_to_scan = uint32_t(pages);
}

// cmp_and_merge_page(): a KSM page already counted for this item is done; a forked one joins
// its node (over max_page_sharing if it must). Otherwise the item leaves its tree and the page
// must keep its checksum for a pass (else it is volatile); with use_zero_pages a zero page's
// checksum merges it with the zero page. Then the stable tree is searched, else the unstable
// tree, where a match makes a new KSM page of the two.
void Ksm::cmp_and_merge_page(Pfn page, ksm_rmap_item* item) {
    bool bypass = false;
    ksm_stable_node* node = page_stable_node(page);
    if (node) {
        if (item->head == node) return;
        if (!is_page_sharing_candidate(node)) bypass = true;
    } else {
        remove_rmap_item_from_tree(item);
        const uint32_t checksum = item_checksum(item, page);
        if (item->oldchecksum != checksum) {
            item->oldchecksum = checksum;
            return;
        }
        if (!try_to_merge_with_zero_page(item, page)) return;
    }
    const std::optional<Pfn> kpage = stable_tree_search(page);
    if (kpage && *kpage == page && item->head == node) {
        folio_put(*kpage);
        return;
    }
    remove_rmap_item_from_tree(item);
    if (kpage) {
        if (!try_to_merge_with_ksm_page(item, page, *kpage))
            stable_tree_append(item, page_stable_node(*kpage), bypass);
        folio_put(*kpage);
        return;
    }
    Pfn tree_page{};
    ksm_rmap_item* tree_item = unstable_tree_search_insert(item, page, tree_page);
    if (!tree_item) return;
    const bool merged = try_to_merge_two_pages(item, page, tree_item, tree_page);
    folio_put(tree_page); // get_mergeable_page()'s reference
    if (!merged) return;
    if (ksm_stable_node* n = stable_tree_insert(page)) {
        stable_tree_append(tree_item, n, false);
        stable_tree_append(item, n, false);
    } else {
        break_cow(tree_item);
        break_cow(item);
    }
}

int Ksm::memcmp_pages(Pfn a, Pfn b) const {
    work_.compares++;
    return std::memcmp(ram_.frame(a), ram_.frame(b), PAGE_SIZE);
}

} // namespace mmemu
