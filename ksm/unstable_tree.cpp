// The unstable tree (mm/ksm.c, Linux 6.18; linux-mm-facts.md 1.2 and 1.4): this pass's pages
// whose checksum held still for a pass, ordered by their content as it is when each is compared
// (contents may change under the tree: a walk then goes astray, as the kernel's does), and
// forgotten at every pass's start.
#include "ksm/ksm.h"

namespace mmemu {

// get_mergeable_page(): the anonymous page mapped at the item's address, if its VMA is still
// mergeable.
std::optional<Pfn> Ksm::get_mergeable_page(ksm_rmap_item* item) {
    const uint64_t addr = item->address & PAGE_MASK;
    mm_struct* mm = item->mm;
    const ReadGuard mmap_locked(mm->mmap_lock);
    const uint64_t epoch = mm->mmap_lock.write_seq() + mm->pt_frees;
    if (item->memo_epoch != epoch) {
        item->memo_epoch = NO_PTE_MEMO;
        if (!find_mergeable_vma(mm, addr)) return std::nullopt;
        const std::optional<PhysAddr> pte = as_.ksm_pte_entry(mm, addr);
        if (!pte) return std::nullopt;
        item->pte_memo = pte->value;
        item->memo_epoch = epoch;
    }
    // follow_page(FOLL_GET); in the deterministic mode no reference (see the caller).
    return as_.ksm_get_anon_page(PhysAddr{item->pte_memo}, Smp::concurrent_here());
}

// unstable_tree_search_insert(): the item whose page equals `page` (its page in tree_page), or
// none: the item is inserted (pages_unshared, this pass's seqnr in its flags). A tree item
// whose page cannot be had, or that is the same page (a fork's), ends the search with nothing
// inserted.
ksm_rmap_item* Ksm::unstable_tree_search_insert(ksm_rmap_item* item, Pfn page, Pfn& tree_page) {
    const unsigned nid = get_kpfn_nid(page);
    rb_root& root = *root_unstable_tree_[nid];
    rb_node* parent = nullptr;
    bool left = false;
    for (rb_node* cur = root.root(); cur;) {
        auto* tree_item = static_cast<ksm_rmap_item*>(cur);
        // Host speed only: start loading what the comparison reads (the item's PTE, struct page
        // and the page's first bytes) and both children while the item's mm is locked (the
        // walk is bound by host memory latency on big trees).
        __builtin_prefetch(cur->left_);
        __builtin_prefetch(cur->right_);
        __builtin_prefetch(ram_.frame(Pfn{tree_item->pfn_hint}));
        __builtin_prefetch(&as_.ksm_page_flags(Pfn{tree_item->pfn_hint}));
        if (tree_item->memo_epoch != NO_PTE_MEMO)
            __builtin_prefetch(ram_.frame(Pfn{tree_item->pte_memo >> PAGE_SHIFT}) +
                               (tree_item->pte_memo & ~PAGE_MASK));
        __builtin_prefetch(cur->left_);
        __builtin_prefetch(cur->right_);
        // Linux holds a reference to the tree item's page while it compares it. Only another
        // CPU could observe it, so in the deterministic mode it is taken only for the page that
        // matches (host speed: two struct page writes less per tree level).
        const bool refd = Smp::concurrent_here();
        const std::optional<Pfn> tp = get_mergeable_page(tree_item);
        if (!tp) return nullptr;
        const auto drop = [&] {
            if (refd) folio_put(*tp);
        };
        if (*tp == page) {
            drop();
            return nullptr;
        }
        const int ret = memcmp_pages(page, *tp);
        parent = cur;
        if (ret < 0) {
            drop();
            left = true;
            cur = cur->left_;
        } else if (ret > 0) {
            drop();
            left = false;
            cur = cur->right_;
        } else if (!knobs_.merge_across_nodes && as_.ksm_page_flags(*tp).nid() != nid) {
            // A page that moved to another node: it goes to its own node's tree next pass.
            drop();
            return nullptr;
        } else {
            if (!refd) folio_get(*tp);
            tree_page = *tp; // with its reference
            return tree_item;
        }
    }
    item->address |= UNSTABLE_FLAG | (seqnr_ & SEQNR_MASK);
    item->nid = nid;
    item->pfn_hint = page.value;
    rb_algo::insert_commit_data d;
    d.link_left = left;
    d.node = parent ? parent : &root.header;
    rb_algo::insert_unique_commit(&root.header, item, d);
    pages_unshared_++;
    return nullptr;
}

} // namespace mmemu
