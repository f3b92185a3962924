// The life of an mm_struct (kernel/fork.c: mm_alloc, mm_init, mmput, mmdrop) and the boot steps
// of the process side: the slab caches of fork_init(), proc_caches_init() and maple_tree_init(),
// the zero page, swapper_pg_dir with the direct map, and the CPUs put on it.
#include <algorithm>
#include <set>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"
#include "mmcore/gfp.h"

namespace mmemu {

namespace {
// mmap_base() (arch/x86/mm/mmap.c) with ASLR off and an 8 MiB RLIMIT_STACK: the gap
// RLIMIT_STACK + stack_guard_gap (1 MiB) clamps to 128 MiB, so the base is
// PAGE_ALIGN(DEFAULT_MAP_WINDOW - 128 MiB): 0x7ffff7fff000 on x86_64, 0xb8000000 on i386 with
// the 3G split (linux-process-facts.md section 1).
constexpr uint64_t MIN_GAP = uint64_t{128} << 20;
// NR_CPUS is at most 8 on X86_32 (arch/x86/Kconfig).
constexpr unsigned NR_CPUS_32 = 8;
constexpr uint64_t PHYSICAL_START = uint64_t{16} << 20; // CONFIG_PHYSICAL_START
} // namespace

AddressSpaces::AddressSpaces(Machine& m, PageAllocator& pa, SlabAllocator& slab,
                             const KernelConfig& cfg)
    : machine_(m), ram_(m.ram()), pa_(pa), slab_(slab), cfg_(cfg), current_(m.nr_cpus(), nullptr),
      tlbstate_(m.nr_cpus()), lazyfree_batch_(m.nr_cpus()), deferred_pt_(m.nr_cpus()) {}

AddressSpaces::~AddressSpaces() {
    // The machine is going away: host memory only, nothing given back to emulated allocators.
    // An anon_vma may be shared by VMAs of several mms: each is deleted once, after every
    // chain that points to it.
    tearing_down_ = true;
    std::set<anon_vma*> avs;
    for (mm_struct* mm : mms_) {
        for (const vm_area_struct* v : vmas(mm)) {
            for (const anon_vma_chain* c = v->avc_list; c; c = c->same_vma_next) {
                avs.insert(c->av);
                avs.insert(c->av->root);
            }
            free_host_vma(const_cast<vm_area_struct*>(v));
        }
        delete mm;
    }
    for (anon_vma* av : avs) delete av;
    for (shmem_file* f : shmem_files_) delete f;
}

std::string AddressSpaces::init(const BootLayout& layout) {
    // The caches, in boot order: maple_tree_init() (start_kernel), fork_init() (task_struct),
    // proc_caches_init() (mm_struct, vm_area_struct via vma_state_init), anon_vma_init().
    // Alignments from the kernel's kmem_cache_create() calls (maple_node aligned to its size;
    // SLAB_HWCACHE_ALIGN for task_struct, mm_struct and vm_area_struct). Object sizes:
    //  - x86_64: Linux 6.18.44 as this machine's /sys/kernel/slab/<cache>/object_size gives them.
    //  - i386 and PAE: no 6.18 i386 slabinfo is published; docs/dev/i386-slab-sizes.md works
    //    them out from the struct definitions under i386 rules (mm_struct 832 + cpumask and
    //    mm_cid bitmaps = 844, exact for its config; task_struct about 2176 + the FPU state of
    //    an XSAVE+AVX CPU = 3136 on PAE, 64 bytes less without PAE's 8-byte kmap_ctrl PTEs), and
    //    docs/dev/i386-pae-facts.md section 7 the small ones (vm_area_struct 76 + 4 with
    //    ANON_VMA_NAME, + 4 more for PAE's 8-byte pgprot; anon_vma 52; anon_vma_chain 32;
    //    maple_node 256 on every arch). They are estimates, and the docs say so.
    struct Want {
        const char* name;
        uint64_t size, align;
        uint32_t flags;
        kmem_cache** out;
    };
    kmem_cache* task_cachep = nullptr;
    const Arch arch = machine_.arch();
    const bool is64 = arch == Arch::x86_64, pae = arch == Arch::pae;
    const Want caches[] = {
        {"maple_node", 256, 256, SLAB_PANIC, &maple_node_cache_},
        {"task_struct",
         is64  ? 5824u
         : pae ? 3136u
               : 3072u,
         64, SLAB_PANIC, &task_cachep},
        {"mm_struct", is64 ? 1568u : 844u, 64, SLAB_HWCACHE_ALIGN | SLAB_PANIC, &mm_cachep_},
        {"vm_area_struct",
         is64  ? 192u
         : pae ? 84u
               : 80u,
         0, SLAB_HWCACHE_ALIGN | SLAB_PANIC, &vm_area_cachep_},
        {"anon_vma", is64 ? 96u : 52u, 0, SLAB_PANIC, &anon_vma_cachep_},
        {"anon_vma_chain", is64 ? 64u : 32u, 0, SLAB_PANIC, &anon_vma_chain_cachep_},
        // vfs_caches_init() / shmem_init(): a shared anonymous mapping's inode, dentry and file
        // (docs/dev/shmem-facts.md: x86_64 sizes from this machine's 6.18.44, i386 ones
        // estimated from the structs compiled for ILP32). The dentry cache is reclaimable.
        {"dentry", is64 ? 192u : 128u, 0, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC, &dentry_cachep_},
        {"filp", is64 ? 184u : 124u, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC, &filp_cachep_},
        {"shmem_inode_cache", is64 ? 744u : 496u, 0, SLAB_PANIC, &shmem_inode_cachep_},
    };
    for (const Want& w : caches) {
        std::string err;
        *w.out = slab_.kmem_cache_create(w.name, w.size, w.align, w.flags, std::nullopt, err);
        if (!*w.out) return std::string("kmem_cache_create(") + w.name + "): " + err;
    }
    task_cachep_ = task_cachep;
    const bool is32 = arch_is_32bit(machine_.arch());
    if (is32 && machine_.nr_cpus() > NR_CPUS_32) {
        unsupported_ = "a 32-bit kernel runs on at most 8 CPUs (NR_CPUS on X86_32), this machine "
                       "has " +
                       std::to_string(machine_.nr_cpus());
        return {};
    }
    if (is32)
        pick_format_32(machine_.arch() == Arch::pae);
    else
        pick_format_64(machine_.config().la57);
    kernel_pgd_boundary_ = fmt_.index(page_offset_, 0);
    max_low_pfn_ = layout.max_low_pfn;
    max_pfn_ = layout.max_pfn;
    kmap_idx_.assign(machine_.nr_cpus(), 0);

    // empty_zero_page and swapper_pg_dir are pages of the kernel image (.bss..page_aligned and
    // the page-table section); mmemu places them at its end, the direct map's tables below.
    const uint64_t image_end = PHYSICAL_START + cfg_.kernel_image_bytes;
    if (cfg_.kernel_image_bytes < 8 * PAGE_SIZE || image_end > layout.max_pfn * PAGE_SIZE)
        return "the kernel image is too small to hold the zero page and the boot page tables";
    zero_pfn_ = Pfn{image_end / PAGE_SIZE - 1};
    swapper_pg_dir_ = PhysAddr{image_end - 2 * PAGE_SIZE};
    ram_.fill(pfn_phys(zero_pfn_), 0, PAGE_SIZE);
    ram_.fill(swapper_pg_dir_, 0, PAGE_SIZE);
    if (std::string e = is32 ? paging_init_32(layout) : paging_init_64(layout); !e.empty())
        return e;
    mmap_base_ = (map_window_ - MIN_GAP) & PAGE_MASK;
    ready_ = true;
    return {};
}

SlabObj AddressSpaces::alloc_node() {
    return slab_.kmem_cache_alloc(maple_node_cache_, GFP_KERNEL, mm_percall::cpu);
}

void AddressSpaces::free_node(SlabObj node) {
    if (tearing_down_) return;
    slab_.kmem_cache_free(maple_node_cache_, node, mm_percall::cpu);
}

// mm_alloc() -> mm_init(): the mm_struct object, an empty VMA tree, a PGD with the kernel's half
// (mm_alloc_pgd), a fresh context id (init_new_context: ctx_id from last_mm_ctx_id, which
// init_mm's 1 starts), and the top-down layout (arch_pick_mmap_layout).
mm_struct* AddressSpaces::mm_alloc(unsigned cpu) {
    mm_percall::cpu = cpu;
    const SlabObj obj = slab_.kmem_cache_alloc(mm_cachep_, GFP_KERNEL | __GFP_ACCOUNT, cpu);
    if (obj.null()) return nullptr;
    // The maple tree's node layout follows the word size (maple_tree.h's 64- and 32-bit
    // branches).
    auto* mm =
        new mm_struct(*this, fmt_.levels >= 4 ? MapleGeometry::bits64() : MapleGeometry::bits32());
    mm->obj = obj;
    mm->pgd = pgd_alloc(mm);
    if (mm->pgd.value == 0) {
        slab_.kmem_cache_free(mm_cachep_, obj, cpu);
        delete mm;
        return nullptr;
    }
    mm->context.ctx_id = ++last_mm_ctx_id_;
    mm->task_size = task_size_;
    mm->mmap_base = mmap_base_;
    mm->mmap_legacy_base = (map_window_ / 3 + PAGE_SIZE - 1) & PAGE_MASK; // TASK_UNMAPPED_BASE
    mms_.push_back(mm);
    return mm;
}

// mmput(): the last user's exit_mmap(), then mmdrop() of the users' reference; __mmdrop() frees
// the PGD and the object.
void AddressSpaces::mmput(mm_struct* mm, unsigned cpu) {
    mm_percall::cpu = cpu;
    if (--mm->mm_users > 0) return;
    // __mmput(): KSM hears of it first (ksm_exit), then the address space goes.
    if (ksm_ && mm->mmf_vm_mergeable) ksm_->ksm_exit(mm);
    exit_mmap(mm, cpu);
    // exit_mmap()'s flush freed page tables, so it reached every CPU that had the mm loaded.
    for (const cpu_tlbstate& s : tlbstate_)
        if (s.loaded_mm == mm) throw KernelBug("exit_mmap: a CPU still has the dying mm loaded");
    mmdrop(mm, cpu);
}

// mmdrop(): the last reference to the mm_struct (the users' one, or a holder's such as KSM's
// slot) frees it with its PGD.
void AddressSpaces::mmdrop(mm_struct* mm, unsigned cpu) {
    if (--mm->mm_count > 0) return;
    pgd_free(mm);
    slab_.kmem_cache_free(mm_cachep_, mm->obj, cpu);
    mms_.erase(std::find(mms_.begin(), mms_.end(), mm));
    delete mm;
}

task_struct* AddressSpaces::task_create(const std::string& comm, unsigned cpu) {
    // The new process (a child of init, which has no memory policy) allocates its mm without
    // one, whatever task its CPU ran last.
    static task_struct init_like;
    const mm_percall::PolicyTaskScope as_new(&init_like);
    const SlabObj obj = slab_.kmem_cache_alloc(task_cachep_, GFP_KERNEL, cpu);
    if (obj.null()) return nullptr;
    mm_struct* mm = mm_alloc(cpu);
    if (!mm) {
        slab_.kmem_cache_free(task_cachep_, obj, cpu);
        return nullptr;
    }
    return add_task(comm, mm, cpu, obj);
}

// A task record: pids 1, 2, ... in creation order; a new process (its own thread group).
task_struct* AddressSpaces::add_task(const std::string& comm, mm_struct* mm, unsigned cpu,
                                     SlabObj obj) {
    auto t = std::make_unique<task_struct>();
    t->pid = int(tasks_.size()) + 1;
    t->tgid = t->pid;
    t->comm = comm;
    t->mm = mm;
    t->cpu = cpu;
    t->obj = obj;
    tasks_.push_back(std::move(t));
    return tasks_.back().get();
}

void AddressSpaces::release_task(task_struct* t) {
    t->zombie = false;
    if (task_struct* parent = t->real_parent; parent && t->is_leader()) {
        auto& c = parent->children;
        c.erase(std::find(c.begin(), c.end(), t));
    }
    if (t->obj.null()) return;
    slab_.kmem_cache_free(task_cachep_, t->obj, t->cpu);
    t->obj = SlabObj{};
}

void AddressSpaces::task_exit(task_struct* t, const std::string& reason) {
    if (t->exited) return;
    if (t->is_leader()) {
        for (task_struct* th : std::vector<task_struct*>(t->threads)) task_exit(th, reason);
    } else {
        auto& th = t->group_leader->threads;
        th.erase(std::find(th.begin(), th.end(), t));
    }
    const unsigned cpu = t->cpu;
    mm_percall::cpu = cpu;
    // The CPU it ran on goes idle before the mm is put, lazily keeping the mm loaded (exit_mm ->
    // enter_lazy_tlb; exit_mmap()'s flush moves it to init_mm if this was the mm's last user).
    for (unsigned c = 0; c < current_.size(); c++)
        if (current_[c] == t) set_current(c, nullptr);
    if (t->mm) mmput(t->mm, cpu);
    t->mm = nullptr;
    t->exited = true;
    t->exit_reason = reason;
    // forget_original_parent(): children go to the reaper (the scenario), zombies reaped.
    for (task_struct* c : t->children) {
        c->real_parent = nullptr;
        if (c->zombie) release_task(c);
        for (task_struct* th : c->threads) th->real_parent = nullptr;
    }
    t->children.clear();
    // exit_notify(): a thread is released at once (exit_signal -1); a process becomes a zombie
    // for its parent, or is reaped at once when its parent is the scenario.
    if (!t->is_leader() || !t->real_parent)
        release_task(t);
    else
        t->zombie = true;
}

void AddressSpaces::do_group_exit(task_struct* t, const std::string& reason) {
    task_exit(t->group_leader, reason);
}

bool AddressSpaces::claim_group_exit(task_struct* t, const std::string& reason) {
    task_struct* leader = t->group_leader;
    const std::lock_guard<std::mutex> l(group_exit_lock_);
    if (leader->group_exit || leader->exited) return false;
    leader->group_exit_reason = reason;
    leader->group_exit = true; // after the reason: a reader that sees the flag sees it
    return true;
}

void AddressSpaces::defer_group_exit(task_struct* t) {
    const std::lock_guard<std::mutex> l(group_exit_lock_);
    deferred_group_exits_.push_back(t->group_leader);
}

void AddressSpaces::finish_group_exits() {
    std::vector<task_struct*> leaders;
    {
        const std::lock_guard<std::mutex> l(group_exit_lock_);
        leaders.swap(deferred_group_exits_);
    }
    for (task_struct* leader : leaders)
        if (!leader->exited) do_group_exit(leader, leader->group_exit_reason);
}

task_struct* AddressSpaces::clone_thread(task_struct* t, const std::string& comm, unsigned cpu,
                                         int& err) {
    mm_percall::cpu = cpu;
    err = -ENOMEM;
    const SlabObj obj = slab_.kmem_cache_alloc(task_cachep_, GFP_KERNEL, cpu);
    if (obj.null()) return nullptr;
    // copy_mm() with CLONE_VM: mmget().
    t->mm->mm_users++;
    task_struct* n = add_task(comm, t->mm, cpu, obj);
    task_struct* leader = t->group_leader;
    n->tgid = leader->tgid;
    n->group_leader = leader;
    leader->threads.push_back(n);
    n->real_parent = leader->real_parent;     // CLONE_THREAD: the process's parent
    n->oom_score_adj = leader->oom_score_adj; // one signal_struct
    n->mempolicy = t->mempolicy;              // copy_process(): mpol_dup(), and il_prev
    n->il_prev = t->il_prev;
    err = 0;
    return n;
}

int AddressSpaces::do_wait(task_struct* parent, task_struct* child) {
    parent = parent->group_leader;
    bool any = false;
    for (task_struct* c : parent->children) {
        if (child && c != child) continue;
        any = true;
        if (c->zombie) {
            const int pid = c->pid;
            release_task(c); // release_task(): the task_struct object goes
            return pid;
        }
    }
    return any ? 0 : -ECHILD;
}

// copy_mm() -> dup_mm(): a new mm (mm_alloc: the object, a PGD, a context id) with the parent's
// layout and counters, then dup_mmap().
task_struct* AddressSpaces::do_fork(task_struct* parent, const std::string& comm, unsigned cpu,
                                    int& err) {
    // The work runs on the parent's CPU; `cpu` is where the child will run.
    const unsigned here = parent->cpu;
    mm_percall::cpu = here;
    err = -ENOMEM;
    const SlabObj obj = slab_.kmem_cache_alloc(task_cachep_, GFP_KERNEL, here);
    if (obj.null()) return nullptr;
    mm_struct* mm = mm_alloc(here);
    if (!mm) {
        slab_.kmem_cache_free(task_cachep_, obj, here);
        return nullptr;
    }
    const mm_struct* old = parent->mm;
    mm->mmap_base = old->mmap_base;
    mm->mmap_legacy_base = old->mmap_legacy_base;
    mm->task_size = old->task_size;
    mm->def_flags = 0; // mm_init(): only VM_INIT_DEF_MASK (VM_NOHUGEPAGE) is inherited
    mm->start_code = old->start_code, mm->end_code = old->end_code;
    mm->start_data = old->start_data, mm->end_data = old->end_data;
    mm->start_brk = old->start_brk, mm->brk = old->brk, mm->start_stack = old->start_stack;
    mm->arg_start = old->arg_start, mm->arg_end = old->arg_end;
    mm->env_start = old->env_start, mm->env_end = old->env_end;
    int e = dup_mmap(mm, parent->mm, here);
    // copy_process(): "Let kill terminate clone/fork in the middle" (a parent the OOM killer
    // chose while its memory was being copied).
    if (!e && parent->sigkill_pending) e = -EINTR;
    if (e) {
        mmput(mm, here);
        slab_.kmem_cache_free(task_cachep_, obj, here);
        err = e;
        return nullptr;
    }
    err = 0;
    task_struct* child = add_task(comm, mm, cpu, obj);
    child->oom_score_adj = parent->oom_score_adj; // copy_signal()
    child->mempolicy = parent->mempolicy;         // copy_process(): mpol_dup(), and il_prev
    child->il_prev = parent->il_prev;
    child->real_parent = parent->group_leader;
    parent->group_leader->children.push_back(child);
    return child;
}

// dup_mmap() (mm/mmap.c since 6.16): the child's tree is the parent's copied node for node
// (__mt_dup); out of RCU mode each entry is then replaced in place by the child's copy of the
// VMA (exact fits, no node allocated), a VM_DONTCOPY VMA erased instead; VM_LOCKED does not
// carry over; page tables are copied only for VMAs with an anon_vma (vma_needs_copy), none for
// VM_WIPEONFORK. The parent's TLB is flushed at the end (its PTEs lost write permission).
int AddressSpaces::dup_mmap(mm_struct* mm, mm_struct* oldmm, unsigned cpu) {
    // mmap_write_lock_killable(oldmm), then the child's, nested (SINGLE_DEPTH_NESTING).
    const WriteGuard old_locked(oldmm->mmap_lock);
    const WriteGuard locked(mm->mmap_lock, SINGLE_DEPTH_NESTING);
    // dup_mm()'s copy of the mm_struct carries these; ksm_fork() then registers the child of a
    // registered mm (it resets ksm_merging_pages and ksm_rmap_items, and keeps the inherited
    // ksm_zero_pages, whose PTEs the copy below brings).
    mm->mmf_vm_merge_any = oldmm->mmf_vm_merge_any;
    mm->ksm_zero_pages = oldmm->ksm_zero_pages;
    if (ksm_ && oldmm->mmf_vm_mergeable) ksm_->ksm_fork(mm, oldmm);
    mm->total_vm = oldmm->total_vm;
    mm->data_vm = oldmm->data_vm;
    mm->exec_vm = oldmm->exec_vm;
    mm->stack_vm = oldmm->stack_vm;
    std::vector<vm_area_struct*> parent;
    oldmm->mm_mt.for_each(
        [&](const MapleRange& r) { parent.push_back(reinterpret_cast<vm_area_struct*>(r.entry)); });
    if (!mm->mm_mt.dup_from(oldmm->mm_mt)) return -ENOMEM;
    mm->mm_mt.set_in_rcu(false);
    int err = 0;
    size_t i = 0;
    for (; i < parent.size(); i++) {
        vm_area_struct* mpnt = parent[i];
        if (mpnt->vm_flags & VM_DONTCOPY) {
            if (!mm->mm_mt.erase(mpnt->vm_start, mpnt->vm_end - 1)) {
                err = -ENOMEM;
                break;
            }
            vm_stat_account(mm, mpnt->vm_flags, -int64_t(mpnt->pages()));
            continue;
        }
        vm_area_struct* tmp = vm_area_dup(mpnt);
        if (!tmp) {
            err = -ENOMEM;
            break;
        }
        tmp->vm_mm = mm;
        if (!(tmp->vm_flags & VM_WIPEONFORK) && !anon_vma_fork(tmp, mpnt, cpu)) {
            vm_area_free(tmp);
            err = -ENOMEM;
            break;
        }
        tmp->vm_flags &= ~(VM_LOCKED | VM_LOCKONFAULT);
        if (!store_vma(mm, tmp)) throw KernelBug("dup_mmap: an exact-fit store allocated");
        mm->map_count++;
        if (!(tmp->vm_flags & VM_WIPEONFORK) && mpnt->anon && !copy_page_range(mm, oldmm, mpnt)) {
            err = -ENOMEM;
            i++;
            break;
        }
    }
    // The inherited count against the KSM zero PTEs the copy brought (docs/model.md, "KSM").
    if (oldmm->ksm_zero_pages) {
        uint64_t copied = 0;
        mm->mm_mt.for_each([&](const MapleRange& r) {
            const auto* v = reinterpret_cast<const vm_area_struct*>(r.entry);
            if (v->vm_mm != mm) return; // past a failure: still the parent's VMA
            for_each_pte(mm, v->vm_start, v->vm_end,
                         [&](PhysAddr e, uint64_t) { copied += is_ksm_zero_pte(get_entry(e)); });
        });
        mm->ksm_zero_pages_not_copied = mm->ksm_zero_pages - copied;
    }
    if (err && i < parent.size()) {
        // The entries past the failure still point to the parent's VMAs: they leave the
        // child's tree before it is torn down (the kernel stores XA_ZERO_ENTRY there).
        if (!mm->mm_mt.erase(parent[i]->vm_start, mm->task_size - 1))
            throw KernelBug("dup_mmap: no memory to cut the failed copy short");
        for (size_t j = i; j < parent.size(); j++)
            if (!(parent[j]->vm_flags & VM_DONTCOPY))
                vm_stat_account(mm, parent[j]->vm_flags, -int64_t(parent[j]->pages()));
    }
    mm->mm_mt.set_in_rcu(true);
    flush_tlb_mm_range(oldmm, 0, oldmm->task_size);
    mm->hiwater_rss = mm->get_mm_rss();
    mm->hiwater_vm = mm->total_vm;
    return err;
}

// copy_pte_range() over one VMA: each PTE of the parent is copied to the child; an anonymous
// page gains a mapping and a reference and stops being exclusive (folio_try_dup_anon_rmap_pte);
// in a COW mapping (private, may write) a writable PTE is write-protected in parent and child;
// the child's PTE is made old. The zero page's PTEs are copied as they are.
bool AddressSpaces::copy_page_range(mm_struct* dst, mm_struct* src, const vm_area_struct* svma) {
    const bool cow = (svma->vm_flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE;
    uint64_t copied = 0;
    for (uint64_t a = svma->vm_start; a < svma->vm_end;) {
        const auto sp = pte_offset(src, a);
        const uint64_t pmd_size = fmt_.pmd_size();
        const uint64_t table_end = std::min(svma->vm_end, (a + pmd_size) & ~(pmd_size - 1));
        if (!sp) {
            a = table_end;
            continue;
        }
        PhysAddr se = *sp;
        // The child's PTE table for this PMD_SIZE is made only if the parent's maps something
        // (mmemu's; Linux makes one for every parent table), before the locks: the child's
        // table's, then the parent's, nested (copy_pte_range()).
        {
            uint64_t b = a;
            PhysAddr pe = se;
            while (b < table_end && pte_none(get_entry(pe))) {
                b += PAGE_SIZE;
                pe = PhysAddr{pe.value + fmt_.entry_bytes};
            }
            if (b == table_end) {
                a = table_end;
                continue;
            }
        }
        const auto dp = pte_alloc_walk(dst, a);
        if (!dp) return false;
        const uint64_t dtable = dp->value & PAGE_MASK;
        const PtlHolder dst_ptl(pt_page(*dp));
        const PtlHolder src_ptl(pt_page(se), SINGLE_DEPTH_NESTING);
        for (; a < table_end; a += PAGE_SIZE, se = PhysAddr{se.value + fmt_.entry_bytes}) {
            pteval_t v = get_entry(se);
            if (pte_none(v)) continue;
            if (!pte_special(v)) {
                page* p = pa_.mem_map().pfn_to_page(pte_pfn(v));
                p->_refcount++;
                p->_mapcount++;
                p->clear(PG_anon_exclusive);
                dst->rss_stat[MM_ANONPAGES]++;
            }
            if (cow && pte_write(v)) {
                v &= ~_PAGE_RW;
                set_entry(se, v);
            }
            set_entry(entry_at(PhysAddr{dtable}, fmt_.index(a, fmt_.pte_level())),
                      v & ~_PAGE_ACCESSED);
            copied++;
        }
    }
    charge(mm_percall::cpu, &CostModel::pte_copy, copied);
    return true;
}

// A context switch on `cpu` when the task changes, and switch_mm() to its mm; with no task the
// CPU goes idle in lazy TLB mode (enter_lazy_tlb(): the last mm stays loaded).
void AddressSpaces::set_current(unsigned cpu, task_struct* t) {
    if (current_[cpu] != t) {
        tlbstate_[cpu].context_switches++;
        const uint64_t begin = tracer() ? cpu_ns(cpu) : 0;
        charge(cpu, &CostModel::context_switch);
        if (Tracer* tr = tracer()) {
            const task_struct* prev = current_[cpu];
            tr->slice(cpu, "sched", "context switch", begin, cpu_ns(cpu),
                      {{"prev_pid", uint64_t(prev ? prev->pid : 0)},
                       trace_text("prev_comm", prev ? prev->comm.c_str() : "swapper"),
                       {"next_pid", uint64_t(t ? t->pid : 0)},
                       trace_text("next_comm", t ? t->comm.c_str() : "swapper")});
        }
    }
    current_[cpu] = t;
    if (!t) {
        if (tlbstate_[cpu].loaded_mm) katomic::set(tlbstate_[cpu].is_lazy, true);
        return;
    }
    switch_mm(cpu, t->mm);
}

} // namespace mmemu
