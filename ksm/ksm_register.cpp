// Which mms KSM follows, and undoing its work (mm/ksm.c, Linux 6.18; docs/dev/ksm-facts.md
// sections 4, 5 and 7): ksm_init, __ksm_enter, ksm_madvise, ksm_fork, ksm_exit, and run=2's
// unmerge_and_remove_all_rmap_items.
#include <xxhash.h>

#include "ksm/ksm.h"

namespace mmemu {

Ksm::Ksm(AddressSpaces& as, SlabAllocator& slab, PhysicalMemory& ram, bool is_64bit,
         unsigned nr_node_ids)
    : as_(as), slab_(slab), ram_(ram), is_64bit_(is_64bit), scan_slot_(slots_.head()),
      nr_node_ids_(nr_node_ids) {
    for (unsigned n = 0; n < nr_node_ids; n++) {
        root_stable_tree_.push_back(std::make_unique<rb_root>());
        root_unstable_tree_.push_back(std::make_unique<rb_root>());
    }
}

// The host side of every object goes with the machine (the slab objects go with the kernel,
// which outlives KSM): an item's reference to an anon_vma is dropped, so that one no VMA uses
// any more goes too.
Ksm::~Ksm() {
    for (mm_slot* s = slots_.head()->next; s != slots_.head();) {
        auto* ks = static_cast<ksm_mm_slot*>(s);
        s = s->next;
        for (ksm_rmap_item* i = ks->rmap_list; i;) {
            ksm_rmap_item* next = i->rmap_list;
            if (i->av) as_.put_anon_vma(i->av, 0);
            delete i;
            i = next;
        }
        delete ks;
    }
    for (ksm_stable_node* n : stable_nodes_) delete n;
}

// ksm_init() -> ksm_slab_init(): KMEM_CACHE(struct, 0) for the three structs, aligned as the
// struct is (8 on x86_64, 4 on i386, raised to arch_slab_minalign() 8): ksm_rmap_item 64 / 40
// (36 bytes of struct), ksm_stable_node 64 / 32, ksm_mm_slot 48 / 24 (docs/dev/ksm-facts.md 8;
// this machine's /sys/kernel/slab/ksm_*/object_size: 64, 64, 48). zero_checksum: the zero
// page's (i386: xxh32 0x475546f5; x86_64: the low half of xxh64, 0x32d8bbdb).
std::string Ksm::init(unsigned cpu) {
    struct Cache {
        const char* name;
        uint64_t size64, size32;
        kmem_cache** out;
    };
    const Cache caches[] = {{"ksm_rmap_item", 64, 40, &rmap_item_cache_},
                            {"ksm_stable_node", 64, 32, &stable_node_cache_},
                            {"ksm_mm_slot", 48, 24, &mm_slot_cache_}};
    for (const Cache& c : caches) {
        std::string err;
        *c.out = slab_.kmem_cache_create(c.name, is_64bit_ ? c.size64 : c.size32, 8, 0,
                                         std::nullopt, err, cpu);
        if (!*c.out) return std::string("kmem_cache_create(") + c.name + "): " + err;
    }
    rmap_item_size_ = is_64bit_ ? 64 : 36;
    zero_checksum_ = calc_checksum(as_.zero_pfn());
    return "";
}

// __ksm_enter(): a slot for mm, hashed, and on the list just before the cursor's slot (so the
// mm is first scanned in the pass after the current one; at the tail while run is 2);
// MMF_VM_MERGEABLE, a reference to the mm (mmgrab). The first slot wakes ksmd.
int Ksm::__ksm_enter(mm_struct* mm) {
    const SlabObj obj =
        slab_.kmem_cache_alloc(mm_slot_cache_, GFP_KERNEL | __GFP_ZERO, ksm_percall::cpu);
    if (obj.null()) return -ENOMEM;
    auto* s = new ksm_mm_slot;
    s->obj = obj;
    {
        const LockGuard<spinlock_t> mmlist(ksm_mmlist_lock_);
        if (!slots_.head()->on_list()) katomic::set(wakeups_.thread_wait, true); // wakes ksmd
        slots_.insert(mm, s);
        MmSlotRegistry<10>::list_add_tail(s, knobs_.run == 2 ? slots_.head() : scan_slot_);
    }
    mm->mmf_vm_mergeable = true;
    as_.mmgrab(mm);
    return 0;
}

// The slot leaves the hash and the list (under ksm_mmlist_lock); then it goes (free_mm_slot()),
// the mm is no longer registered, and its reference drops. In 6.18.0 MMF_VM_MERGE_ANY is
// cleared with MMF_VM_MERGEABLE.
void Ksm::unlink_mm_slot(ksm_mm_slot* s) {
    MmSlotRegistry<10>::hash_del(s);
    MmSlotRegistry<10>::list_del(s);
}

void Ksm::free_mm_slot(ksm_mm_slot* s) {
    mm_struct* mm = s->mm;
    slab_.kmem_cache_free(mm_slot_cache_, s->obj, ksm_percall::cpu);
    delete s;
    mm->mmf_vm_mergeable = false;
    mm->mmf_vm_merge_any = false;
    as_.mmdrop(mm, ksm_percall::cpu);
}

// ksm_madvise(): MADV_MERGEABLE marks the range (a silent no-op for a VMA already marked, or
// one KSM cannot merge: shared, VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP, VM_HUGETLB),
// registering the mm first; MADV_UNMERGEABLE breaks every KSM page of the range (unshare faults)
// and clears the mark. The rmap_items stay for ksmd's next visit.
int Ksm::ksm_madvise(mm_struct* mm, vm_area_struct* vma, uint64_t start, uint64_t end, int advice,
                     vm_flags_t& vm_flags, unsigned cpu) {
    ksm_percall::cpu = cpu;
    if (advice == MADV_MERGEABLE) {
        if (vm_flags & VM_MERGEABLE) return 0;
        if (!ksm_compatible(vm_flags)) return 0;
        if (!mm->mmf_vm_mergeable)
            if (const int e = __ksm_enter(mm); e) return e;
        vm_flags |= VM_MERGEABLE;
        return 0;
    }
    if (!(vm_flags & VM_MERGEABLE)) return 0;
    if (vma->anon) {
        task_struct* t = as_.current(cpu);
        if (const int e = unmerge_ksm_pages(vma, start, end, t && t->mm == mm ? t : nullptr); e)
            return e;
    }
    vm_flags &= ~VM_MERGEABLE;
    return 0;
}

// ksm_enable_merge_any(): the mm registers, and every compatible VMA becomes mergeable (later
// ones are, from birth: ksm_vma_flags). ksm_disable_merge_any(): every mergeable VMA, madvised
// ones too, is unmerged and unmarked; on an error every one is marked again.
int Ksm::prctl_set_memory_merge(mm_struct* mm, bool on, unsigned cpu) {
    ksm_percall::cpu = cpu;
    const WriteGuard mmap_locked(mm->mmap_lock); // prctl: mmap_write_lock_killable()
    std::vector<vm_area_struct*> vmas;
    for (const vm_area_struct* v : as_.vmas(mm)) vmas.push_back(const_cast<vm_area_struct*>(v));
    if (on) {
        if (mm->mmf_vm_merge_any) return 0;
        if (!mm->mmf_vm_mergeable)
            if (const int e = __ksm_enter(mm); e) return e;
        mm->mmf_vm_merge_any = true;
        for (vm_area_struct* v : vmas) v->vm_flags = ksm_vma_flags(mm, v->vm_flags);
        return 0;
    }
    if (!mm->mmf_vm_merge_any) return 0;
    task_struct* t = as_.current(cpu);
    for (vm_area_struct* v : vmas) {
        if (!(v->vm_flags & VM_MERGEABLE)) continue;
        int e = 0;
        if (v->anon)
            e = unmerge_ksm_pages(v, v->vm_start, v->vm_end, t && t->mm == mm ? t : nullptr);
        if (e) {
            for (vm_area_struct* w : vmas)
                if (ksm_compatible(w->vm_flags)) w->vm_flags |= VM_MERGEABLE;
            return e;
        }
        v->vm_flags &= ~VM_MERGEABLE;
    }
    mm->mmf_vm_merge_any = false;
    return 0;
}

// max_page_sharing_store(): at least 2; a change needs no KSM page (pages_shared 0) and every
// stable node removable, else EBUSY.
// unmerge_ksm_pages(): break_ksm() at each page of the range.
int Ksm::unmerge_ksm_pages(vm_area_struct* vma, uint64_t start, uint64_t end, task_struct* t) {
    for (uint64_t a = start; a < end; a += PAGE_SIZE) {
        if (vma->vm_mm->mm_users == 0) return 0; // ksm_test_exit()
        if (const int e = as_.break_ksm(vma, a, t, ksm_percall::cpu); e) return e;
    }
    return 0;
}

// ksm_fork(): the child of a registered mm is registered (best effort), with no merging pages
// or rmap_items of its own yet; the KSM zero pages it inherited count globally too.
void Ksm::ksm_fork(mm_struct* mm, mm_struct* oldmm) {
    (void)oldmm;
    mm->ksm_merging_pages = 0;
    mm->ksm_rmap_items = 0;
    ksm_zero_pages_ += int64_t(mm->ksm_zero_pages);
    (void)__ksm_enter(mm);
}

// __ksm_exit(): a slot with no rmap_items that is not the cursor's goes at once; one with items
// moves to just after the cursor, for ksmd to free with its items on its next visit; the
// cursor's own slot is left for ksmd.
void Ksm::ksm_exit(mm_struct* mm) {
    ksm_mm_slot* s;
    bool easy_to_free = false;
    {
        const LockGuard<spinlock_t> mmlist(ksm_mmlist_lock_);
        s = static_cast<ksm_mm_slot*>(slots_.lookup(mm));
        if (s && s != scan_slot_) {
            if (!s->rmap_list) {
                unlink_mm_slot(s);
                easy_to_free = true;
            } else {
                MmSlotRegistry<10>::list_del(s);
                MmSlotRegistry<10>::list_add_tail(s, scan_slot_->next);
            }
        }
    }
    if (easy_to_free) {
        free_mm_slot(s);
    } else if (s) {
        // mmap_write_lock(); mmap_write_unlock(): waits until ksmd, which may be working on the
        // mm under its read lock, is done with it.
        mm->mmap_lock.down_write();
        mm->mmap_lock.up_write();
    }
}

// unmerge_and_remove_all_rmap_items() (run=2): every KSM page of every registered mm's mergeable
// VMAs is broken, every rmap_item freed (an exiting mm's slot with them), every stable node
// removed, and the pass count reset; the live mms stay registered.
int Ksm::unmerge_and_remove_all_rmap_items(unsigned cpu) {
    ksm_percall::cpu = cpu;
    for (mm_slot* s = slots_.head()->next; s != slots_.head();) {
        auto* ks = static_cast<ksm_mm_slot*>(s);
        scan_slot_ = s;
        mm_struct* mm = s->mm;
        {
            const ReadGuard mmap_locked(mm->mmap_lock);
            if (mm->mm_users > 0) {
                for (const vm_area_struct* cv : as_.vmas(mm)) {
                    auto* v = const_cast<vm_area_struct*>(cv);
                    if (!(v->vm_flags & VM_MERGEABLE) || !v->anon) continue;
                    if (const int e = unmerge_ksm_pages(v, v->vm_start, v->vm_end, nullptr); e) {
                        scan_slot_ = slots_.head();
                        return e;
                    }
                }
            }
            remove_trailing_rmap_items(&ks->rmap_list);
        }
        const bool exited = mm->mm_users == 0;
        {
            const LockGuard<spinlock_t> mmlist(ksm_mmlist_lock_);
            s = s->next;
            if (exited) unlink_mm_slot(ks);
        }
        if (exited) free_mm_slot(ks);
    }
    scan_slot_ = slots_.head();
    (void)remove_all_stable_nodes(); // -EBUSY is ignored here, as the kernel ignores it
    seqnr_ = 0;
    return 0;
}

// calc_checksum(): xxhash of the page, seed 0, truncated to 32 bits (xxh64 on a 64-bit kernel,
// xxh32 on a 32-bit one).
uint32_t Ksm::calc_checksum(Pfn page) const {
    work_.checksums++;
    const uint8_t* p = ram_.frame(page);
    return is_64bit_ ? uint32_t(XXH64(p, PAGE_SIZE, 0)) : XXH32(p, PAGE_SIZE, 0);
}

// calc_checksum() of the item's page, where the item's memo (ksm_types.h) spares the host
// from hashing bytes that have not changed since it last hashed them. After a scan's checksum
// step oldchecksum always holds the checksum of the bytes then, so it is the memo's value.
uint32_t Ksm::item_checksum(ksm_rmap_item* item, Pfn page) const {
    const uint64_t gen = ram_.write_generation(page); // before the bytes are read
    if (item->csum_pfn == page.value && item->csum_gen == gen) {
        work_.checksums++;
        return item->oldchecksum;
    }
    item->csum_pfn = page.value;
    item->csum_gen = gen;
    return calc_checksum(page);
}

KsmStats Ksm::stats() const {
    KsmStats s;
    s.pages_shared = pages_shared_;
    s.pages_sharing = pages_sharing_;
    s.pages_unshared = pages_unshared_;
    // pages_volatile_show(): the items in no tree, never below 0.
    s.pages_volatile = std::max<int64_t>(
        0, int64_t(rmap_items_) - int64_t(pages_shared_ + pages_sharing_ + pages_unshared_));
    s.pages_scanned = pages_scanned_;
    s.pages_skipped = pages_skipped_;
    s.full_scans = seqnr_;
    s.stable_node_chains = stable_node_chains_;
    s.stable_node_dups = stable_node_dups_;
    s.ksm_zero_pages = ksm_zero_pages_;
    // general_profit_show(): what sharing and zero pages save, minus the rmap_items' cost.
    s.general_profit = (int64_t(pages_sharing_) + ksm_zero_pages_) * int64_t(PAGE_SIZE) -
                       int64_t(rmap_items_ * rmap_item_size_);
    s.ksm_rmap_items = rmap_items_;
    return s;
}

} // namespace mmemu
