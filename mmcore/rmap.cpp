// The anonymous reverse map (mm/rmap.c, seed 002): anon_vma_prepare() gives a VMA the anon_vma
// its pages will point to (reusing a neighbour's when the kernel would), unlink_anon_vmas()
// takes it apart when the VMA goes, and folio_add_new_anon_rmap() makes a fresh page anonymous,
// exclusive and mapped once.
#include <map>
#include <set>
#include <vector>

#include "mmcore/address_spaces.h"
#include "mmcore/gfp.h"

namespace mmemu {

namespace {

// anon_vma_compatible(): a and b (a below b) could have been one VMA.
bool anon_vma_compatible(const vm_area_struct* a, const vm_area_struct* b) {
    return a->vm_end == b->vm_start && !((a->vm_flags ^ b->vm_flags) & ~VM_ACCESS_FLAGS) &&
           b->vm_pgoff == a->vm_pgoff + ((b->vm_start - a->vm_start) >> PAGE_SHIFT);
}

// reusable_anon_vma(): old's anon_vma, if a and b are compatible and old has only its own
// chain (no anon_vma inherited through fork).
anon_vma* reusable_anon_vma(const vm_area_struct* old, const vm_area_struct* a,
                            const vm_area_struct* b) {
    if (!anon_vma_compatible(a, b)) return nullptr;
    if (old->anon && old->avc_list && !old->avc_list->same_vma_next) return old->anon;
    return nullptr;
}

// lock_anon_vma_root(): holds the root's rwsem of each anon_vma in turn, changing locks only
// when the root changes (the anon_vmas of one VMA normally share one root).
class RootLock {
public:
    void lock_for(const anon_vma* av) {
        if (held_ == av->root) return;
        unlock();
        held_ = av->root;
        held_->rwsem.down_write();
    }
    void unlock() {
        if (held_) held_->rwsem.up_write();
        held_ = nullptr;
    }
    ~RootLock() { unlock(); }

private:
    const anon_vma* held_ = nullptr;
};

} // namespace

// anon_vma_prepare() -> __anon_vma_prepare(): one anon_vma_chain, and either the anon_vma of a
// neighbour (find_mergeable_anon_vma: the next VMA first, then the previous) or a new one that
// is its own root and parent.
bool AddressSpaces::anon_vma_prepare(vm_area_struct* vma, unsigned cpu) {
    // vma->anon_vma is set here under mmap_lock held only for reading, so other readers (ksmd)
    // read it whole, as it is written (READ_ONCE / WRITE_ONCE).
    if (katomic::read(vma->anon)) return true;
    const SlabObj avc_obj = slab_.kmem_cache_alloc(anon_vma_chain_cachep_, GFP_KERNEL, cpu);
    if (avc_obj.null()) return false;
    mm_struct* mm = vma->vm_mm;
    anon_vma* av = nullptr;
    if (vma->vm_end < mm->task_size) {
        if (auto* next = find_vma(mm, vma->vm_end)) av = reusable_anon_vma(next, vma, next);
    }
    if (!av) {
        if (auto* prev = vma_prev(mm, vma->vm_start)) av = reusable_anon_vma(prev, prev, vma);
    }
    anon_vma* allocated = nullptr;
    if (!av) {
        const SlabObj obj = slab_.kmem_cache_alloc(anon_vma_cachep_, GFP_KERNEL, cpu);
        if (obj.null()) {
            slab_.kmem_cache_free(anon_vma_chain_cachep_, avc_obj, cpu);
            return false;
        }
        av = allocated = new anon_vma;
        av->obj = obj;
        av->num_children++; // the self-parent link of a new root
    }
    // anon_vma_lock_write(), then mm->page_table_lock; another CPU's fault may have given the
    // VMA its anon_vma meanwhile: then what was allocated here goes.
    bool raced = false;
    {
        const WriteGuard av_locked(av->root->rwsem);
        const LockGuard<spinlock_t> pt_locked(mm->page_table_lock);
        if (!vma->anon) {
            link_avc(vma, av, avc_obj);
            katomic::set(vma->anon, av);
            av->num_active_vmas++;
        } else {
            raced = true;
        }
    }
    if (raced) {
        if (allocated) {
            slab_.kmem_cache_free(anon_vma_cachep_, allocated->obj, cpu);
            delete allocated;
        }
        slab_.kmem_cache_free(anon_vma_chain_cachep_, avc_obj, cpu);
    }
    return true;
}

// anon_vma_chain_link(): the chain goes on the VMA's list and into the anon_vma's tree.
void AddressSpaces::link_avc(vm_area_struct* vma, anon_vma* av, SlabObj obj) {
    auto* avc = new anon_vma_chain;
    avc->obj = obj;
    avc->vma = vma;
    avc->av = av;
    avc->same_vma_next = vma->avc_list;
    vma->avc_list = avc;
    avc->same_anon_next = av->rb_root;
    av->rb_root = avc;
}

// anon_vma_clone(): dst links to every anon_vma src links to (one chain each, in src's order).
// For a fork (dst->anon cleared first) one of them that no VMA uses as its own and that has
// fewer than two children becomes dst's own (anon_vma_fork's reuse).
bool AddressSpaces::anon_vma_clone(vm_area_struct* dst, const vm_area_struct* src, unsigned cpu) {
    std::vector<anon_vma*> avs;
    for (const anon_vma_chain* c = src->avc_list; c; c = c->same_vma_next) avs.push_back(c->av);
    // The chains go in under their anon_vma's root's rwsem.
    RootLock locked;
    for (auto it = avs.rbegin(); it != avs.rend(); ++it) {
        anon_vma* av = *it;
        locked.lock_for(av);
        const SlabObj o = slab_.kmem_cache_alloc(anon_vma_chain_cachep_, GFP_KERNEL, cpu);
        if (o.null()) {
            locked.unlock();
            dst->anon = nullptr; // enomem_failure: nothing was counted on it yet
            unlink_anon_vmas(dst, cpu);
            return false;
        }
        link_avc(dst, av, o);
        if (!dst->anon && src->anon && av->num_children < 2 && av->num_active_vmas == 0)
            dst->anon = av;
    }
    if (dst->anon) dst->anon->num_active_vmas++;
    return true;
}

// anon_vma_fork(): the child VMA gets the parent's chains (anon_vma_clone), and unless it could
// reuse one of those anon_vmas, a new one of its own under the parent's (same root, which it
// holds a reference to; the parent gains a child).
bool AddressSpaces::anon_vma_fork(vm_area_struct* vma, vm_area_struct* pvma, unsigned cpu) {
    vma->anon = nullptr;
    vma->avc_list = nullptr;
    if (!pvma->anon) return true;
    if (!anon_vma_clone(vma, pvma, cpu)) return false;
    if (vma->anon) return true;
    const SlabObj avc_obj = slab_.kmem_cache_alloc(anon_vma_chain_cachep_, GFP_KERNEL, cpu);
    const SlabObj av_obj =
        avc_obj.null() ? SlabObj{} : slab_.kmem_cache_alloc(anon_vma_cachep_, GFP_KERNEL, cpu);
    if (av_obj.null()) {
        if (!avc_obj.null()) slab_.kmem_cache_free(anon_vma_chain_cachep_, avc_obj, cpu);
        unlink_anon_vmas(vma, cpu);
        return false;
    }
    auto* av = new anon_vma;
    av->obj = av_obj;
    av->num_active_vmas++;
    av->root = pvma->anon->root;
    av->parent = pvma->anon;
    av->root->refcount++; // get_anon_vma(root)
    vma->anon = av;
    const WriteGuard locked(av->root->rwsem); // anon_vma_lock_write()
    link_avc(vma, av, avc_obj);
    av->parent->num_children++;
    return true;
}

// put_anon_vma(): the last reference frees the anon_vma (__put_anon_vma), and a freed child
// drops its root's.
void AddressSpaces::put_anon_vma(anon_vma* av, unsigned cpu) {
    if (--av->refcount > 0) return;
    anon_vma* root = av->root;
    // anon_vma_free(): an rmap walker may still hold the root's rwsem: wait for it to leave.
    if (root->rwsem.is_locked()) {
        root->rwsem.down_write();
        root->rwsem.up_write();
    }
    slab_.kmem_cache_free(anon_vma_cachep_, av->obj, cpu);
    delete av;
    if (root != av && --root->refcount == 0) {
        slab_.kmem_cache_free(anon_vma_cachep_, root->obj, cpu);
        delete root;
    }
}

// unlink_anon_vmas(): every chain of the VMA leaves its anon_vma; an anon_vma that no chain
// reaches any more drops the reference its VMAs held (put_anon_vma), and a freed child drops
// its root's.
void AddressSpaces::unlink_anon_vmas(vm_area_struct* vma, unsigned cpu) {
    if (!vma->avc_list) {
        if (vma->anon) vma->anon->num_active_vmas--;
        vma->anon = nullptr;
        return;
    }
    // Under the root's rwsem each chain leaves its anon_vma's tree; the chains of anon_vmas
    // that still have others go at once, the emptied ones stay on the VMA's list to be put
    // and freed after the lock is dropped (the put may free the root itself).
    std::vector<anon_vma_chain*> emptied;
    {
        RootLock locked;
        for (anon_vma_chain* avc = vma->avc_list; avc;) {
            anon_vma* av = avc->av;
            locked.lock_for(av);
            anon_vma_chain** pp = &av->rb_root;
            while (*pp != avc) pp = &(*pp)->same_anon_next;
            *pp = avc->same_anon_next;
            anon_vma_chain* next = avc->same_vma_next;
            if (!av->rb_root) {
                av->parent->num_children--;
                emptied.push_back(avc);
            } else {
                slab_.kmem_cache_free(anon_vma_chain_cachep_, avc->obj, cpu);
                delete avc;
            }
            avc = next;
        }
        if (vma->anon) vma->anon->num_active_vmas--;
        vma->anon = nullptr;
    }
    for (anon_vma_chain* avc : emptied) {
        put_anon_vma(avc->av, cpu);
        slab_.kmem_cache_free(anon_vma_chain_cachep_, avc->obj, cpu);
        delete avc;
    }
    vma->avc_list = nullptr;
}

// folio_add_new_anon_rmap(..., RMAP_EXCLUSIVE): mapping = the VMA's anon_vma, index = the linear
// page index, mapped once, AnonExclusive; NR_ANON_MAPPED counts it.
void AddressSpaces::folio_add_new_anon_rmap(page* p, vm_area_struct* vma, uint64_t addr) {
    p->set(PG_anon);
    p->set(PG_anon_exclusive);
    p->set(PG_swapbacked);
    p->mapping = reinterpret_cast<uint64_t>(vma->anon);
    p->index = ((addr - vma->vm_start) >> PAGE_SHIFT) + vma->vm_pgoff;
    p->_mapcount = 1;
    vmstat_.nr_anon_pages++;
}

// rmap_walk() for an anonymous page (rmap_walk_anon(): every VMA chained to the page's
// anon_vma, the page's address there from its index, page_vma_mapped_walk() checking the PTE).
void AddressSpaces::rmap_walk_anon(
    const page& p, Pfn pfn, const std::function<void(const vm_area_struct*, uint64_t)>& f) const {
    const auto* av = reinterpret_cast<const anon_vma*>(p.mapping.load());
    const ReadGuard locked(av->root->rwsem); // anon_vma_lock_read()
    for (const anon_vma_chain* c = av->rb_root; c; c = c->same_anon_next) {
        const vm_area_struct* v = c->vma;
        if (p.index < v->vm_pgoff) continue;
        const uint64_t addr = v->vm_start + ((p.index - v->vm_pgoff) << PAGE_SHIFT);
        if (addr < v->vm_start || addr >= v->vm_end) continue;
        const pteval_t e = lookup_pte(v->vm_mm, addr);
        if (pte_present(e) && !pte_special(e) && pte_pfn(e) == pfn) f(v, addr);
    }
}

// rmap_walk_ksm(): from each rmap_item of the KSM page's stable node, every VMA chained to the
// item's anon_vma that covers its address and maps the page there: the item's own mapping, and
// those a fork copied before ksmd visited the child (each (VMA, address) once).
void AddressSpaces::rmap_walk_ksm(
    const page& p, Pfn pfn, const std::function<void(const vm_area_struct*, uint64_t)>& f) const {
    if (!ksm_) return;
    std::set<std::pair<const vm_area_struct*, uint64_t>> seen;
    ksm_->ksm_rmap_items(p, [&](const mm_struct*, const anon_vma* av, uint64_t addr) {
        const ReadGuard locked(av->root->rwsem); // anon_vma_lock_read()
        for (const anon_vma_chain* c = av->rb_root; c; c = c->same_anon_next) {
            const vm_area_struct* v = c->vma;
            if (addr < v->vm_start || addr >= v->vm_end) continue;
            const pteval_t e = lookup_pte(v->vm_mm, addr);
            if (pte_present(e) && !pte_special(e) && pte_pfn(e) == pfn &&
                seen.insert({v, addr}).second)
                f(v, addr);
        }
    });
}

// The anon_vma side of the invariant checker: every chain of a VMA is on its anon_vma's list and
// points back; a VMA's own anon_vma is one it is chained to; num_active_vmas counts the VMAs
// whose own anon_vma it is; and every mapped anonymous page's anon_vma is a live one from which
// rmap_walk finds exactly the PTEs that map it.
std::string AddressSpaces::audit_rmap(const std::map<uint64_t, int>& maps) const {
    std::set<const anon_vma*> live;
    std::map<const anon_vma*, uint64_t> active;
    std::set<const vm_area_struct*> vmas;
    for (const mm_struct* mm : mms_)
        mm->mm_mt.for_each([&](const MapleRange& r) {
            vmas.insert(reinterpret_cast<const vm_area_struct*>(r.entry));
        });
    for (const vm_area_struct* v : vmas) {
        bool own = false;
        for (const anon_vma_chain* c = v->avc_list; c; c = c->same_vma_next) {
            if (c->vma != v) return "an anon_vma_chain on a VMA's list points to another VMA";
            bool listed = false;
            for (const anon_vma_chain* d = c->av->rb_root; d && !listed; d = d->same_anon_next)
                listed = d == c;
            if (!listed) return "an anon_vma_chain is missing from its anon_vma's list";
            live.insert(c->av);
            own |= c->av == v->anon;
        }
        if (v->anon && !own) return "a VMA's anon_vma is not one it is chained to";
        if (v->anon) active[v->anon]++;
    }
    for (const anon_vma* av : live) {
        if (av->num_active_vmas != active[av])
            return "an anon_vma's num_active_vmas (" + std::to_string(av->num_active_vmas) +
                   ") differs from the VMAs that use it (" + std::to_string(active[av]) + ")";
        for (const anon_vma_chain* c = av->rb_root; c; c = c->same_anon_next)
            if (c->av != av || !vmas.count(c->vma))
                return "an anon_vma's list holds a chain of another anon_vma or a gone VMA";
    }
    for (const auto& [pfn, n] : maps) {
        const page& p = pa_.mem_map()[Pfn{pfn}];
        if (!p.test(PG_anon)) continue;
        if (p.test(PG_ksm)) {
            // rmap_walk_ksm() reaches a mapping through an rmap_item whose anon_vma chains its
            // VMA: a fork's copy is reached through the parent's item, and only until that item
            // leaves the node (the parent wrote, or unmapped, and ksmd saw it); ksmd's visit of
            // the child gives it an item of its own. So it may find fewer mappings than exist,
            // as Linux's may, never more.
            if (!ksm_) return "pfn " + std::to_string(pfn) + " is a KSM page, and there is no KSM";
            int found = 0;
            rmap_walk_ksm(p, Pfn{pfn}, [&](const vm_area_struct*, uint64_t) { found++; });
            if (found > n)
                return "KSM pfn " + std::to_string(pfn) + ": rmap_walk_ksm finds " +
                       std::to_string(found) + " mappings, the page tables " + std::to_string(n);
            continue;
        }
        const auto* av = reinterpret_cast<const anon_vma*>(p.mapping.load());
        if (!live.count(av))
            return "pfn " + std::to_string(pfn) + ": its anon_vma is not linked to any VMA";
        int found = 0;
        rmap_walk_anon(p, Pfn{pfn}, [&](const vm_area_struct*, uint64_t) { found++; });
        if (found != n)
            return "pfn " + std::to_string(pfn) + ": rmap_walk finds " + std::to_string(found) +
                   " mappings, the page tables " + std::to_string(n);
    }
    return {};
}

} // namespace mmemu
