// Kernel samepage merging (mm/ksm.c, Linux 6.18; ../shared/reference/linux-mm-facts.md section 1
// and docs/dev/ksm-facts.md): the registry of mergeable mms, ksmd's scan, the stable and unstable
// trees ordered by page content, stable node chains, the knobs and statistics of
// /sys/kernel/mm/ksm. It implements mmcore's KsmHooks; the page-table edits it decides on are
// mmcore's (ksm_page_tables.cpp). The work is split as ksm.c's is:
//   ksm_register.cpp   __ksm_enter, ksm_madvise, ksm_fork, ksm_exit, run=2's unmerge
//   ksm_scan.cpp       ksm_do_scan, scan_get_next_rmap_item, cmp_and_merge_page, smart_scan
//   stable_tree.cpp    stable_tree_search / insert / append, chains and dups, staleness
//   unstable_tree.cpp  unstable_tree_search_insert, get_mergeable_page
//   ksm_merge.cpp      try_to_merge_*, break_cow, the zero-page merge
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include "emulator/phys_mem.h"
#include "ksm/ksm_knobs.h"
#include "ksm/ksm_types.h"
#include "mmcore/address_spaces.h"
#include "mmcore/ksm.h"
#include "mmcore/slab.h"

namespace mmemu {

// The state of the KSM call in progress on the calling thread: the CPU it runs on (ksmd's in a
// batch, a vCPU's in madvise, prctl or a knob write). Thread-local, not a member: in the
// concurrent mode ksmd and the vCPU threads run KSM code at once.
namespace ksm_percall {
inline thread_local unsigned cpu = 0;
} // namespace ksm_percall

// CONFIG_HZ (Debian's 250: jiffies are 4 ms) and INITIAL_JIFFIES ((unsigned int)(-300 * HZ)):
// jiffies at virtual time 0 (the timer wheel rounds absolute jiffies; docs/dev/ksm-facts.md 11).
inline constexpr uint64_t KSM_HZ = 250, NS_PER_JIFFY = 1000000000 / KSM_HZ;
inline constexpr uint64_t INITIAL_JIFFIES = 0xFFFEDB08;
// msecs_to_jiffies() at HZ 250: rounded up to whole jiffies.
inline constexpr uint64_t msecs_to_jiffies(uint64_t ms) {
    return (ms + 1000 / KSM_HZ - 1) / (1000 / KSM_HZ);
}

// /sys/kernel/mm/ksm's knobs, with the kernel's defaults.
struct KsmKnobs {
    unsigned run = 0;              // 0 stopped, 1 running, 2 stopped and everything unmerged
    unsigned pages_to_scan = 100;  // rmap_items per batch
    unsigned sleep_millisecs = 20; // between batches
    bool merge_across_nodes = true;
    bool use_zero_pages = false;
    unsigned max_page_sharing = 256;
    unsigned stable_node_chains_prune_millisecs = 2000;
    bool smart_scan = true;
    bool advisor_scan_time = false; // advisor_mode: none, or scan-time
    unsigned advisor_max_cpu = 70;  // percent
    uint64_t advisor_min_pages_to_scan = 500, advisor_max_pages_to_scan = 30000;
    uint64_t advisor_target_scan_time = 200; // seconds
};

// The global statistics files (their definitions: linux-mm-facts.md 1.12).
struct KsmStats {
    uint64_t pages_shared = 0, pages_sharing = 0, pages_unshared = 0;
    int64_t pages_volatile = 0;
    uint64_t pages_scanned = 0, pages_skipped = 0, full_scans = 0;
    uint64_t stable_node_chains = 0, stable_node_dups = 0;
    int64_t ksm_zero_pages = 0;
    int64_t general_profit = 0;
    uint64_t ksm_rmap_items = 0;
};

// What ksmd did that costs it time (ksm/ksmd.cpp turns it into virtual time with the cost
// model's ksm_* entries): pages visited (scanned or skipped), checksums, page comparisons, and
// merges (a page write-protected, and its PTE replaced when it joins a KSM page).
struct KsmWork {
    uint64_t visits = 0, checksums = 0, compares = 0, merges = 0;
};

// Who woke ksmd's wait queues since ksmd last looked: ksm_thread_wait (a write of run with bit 0,
// the first mm registered) and ksm_iter_wait (a write of sleep_millisecs).
struct KsmWakeups {
    bool thread_wait = false, iter_wait = false;
};

// The clock ksmd's work reads (its own, ksm/ksmd.h): virtual time and ksmd's CPU time so far, in
// ns, at this point of the batch; the scan-time advisor and chain pruning read it.
class KsmClock {
public:
    virtual uint64_t now_ns() const = 0;
    virtual uint64_t ksmd_cputime_ns() const = 0;

protected:
    ~KsmClock() = default;
};

class Ksm final : public KsmHooks {
public:
    Ksm(AddressSpaces& as, SlabAllocator& slab, PhysicalMemory& ram, bool is_64bit,
        unsigned nr_node_ids);
    ~Ksm() override;
    Ksm(const Ksm&) = delete;
    Ksm& operator=(const Ksm&) = delete;

    // ksm_init(): the slab caches (ksm_rmap_item, ksm_stable_node, ksm_mm_slot) and the zero
    // page's checksum. "" or why it failed.
    std::string init(unsigned cpu);

    // ksm_do_scan(): one batch of ksmd, up to `pages` rmap_items, on `cpu` at virtual time
    // `now_ms` (chain pruning's clock).
    void ksm_do_scan(unsigned pages, uint64_t now_ms, unsigned cpu);
    // ksmd_should_run(): run has bit 0 and some mm is registered.
    bool ksmd_should_run() const { return (knobs_.run & 1) && ksmd_should_have_work(); }
    // Some mm is registered (the mm_slot list is not empty).
    bool ksmd_should_have_work() const {
        const LockGuard<spinlock_t> mmlist(ksm_mmlist_lock_); // __ksm_enter() may add one now
        return slots_.head()->on_list();
    }

    // A write of `v` to a knob's file (ksm_knobs.cpp), within its parser's range
    // (KsmKnobSpec): 0 or -errno. Under ksm_thread_mutex, so never in the middle of a batch.
    int store_knob(KsmKnob k, int64_t v, unsigned cpu);
    int set_run(unsigned v, unsigned cpu) { return store_knob(KsmKnob::run, v, cpu); }
    int64_t knob_value(KsmKnob k) const;
    // ksmd's clock (ksm/ksmd.h), or none (the tests' batches: then now_ms of ksm_do_scan).
    void set_clock(const KsmClock* c) { clock_ = c; }
    // The run's timeline, or nullptr (emulator/trace.h).
    Tracer* tracer() const { return as_.tracer(); }
    // What ksmd did so far, for its costs.
    const KsmWork& work() const { return work_; }
    // The wake-ups made since the last call.
    // (Atomic exchanges: a vCPU's __ksm_enter() may wake ksmd while it takes them.)
    KsmWakeups take_wakeups() {
        return {std::atomic_ref<bool>(wakeups_.thread_wait).exchange(false),
                std::atomic_ref<bool>(wakeups_.iter_wait).exchange(false)};
    }
    KsmKnobs& knobs() { return knobs_; }
    const KsmKnobs& knobs() const { return knobs_; }
    KsmStats stats() const;
    uint64_t seqnr() const { return seqnr_; }
    // What the concurrent mode's ksm_wait reads while ksmd runs, between two of its batches
    // (under ksm_thread_mutex: the advisor changes pages_to_scan in a batch).
    struct ScanState {
        uint64_t seqnr = 0;
        bool should_run = false;
        unsigned pages_to_scan = 0, run = 0;
    };
    ScanState scan_state() const {
        const LockGuard<kernel_mutex> locked(ksm_thread_mutex_);
        return {seqnr_, ksmd_should_run(), knobs_.pages_to_scan, knobs_.run};
    }
    uint32_t zero_checksum() const { return zero_checksum_; }
    size_t rmap_item_size() const { return rmap_item_size_; }
    // CONFIG_NUMA: the x86_64 kernel (merge_across_nodes exists).
    bool has_numa() const { return is_64bit_; }

    // KsmHooks.
    int ksm_madvise(mm_struct* mm, vm_area_struct* vma, uint64_t start, uint64_t end, int advice,
                    vm_flags_t& vm_flags, unsigned cpu) override;
    void ksm_fork(mm_struct* mm, mm_struct* oldmm) override;
    int ksm_execve(mm_struct* mm) override { return __ksm_enter(mm); }
    void ksm_exit(mm_struct* mm) override;
    // prctl(PR_SET_MEMORY_MERGE, on) (ksm_enable_merge_any / ksm_disable_merge_any) and
    // PR_GET_MEMORY_MERGE: 0 or -errno; 0 or 1.
    int prctl_set_memory_merge(mm_struct* mm, bool on, unsigned cpu);
    int prctl_get_memory_merge(const mm_struct* mm) const { return mm->mmf_vm_merge_any; }
    // The knobs' writes (/sys/kernel/mm/ksm *_store, docs/dev/ksm-facts.md 9): 0 or -errno.
    int run_store(unsigned v, unsigned cpu);
    int store_max_page_sharing(int64_t v, unsigned cpu);
    // merge_across_nodes_store(): 0 or 1, on a kernel with CONFIG_NUMA (x86_64; -ENOENT on
    // i386, where the file does not exist); a change needs no KSM page, else EBUSY.
    int store_merge_across_nodes(uint64_t v, unsigned cpu);
    void store_advisor_mode(bool scan_time);
    void ksm_zero_page_unmapped() override { ksm_zero_pages_--; }
    void ksm_rmap_items(
        const page& p,
        const std::function<void(const mm_struct*, const anon_vma*, uint64_t)>& f) const override;

private:
    // ---- registration (ksm_register.cpp) ----
    int __ksm_enter(mm_struct* mm);
    void unlink_mm_slot(ksm_mm_slot* s);
    void free_mm_slot(ksm_mm_slot* s);
    int unmerge_ksm_pages(vm_area_struct* vma, uint64_t start, uint64_t end, task_struct* t);
    int unmerge_and_remove_all_rmap_items(unsigned cpu);
    // ---- the scan (ksm_scan.cpp) ----
    ksm_rmap_item* scan_get_next_rmap_item(Pfn& page);
    ksm_rmap_item* get_next_rmap_item(ksm_mm_slot* s, ksm_rmap_item** rmap_list, uint64_t addr);
    void remove_trailing_rmap_items(ksm_rmap_item** rmap_list);
    bool should_skip_rmap_item(Pfn page, ksm_rmap_item* item);
    void cmp_and_merge_page(Pfn page, ksm_rmap_item* item);
    uint32_t calc_checksum(Pfn page) const;
    uint32_t item_checksum(ksm_rmap_item* item, Pfn page) const;
    ksm_rmap_item* alloc_rmap_item();
    void free_rmap_item(ksm_rmap_item* item);
    // ---- the stable tree (stable_tree.cpp) ----
    ksm_stable_node* page_stable_node(Pfn page) const;
    // ksm_get_folio(): a reference to the node's page (put with folio_put()); false: stale
    // (the node was removed).
    bool ksm_get_folio(ksm_stable_node* node);
    // folio_get() of a page ksmd already holds a reference to, and folio_put() of ksmd's
    // references (the last one frees the page).
    void folio_get(Pfn page) { as_.ksm_page_flags(page)._refcount++; }
    void folio_put(Pfn page) { as_.ksm_put_page(page, ksm_percall::cpu); }
    void remove_node_from_stable_tree(ksm_stable_node* node);
    void remove_rmap_item_from_tree(ksm_rmap_item* item);
    void stable_item_gone(ksm_rmap_item* item, ksm_stable_node* node, bool last);
    void stable_node_dup_del(ksm_stable_node* dup);
    void free_stable_node_chain(ksm_stable_node* chain);
    ksm_stable_node* alloc_stable_node();
    void free_stable_node(ksm_stable_node* node);
    ksm_stable_node* alloc_stable_node_chain(ksm_stable_node* dup);
    void stable_node_chain_add_dup(ksm_stable_node* dup, ksm_stable_node* chain);
    // __stable_node_chain(): the node's page (or, for a chain, a dup's), with `dup` set and a
    // reference to its page; false when the node went stale (it, or the chain, was removed).
    bool stable_node_chain(ksm_stable_node*& dup, ksm_stable_node*& node, bool prune);
    bool stable_node_dup(ksm_stable_node*& dup, ksm_stable_node*& chain, bool prune);
    bool is_page_sharing_candidate(const ksm_stable_node* n) const {
        return n->rmap_hlist_len > 0 && unsigned(n->rmap_hlist_len) < knobs_.max_page_sharing;
    }
    // stable_tree_search(): the KSM page to merge `page` with (pfn, with a reference), none, or
    // (busy) none.
    std::optional<Pfn> stable_tree_search(Pfn page);
    ksm_stable_node* stable_tree_insert(Pfn kpage);
    void stable_tree_append(ksm_rmap_item* item, ksm_stable_node* node, bool bypass);
    int remove_stable_node(ksm_stable_node* node);
    int remove_all_stable_nodes();
    // ---- the unstable tree (unstable_tree.cpp) ----
    ksm_rmap_item* unstable_tree_search_insert(ksm_rmap_item* item, Pfn page, Pfn& tree_page);
    std::optional<Pfn> get_mergeable_page(ksm_rmap_item* item);
    // ---- merging (ksm_merge.cpp) ----
    vm_area_struct* find_mergeable_vma(mm_struct* mm, uint64_t addr) const;
    int try_to_merge_one_page(vm_area_struct* vma, uint64_t addr, Pfn page,
                              std::optional<Pfn> kpage);
    int try_to_merge_with_ksm_page(ksm_rmap_item* item, Pfn page, std::optional<Pfn> kpage);
    bool try_to_merge_two_pages(ksm_rmap_item* item, Pfn page, ksm_rmap_item* tree_item,
                                Pfn tree_page);
    int try_to_merge_with_zero_page(ksm_rmap_item* item, Pfn page);
    void break_cow(ksm_rmap_item* item);
    int memcmp_pages(Pfn a, Pfn b) const;
    void folio_set_stable_node(Pfn page, ksm_stable_node* node);

    AddressSpaces& as_;
    SlabAllocator& slab_;
    PhysicalMemory& ram_;
    const bool is_64bit_;
    size_t rmap_item_size_ = 64; // sizeof(struct ksm_rmap_item): general_profit's unit
    kmem_cache* rmap_item_cache_ = nullptr;
    kmem_cache* stable_node_cache_ = nullptr;
    kmem_cache* mm_slot_cache_ = nullptr;
    KsmKnobs knobs_;
    MmSlotRegistry<10> slots_; // MM_SLOTS_HASH_BITS
    // ksm_thread_mutex: a batch (ksm_scan_thread) and a knob write exclude each other;
    // ksm_mmlist_lock: the slot list and hash (__ksm_enter, __ksm_exit, the cursor's moves).
    mutable kernel_mutex ksm_thread_mutex_{LockClass::ksm_thread_mutex};
    mutable spinlock_t ksm_mmlist_lock_{LockClass::ksm_mmlist_lock};
    // ksm_scan: the cursor.
    mm_slot* scan_slot_;                       // ksm_scan.mm_slot (the head: between passes)
    uint64_t scan_address_ = 0;                // ksm_scan.address
    ksm_rmap_item** scan_rmap_list_ = nullptr; // ksm_scan.rmap_list
    katomic_u64 seqnr_ = 0;                    // ksm_scan.seqnr: full_scans
    // root_stable_tree[] and root_unstable_tree[]: one of each (index 0) with merge_across_nodes,
    // else one per NUMA node (ksm_nr_node_ids of them are in use).
    std::vector<std::unique_ptr<rb_root>> root_stable_tree_, root_unstable_tree_;
    unsigned nr_node_ids_ = 1;
    // get_kpfn_nid(): the tree a frame's page belongs in.
    unsigned get_kpfn_nid(Pfn pfn) const {
        return knobs_.merge_across_nodes ? 0 : as_.ksm_page_flags(pfn).nid();
    }
    // The counters ksm.c keeps.
    // (Atomic: ksmd and the vCPUs' unmerges and exits change them at once.)
    katomic_u64 pages_shared_ = 0, pages_sharing_ = 0, pages_unshared_ = 0;
    katomic_u64 rmap_items_ = 0, pages_scanned_ = 0, pages_skipped_ = 0;
    katomic_u64 stable_node_chains_ = 0, stable_node_dups_ = 0;
    katomic_s64 ksm_zero_pages_ = 0;
    uint32_t zero_checksum_ = 0;
    uint64_t now_ms_ = 0; // virtual time of this batch, without a clock (the tests')
    // Virtual time now: the clock's, else the batch's (ns); and jiffies then (chain pruning).
    uint64_t now_ns() const { return clock_ ? clock_->now_ns() : now_ms_ * 1000000; }
    uint64_t jiffies() const { return INITIAL_JIFFIES + now_ns() / NS_PER_JIFFY; }
    // The scan-time advisor (ksm_scan.cpp): at a pass's start and end.
    void advisor_start_scan();
    void advisor_stop_scan();
    std::unordered_set<ksm_stable_node*> stable_nodes_; // every live node (for the teardown)
    // The stable trees' state generation: bumped by every change of a node, its items, a chain's
    // dups or a KSM page's identity, plus the KSM pages the page allocator has freed (a dup's
    // page gone makes it stale). stable_node_dup() caches a fruitless walk under it.
    katomic_u64 stable_gen_ = 1;
    uint64_t stable_gen() const { return stable_gen_ + as_.ksm_pages_freed(); }
    const KsmClock* clock_ = nullptr;
    mutable KsmWork work_;
    KsmWakeups wakeups_;
    // The scan-time advisor's context (struct advisor_ctx).
    struct AdvisorCtx {
        uint64_t start_scan_ns = 0; // ktime at the pass's start
        uint64_t scan_time_s = 0;   // the last pass's seconds
        uint64_t change = 0;        // the EWMA of the pass-time ratio
        uint64_t cpu_time_ns = 0;   // ksmd's CPU time at the pass's start
    } advisor_;
};

} // namespace mmemu
