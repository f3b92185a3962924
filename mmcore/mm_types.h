// The process side of the memory manager's types (include/linux/mm_types.h, include/linux/mm.h,
// Linux 6.18): vm_area_struct, mm_struct with the fields of seeds 003 and 004 that still exist
// in 6.18 and mean something here, the VMA flags, and anon_vma / anon_vma_chain (mm/rmap.c,
// seed 002).
//
// Each object is a host structure that also owns an object of its slab cache (`obj`), so
// /proc/slabinfo shows what the address spaces cost; its contents are not kept in emulated RAM
// (no emulated code reads them). Page tables, unlike these, are real entries in emulated frames.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "emulator/addr.h"
#include "mmcore/kernel_atomic.h"
#include "mmcore/locks.h"
#include "mmcore/maple_tree.h"
#include "mmcore/slab.h"

namespace mmemu {

// vm_flags (include/linux/mm.h; the values are the kernel's).
using vm_flags_t = uint64_t;
inline constexpr vm_flags_t VM_NONE = 0;
inline constexpr vm_flags_t VM_READ = 0x1;
inline constexpr vm_flags_t VM_WRITE = 0x2;
inline constexpr vm_flags_t VM_EXEC = 0x4;
inline constexpr vm_flags_t VM_SHARED = 0x8;
inline constexpr vm_flags_t VM_MAYREAD = 0x10;
inline constexpr vm_flags_t VM_MAYWRITE = 0x20;
inline constexpr vm_flags_t VM_MAYEXEC = 0x40;
inline constexpr vm_flags_t VM_MAYSHARE = 0x80;
inline constexpr vm_flags_t VM_GROWSDOWN = 0x100;
inline constexpr vm_flags_t VM_PFNMAP = 0x400;
inline constexpr vm_flags_t VM_LOCKED = 0x2000;
inline constexpr vm_flags_t VM_IO = 0x4000;
inline constexpr vm_flags_t VM_DONTCOPY = 0x20000;
inline constexpr vm_flags_t VM_DONTEXPAND = 0x40000;
inline constexpr vm_flags_t VM_LOCKONFAULT = 0x80000;
inline constexpr vm_flags_t VM_ACCOUNT = 0x100000;
inline constexpr vm_flags_t VM_NORESERVE = 0x200000;
inline constexpr vm_flags_t VM_WIPEONFORK = 0x2000000;
inline constexpr vm_flags_t VM_DONTDUMP = 0x4000000;
inline constexpr vm_flags_t VM_MIXEDMAP = 0x10000000;
inline constexpr vm_flags_t VM_MERGEABLE = 0x80000000;
inline constexpr vm_flags_t VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
inline constexpr vm_flags_t VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT;
// VM_SPECIAL: mappings that never merge (include/linux/mm.h).
inline constexpr vm_flags_t VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
// VM_STACK (x86: VM_GROWSDOWN) and VM_STACK_FLAGS = VM_STACK | VM_STACK_DEFAULT_FLAGS |
// VM_ACCOUNT, where VM_STACK_DEFAULT_FLAGS = VM_DATA_DEFAULT_FLAGS (x86: VM_DATA_FLAGS_TSK_EXEC
// for a task with READ_IMPLIES_EXEC off, here VM_DATA_FLAGS_NON_EXEC).
inline constexpr vm_flags_t VM_DATA_FLAGS_NON_EXEC =
    VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
inline constexpr vm_flags_t VM_STACK_FLAGS = VM_GROWSDOWN | VM_DATA_FLAGS_NON_EXEC | VM_ACCOUNT;

// The RSS counters (enum in include/linux/mm_types_task.h).
enum mm_counter : unsigned {
    MM_FILEPAGES,
    MM_ANONPAGES,
    MM_SWAPENTS,
    MM_SHMEMPAGES,
    NR_MM_COUNTERS
};

struct mm_struct;
struct vm_area_struct;

// struct anon_vma (include/linux/rmap.h): the root of an anonymous page's reverse map. Its
// chains link it to every VMA that may map its pages.
struct anon_vma_chain;
struct anon_vma {
    anon_vma* root = this;
    anon_vma* parent = this;
    katomic_u64 refcount = 1;
    uint64_t num_children = 0;
    uint64_t num_active_vmas = 0;
    anon_vma_chain* rb_root = nullptr; // the chains of this anon_vma (an interval tree there)
    SlabObj obj;
    // The root's rwsem guards the whole tree's chains (anon_vma_lock_write/read take root->rwsem).
    mutable rw_semaphore rwsem{LockClass::anon_vma_rwsem};
};

// struct anon_vma_chain: one (VMA, anon_vma) link, on the VMA's list and in the anon_vma's
// tree.
struct anon_vma_chain {
    vm_area_struct* vma = nullptr;
    anon_vma* av = nullptr;
    anon_vma_chain* same_vma_next = nullptr;  // vma->avc_list list
    anon_vma_chain* same_anon_next = nullptr; // anon_vma->rb_root
    SlabObj obj;
};

// The shmem object behind a shared anonymous mapping (shmem_zero_setup(): an unlinked "dev/zero"
// inode of the internal tmpfs and its struct file): the inode's page cache (i_pages, page index
// -> frame), its size, and the file's references (one per VMA that maps it). Its kernel objects
// are a shmem_inode_cache object, a dentry and a filp.
struct shmem_file {
    uint64_t ino = 0;              // i_ino (/proc/PID/maps shows it)
    uint64_t size_pages = 0;       // i_size >> PAGE_SHIFT: a fault at or beyond it is SIGBUS
    uint64_t f_count = 0;          // the VMAs holding the file
    std::map<uint64_t, Pfn> pages; // the page cache
    SlabObj inode_obj, dentry_obj, file_obj;
};

struct vm_area_struct {
    uint64_t vm_start = 0, vm_end = 0;
    mm_struct* vm_mm = nullptr;
    uint64_t vm_page_prot = 0; // pgprot_t: the PTE bits of a page mapped here
    vm_flags_t vm_flags = 0;
    uint64_t vm_pgoff = 0;    // in pages: for private anonymous memory, vm_start >> PAGE_SHIFT
    anon_vma* anon = nullptr; // vma->anon_vma
    anon_vma_chain* avc_list = nullptr; // vma->avc_list: this VMA's chains
    shmem_file* vm_file = nullptr;      // a shared anonymous mapping's shmem file (vm_ops set)
    SlabObj obj;
    uint64_t pages() const { return (vm_end - vm_start) >> 12; }
};

// mm_context_t (arch/x86/include/asm/mmu.h): the fields switch_mm() uses.
struct mm_context_t {
    uint64_t ctx_id = 0;     // unique for the life of the system
    katomic_u64 tlb_gen = 0; // bumped by every flush request for this mm
};

struct mm_struct {
    explicit mm_struct(MapleNodeSource& nodes, MapleGeometry g) : mm_mt(nodes, g, true) {}
    MapleTree mm_mt; // the VMAs, MM_MT_FLAGS (alloc range, RCU)
    // mmap_lock guards the VMAs (mutable: /proc readers of a const mm take it for reading);
    // page_table_lock the upper page-table levels (pmd_lock() without split PMD locks).
    mutable rw_semaphore mmap_lock{LockClass::mmap_lock};
    spinlock_t page_table_lock{LockClass::page_table_lock};
    uint64_t mmap_base = 0, mmap_legacy_base = 0;
    uint64_t task_size = 0;
    PhysAddr pgd;             // the physical address of the top-level table (CR3's base)
    katomic_s64 mm_users = 1; // users of the address space (threads)
    katomic_s64 mm_count = 1; // references to the mm_struct (mm_users counts as one)
    uint64_t map_count = 0;
    katomic_u64 pgtables_bytes = 0; // PTE, PMD, PUD and P4D tables (not the PGD): VmPTE
    // mmemu's own, for host speed: page-table pages freed so far (advanced atomically, as a
    // table can go under mmap_lock held for reading). With mmap_lock's write_seq() it tells a
    // reader that an entry's address it found earlier still maps the same virtual address.
    katomic_u64 pt_frees = 0;
    katomic_s64 rss_stat[NR_MM_COUNTERS] = {};
    katomic_u64 hiwater_rss = 0;
    uint64_t hiwater_vm = 0; // high-water marks, in pages
    uint64_t total_vm = 0, locked_vm = 0, pinned_vm = 0, data_vm = 0, exec_vm = 0, stack_vm = 0;
    uint64_t def_flags = 0;
    uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0;
    uint64_t start_brk = 0, brk = 0, start_stack = 0;
    uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
    mm_context_t context;
    katomic_u64 cpumask = 0; // mm_cpumask(): CPUs that may hold its translations (bit per CPU)
    katomic_s64 tlb_flush_pending = 0;
    katomic_u64 ksm_merging_pages = 0, ksm_rmap_items = 0, ksm_zero_pages = 0;
    // mmemu's own: of the ksm_zero_pages fork copied from the parent (dup_mm copies the count),
    // those whose PTEs it did not copy (MADV_DONTFORK or MADV_WIPEONFORK ranges, a fork that
    // failed part way). Linux 6.18 counts them all the same, here and in the global count, and
    // the frame audit allows for them.
    uint64_t ksm_zero_pages_not_copied = 0;
    bool mmf_vm_mergeable = false; // MMF_VM_MERGEABLE: registered with KSM (has a ksm_mm_slot)
    bool mmf_vm_merge_any = false; // MMF_VM_MERGE_ANY: prctl(PR_SET_MEMORY_MERGE, 1)
    bool mmf_oom_skip = false;     // MMF_OOM_SKIP: reaped, so the OOM killer passes it over
    SlabObj obj;

    uint64_t get_mm_counter(mm_counter c) const { return uint64_t(rss_stat[c]); }
    // get_mm_rss(): file + anon + shmem pages.
    uint64_t get_mm_rss() const {
        return uint64_t(rss_stat[MM_FILEPAGES] + rss_stat[MM_ANONPAGES] + rss_stat[MM_SHMEMPAGES]);
    }
    // get_mm_hiwater_rss() / get_mm_hiwater_vm(): the marks are only raised lazily (at
    // munmap, exit), so the current value counts too.
    uint64_t get_hiwater_rss() const { return std::max(hiwater_rss.load(), get_mm_rss()); }
    uint64_t get_hiwater_vm() const { return std::max(hiwater_vm, total_vm); }
    // update_hiwater_rss() / update_hiwater_vm().
    void update_hiwater_rss() { hiwater_rss = get_hiwater_rss(); }
    void update_hiwater_vm() { hiwater_vm = get_hiwater_vm(); }
};

// mmap_assert_locked() / mmap_assert_write_locked(): a caller that must hold the mm's
// mmap_lock does (KernelBug otherwise).
inline void mmap_assert_locked(const mm_struct* mm) {
    if (!lockdep_is_held(&mm->mmap_lock) || !mm->mmap_lock.is_locked())
        throw KernelBug("mmap_assert_locked: the caller does not hold mmap_lock");
}
inline void mmap_assert_write_locked(const mm_struct* mm) {
    if (!lockdep_is_held(&mm->mmap_lock) || !mm->mmap_lock.is_write_locked())
        throw KernelBug("mmap_assert_write_locked: the caller does not hold mmap_lock for writing");
}

} // namespace mmemu
