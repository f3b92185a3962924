// The stable tree (mm/ksm.c, Linux 6.18; docs/dev/ksm-facts.md sections 1 and 2): KSM pages
// ordered by content, a node per page or, past max_page_sharing, a chain of dups of the same
// content; the "keyhole" test that finds a node whose page has gone (stale) and removes it;
// the rmap_items on each node and the counters they move.
#include "ksm/ksm.h"
#include "mmcore/bug.h"

namespace mmemu {

namespace {

// Boost's rb-tree insertion at a position found by the caller's own descent (rb_link_node +
// rb_insert_color): under `parent` on the left or right, or as the root.
void rb_link(rb_root& root, rb_node* node, rb_node* parent, bool left) {
    rb_algo::insert_commit_data d;
    d.link_left = left;
    d.node = parent ? parent : &root.header;
    rb_algo::insert_unique_commit(&root.header, node, d);
}

} // namespace

ksm_stable_node* Ksm::page_stable_node(Pfn page) const {
    const class page& p = as_.ksm_page_flags(page);
    return p.test(PG_ksm) ? reinterpret_cast<ksm_stable_node*>(p.mapping.load()) : nullptr;
}

// folio_set_stable_node(): the page is KSM, its mapping the node (none between the two halves
// of a two-page merge).
void Ksm::folio_set_stable_node(Pfn page, ksm_stable_node* node) {
    stable_gen_++;
    class page& p = as_.ksm_page_flags(page);
    p.set(PG_ksm);
    p.mapping = reinterpret_cast<uint64_t>(node);
}

ksm_stable_node* Ksm::alloc_stable_node() {
    const SlabObj obj =
        slab_.kmem_cache_alloc(stable_node_cache_, GFP_KERNEL | __GFP_HIGH, ksm_percall::cpu);
    if (obj.null()) return nullptr;
    auto* n = new ksm_stable_node;
    n->obj = obj;
    stable_nodes_.insert(n);
    return n;
}

void Ksm::free_stable_node(ksm_stable_node* node) {
    stable_gen_++;
    slab_.kmem_cache_free(stable_node_cache_, node->obj, ksm_percall::cpu);
    stable_nodes_.erase(node);
    delete node;
}

// ksm_get_folio(): the node's page is still the KSM page it names (its mapping points back to
// the node, and it has references); otherwise the node is stale and goes, with its items.
bool Ksm::ksm_get_folio(ksm_stable_node* node) {
    if (as_.ksm_try_get_page(Pfn{node->kpfn}, reinterpret_cast<uint64_t>(node), ksm_percall::cpu))
        return true;
    remove_node_from_stable_tree(node);
    return false;
}

// remove_node_from_stable_tree(): each item leaves the counts (the last one pages_shared, the
// others pages_sharing) and drops its anon_vma; the items stay allocated, volatile.
void Ksm::remove_node_from_stable_tree(ksm_stable_node* node) {
    for (ksm_rmap_item* i = node->hlist; i; i = i->hlist_next)
        stable_item_gone(i, node, !i->hlist_next);
    stable_node_dup_del(node);
    free_stable_node(node);
}

// A stable item leaves its node's counts: pages_shared if it was the node's last (`last`), else
// pages_sharing; its mm's ksm_merging_pages; its anon_vma reference and its flags.
void Ksm::stable_item_gone(ksm_rmap_item* item, ksm_stable_node* node, bool last) {
    stable_gen_++;
    if (last)
        pages_shared_--;
    else
        pages_sharing_--;
    item->mm->ksm_merging_pages--;
    node->rmap_hlist_len--;
    as_.put_anon_vma(item->av, ksm_percall::cpu);
    item->av = nullptr;
    item->head = nullptr;
    item->address &= PAGE_MASK;
}

// remove_rmap_item_from_tree(): a stable item leaves its node's hlist (the node stays, even
// empty, until its page goes); an unstable one leaves the tree if this pass put it there (the
// tree of an earlier pass was forgotten already).
void Ksm::remove_rmap_item_from_tree(ksm_rmap_item* item) {
    if (item->address & STABLE_FLAG) {
        ksm_stable_node* node = item->head;
        if (!ksm_get_folio(node)) return; // the whole node went, this item's flags with it
        const Pfn kpage{node->kpfn};
        *item->hlist_pprev = item->hlist_next;
        if (item->hlist_next) item->hlist_next->hlist_pprev = item->hlist_pprev;
        item->hlist_next = nullptr;
        item->hlist_pprev = nullptr;
        stable_item_gone(item, node, !node->hlist);
        folio_put(kpage);
    } else if (item->address & UNSTABLE_FLAG) {
        const uint8_t age = uint8_t(seqnr_ - item->address);
        if (age > 1) throw KernelBug("ksm: an unstable rmap_item two passes old");
        if (!age) rb_algo::erase(&root_unstable_tree_[item->nid]->header, item);
        pages_unshared_--;
        item->address &= PAGE_MASK;
    }
}

// stable_node_dup_del(): a dup leaves its chain; a node leaves the tree.
void Ksm::stable_node_dup_del(ksm_stable_node* dup) {
    stable_gen_++;
    if (dup->dup) {
        *dup->dup_pprev = dup->dup_next;
        if (dup->dup_next) dup->dup_next->dup_pprev = dup->dup_pprev;
        dup->dup_next = nullptr;
        dup->dup_pprev = nullptr;
        stable_node_dups_--;
    } else {
        rb_algo::erase(&root_stable_tree_[dup->nid]->header, dup);
    }
}

void Ksm::free_stable_node_chain(ksm_stable_node* chain) {
    rb_algo::erase(&root_stable_tree_[chain->nid]->header, chain);
    free_stable_node(chain);
    stable_node_chains_--;
}

// alloc_stable_node_chain(): a chain takes the node's place in the tree, its prune time now, and
// the node becomes its first dup.
ksm_stable_node* Ksm::alloc_stable_node_chain(ksm_stable_node* dup) {
    ksm_stable_node* chain = alloc_stable_node();
    if (!chain) return nullptr;
    chain->kpfn = jiffies(); // chain_prune_time
    chain->rmap_hlist_len = STABLE_NODE_CHAIN;
    chain->nid = dup->nid;
    stable_node_chains_++;
    rb_algo::replace_node(dup, &root_stable_tree_[chain->nid]->header, chain);
    stable_node_chain_add_dup(dup, chain);
    return chain;
}

// stable_node_chain_add_dup(): at the head of the chain's dups.
void Ksm::stable_node_chain_add_dup(ksm_stable_node* dup, ksm_stable_node* chain) {
    stable_gen_++;
    dup->dup = true;
    dup->chain = chain;
    dup->dup_next = chain->dups;
    if (chain->dups) chain->dups->dup_pprev = &dup->dup_next;
    chain->dups = dup;
    dup->dup_pprev = &chain->dups;
    stable_node_dups_++;
}

// stable_node_dup(): the dup of a chain to use. Stale dups go on the way. With pruning (at most
// every stable_node_chains_prune_millisecs) every dup is visited and the sharing candidate with
// the most items wins; without, the first candidate; with no candidate, the first live dup. A
// chain left with one dup collapses into it; one left with none goes. The winner, if it can take
// one more merge, moves to the head.
bool Ksm::stable_node_dup(ksm_stable_node*& out, ksm_stable_node*& chain_io, bool prune) {
    ksm_stable_node* chain = chain_io;
    // time_before(jiffies, chain_prune_time + msecs_to_jiffies(prune_ms)): not yet.
    const uint64_t now = jiffies();
    if (!prune || now < chain->kpfn + msecs_to_jiffies(knobs_.stable_node_chains_prune_millisecs))
        prune = false;
    else
        chain->kpfn = now;
    ksm_stable_node* found = nullptr;
    int found_len = 0;
    // A walk that found no sharing candidate and changed nothing is remembered with the
    // generation of the stable tree's state: until a node, a count, a dup or a KSM page changes,
    // the same walk would visit every dup to the same end (the head, not a candidate), so the
    // head is the answer at once. The kernel walks every time (issue 8's scaling target).
    const uint64_t gen = stable_gen();
    if (!prune && chain->no_candidate_gen == gen) {
        if (ksm_get_folio(chain->dups)) {
            out = chain->dups;
            return true;
        }
        // (Its page went meanwhile, and the dup with it: the walk below.)
    }
    // The dup chosen so far keeps the reference its check took; the others' are put.
    for (ksm_stable_node *d = chain->dups, *next; d; d = next) {
        next = d->dup_next;
        if (!ksm_get_folio(d)) continue;
        if (!found || (is_page_sharing_candidate(d) &&
                       (!is_page_sharing_candidate(found) || d->rmap_hlist_len > found_len))) {
            if (found) folio_put(Pfn{found->kpfn});
            found = d;
            found_len = d->rmap_hlist_len;
            if (!prune && is_page_sharing_candidate(found)) break;
        } else {
            folio_put(Pfn{d->kpfn});
        }
    }
    if (found && !is_page_sharing_candidate(found) && found->dup_next && stable_gen() == gen)
        chain->no_candidate_gen = gen;
    if (found) {
        if (chain->dups == found && !found->dup_next) {
            // The chain collapses: its only dup takes its place.
            rb_algo::replace_node(chain, &root_stable_tree_[chain->nid]->header, found);
            found->nid = chain->nid;
            found->dup = false;
            found->chain = nullptr;
            found->dup_next = nullptr;
            found->dup_pprev = nullptr;
            free_stable_node(chain);
            stable_node_chains_--;
            stable_node_dups_--;
            chain_io = found;
        } else if (chain->dups != found && found->rmap_hlist_len > 0 &&
                   unsigned(found->rmap_hlist_len) + 1 < knobs_.max_page_sharing) {
            *found->dup_pprev = found->dup_next;
            if (found->dup_next) found->dup_next->dup_pprev = found->dup_pprev;
            found->dup_next = chain->dups;
            if (chain->dups) chain->dups->dup_pprev = &found->dup_next;
            chain->dups = found;
            found->dup_pprev = &chain->dups;
        }
    } else {
        free_stable_node_chain(chain);
    }
    out = found;
    return found != nullptr;
}

// __stable_node_chain(): a node's own page, or a chain's chosen dup's.
bool Ksm::stable_node_chain(ksm_stable_node*& dup, ksm_stable_node*& node, bool prune) {
    if (!node->is_chain()) {
        dup = node;
        return ksm_get_folio(node);
    }
    return stable_node_dup(dup, node, prune);
}

// stable_tree_search(): a KSM page (forked here) is its own answer; else the tree is walked by
// content, pruning chains on the way and starting again when a stale node went. An equal page
// that can take one more sharer is the answer; a full one sends the page to the unstable tree.
std::optional<Pfn> Ksm::stable_tree_search(Pfn page) {
    if (page_stable_node(page)) {
        folio_get(page);
        return page;
    }
    rb_root& root = *root_stable_tree_[get_kpfn_nid(page)];
again:
    for (rb_node* cur = root.root(); cur;) {
        auto* node = static_cast<ksm_stable_node*>(cur);
        ksm_stable_node* dup = nullptr;
        if (!stable_node_chain(dup, node, true)) goto again;
        const Pfn tree_page{dup->kpfn};
        const int ret = memcmp_pages(page, tree_page);
        cur = node; // a collapsed chain's dup took the chain's place
        if (ret != 0) folio_put(tree_page);
        if (ret < 0) {
            cur = cur->left_;
        } else if (ret > 0) {
            cur = cur->right_;
        } else {
            if (is_page_sharing_candidate(dup)) return tree_page; // with its reference
            folio_put(tree_page);
            return std::nullopt;
        }
    }
    return std::nullopt;
}

// stable_tree_insert(): a new node for the KSM page a two-page merge made, in the tree, or as
// a dup of a chain (made now if needed) when a page of the same content is there already.
ksm_stable_node* Ksm::stable_tree_insert(Pfn kpage) {
    rb_node* parent;
    bool left = false;
    ksm_stable_node* equal = nullptr;
    const unsigned nid = get_kpfn_nid(kpage);
    rb_root& root = *root_stable_tree_[nid];
again:
    parent = nullptr;
    equal = nullptr;
    for (rb_node* cur = root.root(); cur;) {
        auto* node = static_cast<ksm_stable_node*>(cur);
        ksm_stable_node* dup = nullptr;
        if (!stable_node_chain(dup, node, false)) goto again;
        const int ret = memcmp_pages(kpage, Pfn{dup->kpfn});
        folio_put(Pfn{dup->kpfn});
        parent = node;
        if (ret < 0) {
            left = true;
            cur = parent->left_;
        } else if (ret > 0) {
            left = false;
            cur = parent->right_;
        } else {
            equal = node;
            break;
        }
    }
    ksm_stable_node* n = alloc_stable_node();
    if (!n) return nullptr;
    n->kpfn = kpage.value;
    n->nid = nid;
    if (!equal) {
        rb_link(root, n, parent, left);
    } else {
        ksm_stable_node* chain = equal;
        if (!chain->is_chain()) {
            chain = alloc_stable_node_chain(equal);
            if (!chain) {
                free_stable_node(n);
                return nullptr;
            }
        }
        stable_node_chain_add_dup(n, chain);
    }
    folio_set_stable_node(kpage, n);
    return n;
}

// stable_tree_append(): the item joins the node's hlist (at its head): the first item counts in
// pages_shared, each other in pages_sharing, and in its mm's ksm_merging_pages.
void Ksm::stable_tree_append(ksm_rmap_item* item, ksm_stable_node* node, bool bypass) {
    stable_gen_++;
    (void)bypass; // only the kernel's warning depends on it
    node->rmap_hlist_len++;
    item->head = node;
    item->address |= STABLE_FLAG;
    item->hlist_next = node->hlist;
    if (node->hlist) node->hlist->hlist_pprev = &item->hlist_next;
    node->hlist = item;
    item->hlist_pprev = &node->hlist;
    if (item->hlist_next)
        pages_sharing_++;
    else
        pages_shared_++;
    item->mm->ksm_merging_pages++;
}

// remove_stable_node(): a node whose page is no longer mapped goes (the page's mapping is
// cleared first); a stale one went already; a mapped one stays (-EBUSY).
int Ksm::remove_stable_node(ksm_stable_node* node) {
    if (!ksm_get_folio(node)) return 0;
    const Pfn kpage{node->kpfn};
    class page& p = as_.ksm_page_flags(kpage);
    int err = -EBUSY;
    if (p._mapcount == 0) {
        p.mapping = 0; // folio_set_stable_node(folio, NULL)
        remove_node_from_stable_tree(node);
        err = 0;
    }
    folio_put(kpage);
    return err;
}

// remove_all_stable_nodes() (run=2, after every KSM page was broken): the tree's root node goes
// until none is left (a chain with its dups), or one is still mapped (-EBUSY).
int Ksm::remove_all_stable_nodes() {
    for (auto& root : root_stable_tree_)
        while (rb_node* r = root->root()) {
            auto* node = static_cast<ksm_stable_node*>(r);
            if (!node->is_chain()) {
                if (remove_stable_node(node)) return -EBUSY;
                continue;
            }
            for (ksm_stable_node *d = node->dups, *next; d; d = next) {
                next = d->dup_next;
                if (remove_stable_node(d)) return -EBUSY;
            }
            free_stable_node_chain(node);
        }
    return 0;
}

void Ksm::ksm_rmap_items(
    const page& p,
    const std::function<void(const mm_struct*, const anon_vma*, uint64_t)>& f) const {
    if (!p.test(PG_ksm) || !p.mapping) return;
    const auto* node = reinterpret_cast<const ksm_stable_node*>(p.mapping.load());
    for (const ksm_rmap_item* i = node->hlist; i; i = i->hlist_next)
        f(i->mm, i->av, i->address & PAGE_MASK);
}

} // namespace mmemu
