// The process side of the memory manager (Linux 6.18): mm_structs and their VMAs, the page
// tables of each address space and the kernel's half they all share, the system calls that
// change a mapping, and the page-fault path that fills one. One AddressSpaces per Kernel; the
// work is split over files as mm/ splits it:
//   fork.cpp        mm_alloc / mm_init / mmput / mmdrop (kernel/fork.c) and the slab caches
//   mmap.cpp        do_mmap, get_unmapped_area, do_munmap, VMA split and merge (mm/mmap.c,
//                   mm/vma.c)
//   memory.cpp      handle_mm_fault, do_anonymous_page, do_wp_page, zap_pte_range,
//                   free_pgtables (mm/memory.c) and do_user_addr_fault (arch/x86/mm/fault.c)
//   rmap.cpp        anon_vma_prepare, unlink_anon_vmas, folio_add_new_anon_rmap (mm/rmap.c)
//   mlock.cpp       mlock, munlock, mlockall, __mm_populate (mm/mlock.c, mm/gup.c)
//   mremap.cpp      mremap: resize in place, copy_vma + move_page_tables (mm/mremap.c)
//   madvise.cpp     madvise, MADV_FREE's lazyfree batches (mm/madvise.c, mm/swap.c)
//   oom_kill.cpp    out_of_memory(), oom_badness(), the victim's kill and reaping (mm/oom_kill.c)
//   pgtable.cpp     the tables of every format: pgd_alloc, the p?d_alloc walk, free_pgd_range
//   pgtable_32.cpp  the 2-level and PAE boot tables: the lowmem direct map, the fixmap
//   pgtable_64.cpp  the 4- and 5-level boot tables: the direct map
//   highmem.cpp     kmap_local, clear_highpage, copy_user_highpage (mm/highmem.c)
//   shmem.cpp       shared anonymous memory: shmem_zero_setup, shmem_fault (mm/shmem.c)
//   mempolicy_alloc.cpp  set_mempolicy and where a policy sends an allocation: alloc_pages_mpol
//                   (mm/mempolicy.c)
//   ksm_page_tables.cpp  KSM's page-table edits: write_protect_page, replace_page, break_ksm
//                   (mm/ksm.c)
#pragma once

#include <linux/mman.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "emulator/cpu.h"
#include "emulator/machine.h"
#include "mmcore/frame_audit.h"
#include "mmcore/kernel_atomic.h"
#include "mmcore/kernel_config.h"
#include "mmcore/ksm.h"
#include "mmcore/mempolicy.h"
#include "mmcore/mm_init.h"
#include "mmcore/mm_types.h"
#include "mmcore/page_alloc.h"
#include "mmcore/pgtable.h"
#include "mmcore/slab.h"

namespace mmemu {

// The state of the memory-management call in progress on the calling thread, which the kernel
// passes down implicitly (smp_processor_id(), the mmu_gather's need_flush_all): thread-local,
// not members of AddressSpaces, since in the concurrent mode several CPUs' threads are in the
// kernel at once. Each entry point sets `cpu` before anything reads it.
struct task_struct;

namespace mm_percall {
// The CPU the operation runs on.
inline thread_local unsigned cpu = 0;
// A PAE PDPTE was cleared: the next flush reloads CR3.
inline thread_local bool need_flush_all = false;
// The task whose memory policy the allocations follow when it is not its CPU's current task (a
// new process spawned and exec'ed: the kernel runs that in the new task's context); nullptr:
// the CPU's current task.
inline thread_local task_struct* task = nullptr;
// Sets mm_percall::task for a scope.
struct PolicyTaskScope {
    task_struct* prev;
    explicit PolicyTaskScope(task_struct* t) : prev(task) { task = t; }
    ~PolicyTaskScope() { task = prev; }
    PolicyTaskScope(const PolicyTaskScope&) = delete;
    PolicyTaskScope& operator=(const PolicyTaskScope&) = delete;
};
} // namespace mm_percall

// mmap(2)'s prot and flags and the errno values: the host's <sys/mman.h> and <cerrno> define
// them with the same values as the x86 kernel ABI (include/uapi/asm-generic/mman*.h,
// errno-base.h), which the asserts check.
static_assert(PROT_READ == 0x1 && PROT_WRITE == 0x2 && PROT_EXEC == 0x4);
static_assert(MAP_SHARED == 0x01 && MAP_PRIVATE == 0x02 && MAP_FIXED == 0x10 &&
              MAP_ANONYMOUS == 0x20 && MAP_GROWSDOWN == 0x100 && MAP_LOCKED == 0x2000 &&
              MAP_NORESERVE == 0x4000 && MAP_POPULATE == 0x8000 && MAP_FIXED_NOREPLACE == 0x100000);
static_assert(MADV_WILLNEED == 3 && MADV_DONTNEED == 4 && MADV_DONTFORK == 10 &&
              MADV_DOFORK == 11 && MADV_MERGEABLE == 12 && MADV_UNMERGEABLE == 13 &&
              MADV_WIPEONFORK == 18 && MADV_KEEPONFORK == 19);
static_assert(EPERM == 1 && EINTR == 4 && ECHILD == 10 && EFAULT == 14 && EAGAIN == 11 &&
              ENOMEM == 12 && EACCES == 13 && EEXIST == 17 && EINVAL == 22);

static_assert(MCL_CURRENT == 1 && MCL_FUTURE == 2 && MCL_ONFAULT == 4 && MLOCK_ONFAULT == 1);
static_assert(MADV_FREE == 8);

// RLIMIT_MEMLOCK's default (8 MiB), in pages: processes have no CAP_IPC_LOCK.
inline constexpr uint64_t RLIMIT_MEMLOCK_PAGES = (uint64_t{8} << 20) >> 12;
// RLIMIT_STACK's usual soft limit (ulimit -s 8192): how far a stack may grow.
inline constexpr uint64_t RLIMIT_STACK_BYTES = uint64_t{8} << 20;

// si_code of a SIGSEGV and a SIGBUS (include/uapi/asm-generic/siginfo.h).
inline constexpr int SEGV_MAPERR = 1, SEGV_ACCERR = 2, BUS_ADRERR = 2;

// What a fatal fault's signal told the process: SIGSEGV (or SIGBUS), the address, the access
// and why.
struct SegvInfo {
    int si_code = 0;
    uint64_t addr = 0;
    uint32_t error_code = 0; // the #PF error code
    const char* reason = ""; // in the kernel's words (which check of fault.c refused it)
    bool sigbus = false;     // SIGBUS (do_sigbus(): VM_FAULT_SIGBUS), not SIGSEGV
};

// struct task_struct: the fields the memory manager uses. Each is an object of the
// "task_struct" cache while it lives; the host record stays after exit for the statistics.
struct task_struct {
    int pid = 0;
    int tgid = 0;                       // the thread group: its leader's pid
    task_struct* group_leader = this;   // the process's first task
    task_struct* real_parent = nullptr; // nullptr: the scenario (which reaps at once)
    std::string comm;                   // the name the scenario gave the process
    mm_struct* mm = nullptr;
    unsigned cpu = 0;                   // the CPU it runs on
    bool exited = false;                // do_exit() ran: no mm any more
    bool zombie = false;                // exited, waiting for its parent to reap it (EXIT_ZOMBIE)
    std::string exit_reason;            // "exit", "SIGSEGV", "SIGKILL (the OOM killer)"
    SlabObj obj;                        // the task_struct object until the task is reaped
    std::vector<task_struct*> children; // a leader's child processes not yet reaped
    std::vector<task_struct*> threads;  // a leader's other threads
    bool is_leader() const { return group_leader == this; }
    uint64_t min_flt = 0, maj_flt = 0;
    std::optional<SegvInfo> segv; // the fatal SIGSEGV, once delivered
    int oom_score_adj = 0;        // signal->oom_score_adj: -1000 (never) .. 1000; fork copies it
    // The task's memory policy (task->mempolicy; none: the local node), set_mempolicy(2)'s, and
    // il_prev, the node its last interleaved allocation without a VMA went to. fork and
    // clone copy both (dup_task_struct, mpol_dup).
    struct mempolicy mempolicy;
    unsigned il_prev = 63;
    // SIGKILL sent and not yet acted on (fatal_signal_pending()): the task dies at its next
    // return to user mode, and `kill_reason` says who sent it.
    kernel_atomic<bool> sigkill_pending = false; // set by the OOM killer on another CPU
    std::string kill_reason;
    // A leader's: SIGNAL_GROUP_EXIT (signal->flags), set by the first fatal signal the process
    // takes, with that signal's exit reason (claim_group_exit()). From then on the process is
    // dying: later fatal signals are not delivered, and its tasks run no more events.
    kernel_atomic<bool> group_exit = false;
    std::string group_exit_reason;
    // tsk_is_oom_victim(): chosen by the OOM killer (on any CPU; read by the task's own).
    kernel_atomic<bool> oom_victim = false;
};

// One kill of the OOM killer, with what the kernel logs about it (dump_header's invoking task
// and the "Out of memory: Killed process" line of __oom_kill_process()).
struct OomKill {
    int pid = 0;
    std::string comm;
    std::string invoked_by; // the allocating task's comm ("" for none)
    gfp_t gfp_mask = 0;
    unsigned order = 0;
    int64_t points = 0;      // oom_badness()
    uint64_t totalpages = 0; // what oom_score_adj was scaled by (totalram + swap)
    // oom_constraint_text[]: "CONSTRAINT_NONE", or "CONSTRAINT_MEMORY_POLICY" with the
    // allocation's nodemask (the "oom-kill:constraint=...,nodemask=..." line).
    std::string constraint = "CONSTRAINT_NONE";
    std::string nodemask = "(null)";
    uint64_t total_vm = 0, anon_rss = 0, file_rss = 0, shmem_rss = 0; // pages
    uint64_t pgtables_bytes = 0;
    int oom_score_adj = 0;
    std::string message() const; // the kernel's line
};

// /proc/PID/smaps_rollup's sums (fs/proc/task_mmu.c: smaps_account), in bytes; pss fields
// are fixed point with PSS_SHIFT (12) fractional bits, as the kernel keeps them.
struct SmapsRollup {
    static constexpr unsigned PSS_SHIFT = 12;
    uint64_t resident = 0, anonymous = 0;
    uint64_t pss = 0, pss_anon = 0, pss_dirty = 0, pss_shmem = 0;
    uint64_t shared_clean = 0, shared_dirty = 0, private_clean = 0, private_dirty = 0;
    uint64_t ksm = 0;        // KSM pages mapped ("KSM")
    uint64_t lazyfree = 0;   // anonymous pages MADV_FREE marked, clean since
    uint64_t pss_locked = 0; // Pss of the pages of VM_LOCKED VMAs ("Locked")
};

// /proc/vmstat counters of this part of the kernel (the kernel's own names), and mmemu's own
// counts of what the fault path did, which Linux does not keep (kept apart, never mixed into
// vmstat).
struct MmVmstat {
    katomic_u64 pgfault = 0;       // every page fault handled (mm_account_fault)
    katomic_u64 pgmajfault = 0;    // of those, major (none without files or swap)
    katomic_u64 pglazyfree = 0;    // pages MADV_FREE made lazily freeable (lru_lazyfree)
    katomic_u64 pgreuse = 0;       // write faults that reused the page in place (wp_page_reuse)
    katomic_u64 cow_ksm = 0;       // COW_KSM: write or unshare faults that copied a KSM page
    katomic_u64 nr_anon_pages = 0; // NR_ANON_MAPPED: anonymous pages mapped at least once
    katomic_u64 nr_page_table_pages = 0; // NR_PAGETABLE: user page-table pages, PGDs included
    katomic_u64 nr_file_pages = 0;       // NR_FILE_PAGES: page-cache pages (shmem's here)
    katomic_u64 nr_shmem = 0;            // NR_SHMEM: shmem pages (meminfo Shmem)
    katomic_u64 nr_mapped = 0;           // NR_FILE_MAPPED: page-cache pages mapped at least once
    katomic_u64 oom_kill = 0;            // OOM_KILL: processes the OOM killer killed
};
struct MmemuFaultCounts {
    katomic_u64 anonymous = 0;     // do_anonymous_page: a fresh zeroed page
    katomic_u64 zero_page = 0;     // do_anonymous_page on a read: the shared zero page mapped
    katomic_u64 cow_copy = 0;      // wp_page_copy: a new page for a write to a shared or zero page
    katomic_u64 spurious = 0;      // the PTE was already good (another CPU's stale TLB entry)
    katomic_u64 sigsegv = 0;       // faults that ended in SIGSEGV
    katomic_u64 sigbus = 0;        // faults that ended in SIGBUS
    katomic_u64 oom = 0;           // faults that could not get memory (VM_FAULT_OOM)
    katomic_u64 oom_no_victim = 0; // out_of_memory() calls with no process to kill (Linux panics)
    katomic_u64 tlb_flushes = 0;   // flushes the kernel asked for (pages or whole mm)
    katomic_u64 tlb_flush_pages = 0; // pages of those flushed one by one (INVLPG)
    katomic_u64 kmap_local = 0;      // highmem frames the kernel mapped to reach their bytes
};

// The top of the 32-bit fixmap (__FIXADDR_TOP without reservetop=) and the fixmap index of the
// first kmap_local slot: FIX_HOLE, FIX_DBGP_BASE, FIX_EARLYCON_MEM_BASE, FIX_APIC_BASE and the
// MAX_IO_APICS (64 on X86_32) FIX_IO_APIC_BASE slots come first (arch/x86/include/asm/fixmap.h
// for X86_32 with X86_LOCAL_APIC and X86_IO_APIC, without PROVIDE_OHCI1394_DMA_INIT).
// KM_MAX_IDX slots per CPU (include/asm-generic/kmap_size.h, without DEBUG_KMAP_LOCAL).
inline constexpr uint64_t FIXADDR_TOP_32 = 0xfffff000;
inline constexpr unsigned FIX_KMAP_BEGIN = 4 + 64;
inline constexpr unsigned KM_MAX_IDX = 16;

// TLB_NR_DYN_ASIDS (arch/x86/include/asm/tlbflush.h): the ASID slots each CPU keeps.
inline constexpr unsigned TLB_NR_DYN_ASIDS = 6;
inline constexpr uint64_t INIT_MM_CTX_ID = 1; // init_mm's context id

// struct tlb_state (arch/x86/include/asm/tlbflush.h): what a CPU has loaded, its ASID slots
// ({ctx_id, tlb_gen} of the mm each last held), and mmemu's per-CPU counts.
struct cpu_tlbstate {
    mm_struct* loaded_mm = nullptr; // nullptr: init_mm
    unsigned loaded_mm_asid = 0;
    // cpu_tlbstate_shared.is_lazy: the CPU went idle and keeps the last mm loaded (lazy TLB):
    // flush IPIs pass it by unless page tables were freed.
    bool is_lazy = false;
    unsigned next_asid = 1;
    struct {
        uint64_t ctx_id = 0, tlb_gen = 0;
    } ctxs[TLB_NR_DYN_ASIDS];
    uint64_t irq_tlb_count = 0;    // flush IPIs received ("TLB shootdowns", /proc/interrupts)
    uint64_t ipis_sent = 0;        // flush IPIs this CPU sent
    uint64_t context_switches = 0; // a different task made current here
    uint64_t switch_flushes = 0;   // switch_mm() with need_flush (a new or stale ASID)
};

class AddressSpaces final : public MapleNodeSource, public OomKiller, public Highmem {
public:
    AddressSpaces(Machine& m, PageAllocator& pa, SlabAllocator& slab, const KernelConfig& cfg);
    ~AddressSpaces();
    AddressSpaces(const AddressSpaces&) = delete;
    AddressSpaces& operator=(const AddressSpaces&) = delete;

    // Boot (after the slab allocator is up): the caches of fork_init(), proc_caches_init() and
    // maple_tree_init(), the zero page, swapper_pg_dir with the direct map, and every CPU put
    // in the kernel's paging mode on swapper_pg_dir. "" or why this kernel cannot run
    // processes on this machine.
    std::string init(const BootLayout& layout);
    bool ready() const { return ready_; }
    // Why processes cannot run on this machine yet ("" when they can).
    const std::string& unsupported() const { return unsupported_; }

    // ---- mm lifecycle (kernel/fork.c) ----
    // mm_alloc(): a new, empty address space (its PGD holds the kernel's half), or nullptr when
    // memory runs out.
    mm_struct* mm_alloc(unsigned cpu);
    // mmput(): drop a user; the last one tears the address space down (exit_mmap) and drops
    // the mm_count the users held (mmdrop).
    void mmput(mm_struct* mm, unsigned cpu);
    // mmgrab() / mmdrop(): a reference to the mm_struct itself (mm_count), which keeps it (and
    // its PGD) after its users are gone.
    void mmgrab(mm_struct* mm) { mm->mm_count++; }
    void mmdrop(mm_struct* mm, unsigned cpu);

    // ---- system calls (mm/mmap.c, mm/vma.c) ----
    // Each takes the mm's mmap_lock as the kernel does (for writing, but madvise's advice that
    // leaves vm_flags alone: for reading). do_mmap() and do_munmap() are the kernel's, for a
    // caller that holds it for writing; vm_mmap() and vm_munmap() take it.
    // mmap of anonymous memory: the address, or -errno.
    int64_t vm_mmap(mm_struct* mm, uint64_t addr, uint64_t len, unsigned prot, unsigned flags,
                    unsigned cpu);
    int64_t do_mmap(mm_struct* mm, uint64_t addr, uint64_t len, unsigned prot, unsigned flags,
                    unsigned cpu);
    // munmap: 0 or -errno.
    int vm_munmap(mm_struct* mm, uint64_t start, uint64_t len, unsigned cpu);
    int do_munmap(mm_struct* mm, uint64_t start, uint64_t len, unsigned cpu);
    // madvise (madvise.cpp): 0 or -errno.
    int do_madvise(mm_struct* mm, uint64_t start, uint64_t len, int behavior, unsigned cpu);
    // brk(2): the new break, or the old one when the kernel refuses (brk returns no errno).
    uint64_t sys_brk(mm_struct* mm, uint64_t brk, unsigned cpu);
    // mprotect (mprotect.cpp): 0 or -errno.
    int do_mprotect(mm_struct* mm, uint64_t start, uint64_t len, unsigned prot, unsigned cpu);
    // mlock.cpp: mlock / mlock2 (onfault: MLOCK_ONFAULT) and munlock: 0 or -errno;
    // mlockall(flags) (MCL_*), munlockall() as flags 0.
    int do_mlock(mm_struct* mm, uint64_t start, uint64_t len, bool onfault, unsigned cpu);
    int do_munlock(mm_struct* mm, uint64_t start, uint64_t len, unsigned cpu);
    int do_mlockall(mm_struct* mm, int flags, unsigned cpu);
    // mremap (mremap.cpp): the new address, or -errno. new_addr is used with MREMAP_FIXED and
    // as a hint with MREMAP_DONTUNMAP.
    int64_t do_mremap(mm_struct* mm, uint64_t addr, uint64_t old_len, uint64_t new_len,
                      unsigned flags, uint64_t new_addr, unsigned cpu);
    // vma_lookup(): the VMA containing addr.
    vm_area_struct* vma_lookup(const mm_struct* mm, uint64_t addr) const;
    // find_vma(): the first VMA that ends above addr.
    vm_area_struct* find_vma(const mm_struct* mm, uint64_t addr) const;
    // Every VMA in address order.
    std::vector<const vm_area_struct*> vmas(const mm_struct* mm) const;

    // ---- tasks (kernel/fork.c, kernel/exit.c) ----
    // A new task with an empty address space (pid from 1 in creation order), or nullptr when
    // memory runs out.
    task_struct* task_create(const std::string& comm, unsigned cpu);
    // do_exit() of one task: its CPU goes idle, the address space loses a user (exit_mm ->
    // mmput), its children go to the scenario (reaped at once when they die, as by init) with
    // its zombies reaped; then the task is released at once (a thread, or a process whose
    // parent is the scenario) or stays a zombie for its parent's wait(). The host record stays
    // with `reason`. A group leader with live threads takes them with it (do_group_exit).
    void task_exit(task_struct* t, const std::string& reason);
    // do_group_exit(): every thread of t's process, then its leader.
    void do_group_exit(task_struct* t, const std::string& reason);
    // A fatal signal for t's process: true, with SIGNAL_GROUP_EXIT set and `reason` kept, if it
    // is the first; false if the process is exiting already (complete_signal() and
    // prepare_signal() drop a signal for a group that is; in the concurrent mode two CPUs may
    // race here, and one wins).
    bool claim_group_exit(task_struct* t, const std::string& reason);
    // Whether t's process is exiting (its group exit claimed, maybe not yet done).
    static bool group_exiting(const task_struct* t) { return t->group_leader->group_exit; }
    // The concurrent mode, on a CPU's thread: a claimed group exit waits for the next barrier,
    // where finish_group_exits() does it, every CPU idle. Linux's do_group_exit() sends the
    // other threads SIGKILL (zap_other_threads) and each exits on its own CPU; here the tasks
    // on every CPU run no more events (group_exiting()) and the process exits at the barrier.
    void defer_group_exit(task_struct* t);
    void finish_group_exits();
    // clone(CLONE_VM | CLONE_THREAD | ...): a new task in `t`'s process sharing its mm
    // (mm_users + 1), on `cpu`; nullptr (-ENOMEM in err) when memory runs out.
    task_struct* clone_thread(task_struct* t, const std::string& comm, unsigned cpu, int& err);
    // wait4(pid, WNOHANG) by `parent` for `child` (nullptr: any child): the pid of a zombie
    // child reaped, 0 if the children are alive, -ECHILD if there is none.
    int do_wait(task_struct* parent, task_struct* child);
    // fork(): a child task whose mm is a copy of the parent's (dup_mmap: the VMA tree copied
    // node for node, each VMA duplicated with anon_vma_fork, page tables copied where the kernel
    // copies them, private writable pages write-protected in both for copy on write, the
    // parent's TLB flushed). nullptr and `err` (-ENOMEM) when memory runs out.
    task_struct* do_fork(task_struct* parent, const std::string& comm, unsigned cpu, int& err);
    const std::vector<std::unique_ptr<task_struct>>& tasks() const { return tasks_; }

    // ---- exec (fs/binfmt_elf.c, fs/exec.c; exec.cpp) ----
    // The layout load_elf_binary() gives a static non-PIE x86_64 binary, without a page cache:
    // text (r-x) at 0x400000, data and bss (rw-) after it, brk starting right after them (ASLR
    // off), and the stack VMA below STACK_TOP. Text and data pages are loaded at once with
    // `content` bytes (as reading the file would); bss and stack are demand-zero, but for the
    // stack's top page, which holds the arguments and environment. 0 or -errno.
    struct ExecLayout {
        uint64_t code = 0, data = 0, bss = 0; // bytes
        uint64_t stack = 132 * 1024;          // bytes (setup_arg_pages: args + 128 KiB)
        // The text and data bytes' seed when the image is shared (the same file); otherwise
        // they come from the content seed, as the stack's top page always does.
        std::optional<uint64_t> image_seed;
    };
    int exec_layout(task_struct* t, const ExecLayout& l, uint64_t content_seed);
    // execve() of a new image in t's process: the other threads are killed (de_thread), a new
    // mm with the layout replaces the old one (exec_mmap; the old mm loses its user). 0 or
    // -errno (before the point of no return; after it the process dies).
    int do_execve(task_struct* t, const ExecLayout& l, uint64_t content_seed);

    // ---- scheduling hooks ----
    // The task running on `cpu` (nullptr: idle on init_mm); a context switch when it changes,
    // with switch_mm() to its mm (tlb.cpp).
    void set_current(unsigned cpu, task_struct* t);
    task_struct* current(unsigned cpu) const { return current_[cpu]; }
    const cpu_tlbstate& tlbstate(unsigned cpu) const { return tlbstate_[cpu]; }
    // The cycle cost of a kernel path (the machine's cost table) charged to `cpu`.
    void charge(unsigned cpu, uint32_t CostModel::*path, uint64_t times = 1) {
        Mmu& m = machine_.mmu(cpu);
        m.charge(uint64_t(m.cost().*path) * times);
    }

    // ---- the page-fault path (arch/x86/mm/fault.c -> mm/memory.c) ----
    // A #PF delivered on `cpu`: resolved (retry the access) or not (SIGSEGV recorded in the
    // task, or an oops for a fault in kernel mode).
    FaultResolution do_page_fault(unsigned cpu, const Fault& fault);

    // /proc/PID/smaps_rollup and /proc/PID/maps (task_mmu.cpp).
    SmapsRollup smaps_rollup(const mm_struct* mm) const;
    std::vector<std::string> proc_maps(const mm_struct* mm) const;
    // set_mempolicy(2) for task `t`: 0 or -EINVAL (mm/mempolicy.c do_set_mempolicy, with
    // sanitize_mpol_flags() and mpol_new()); `nodes` a bit per node, `flags` the mode flags.
    int set_mempolicy(task_struct* t, MpolMode mode, unsigned flags, uint64_t nodes);
    // The task's policy as numa_maps prints it ("default" without one).
    std::string task_mempolicy_str(const task_struct& t) const { return mpol_to_str(t.mempolicy); }
    // /proc/PID/numa_maps: a line per VMA, and the pages of each node summed over them.
    struct NumaMaps {
        std::vector<std::string> lines;
        std::vector<uint64_t> node_pages; // one per node
    };
    // Each line names the VMA's policy; without one (no mbind yet), the task's (`task_policy`).
    NumaMaps numa_maps(const mm_struct* mm, const struct mempolicy& task_policy = {}) const;
    // ---- KSM (ksm_page_tables.cpp): mm/ksm.c's page-table edits, here because only mmcore
    // writes page tables; ksm/ decides when to make them ----
    void set_ksm(KsmHooks* k) { ksm_ = k; }
    uint64_t ksm_pages_freed() const { return pa_.ksm_pages_freed(); }
    KsmHooks* ksm() const { return ksm_; }
    // A grace period (the concurrent mode: every CPU idle, ksmd paused): the page tables
    // pte_free_defer() held go now (pgtable.cpp).
    void rcu_grace_period();
    // scan_get_next_rmap_item()'s walk: the first address in [addr, vma->vm_end) whose PTE maps
    // a normal anonymous page (not the zero page nor a KSM zero page), with its pfn and a
    // reference to the page taken under the PTE table's lock (the walk's folio_get()).
    std::optional<std::pair<uint64_t, Pfn>> ksm_next_anon_page(const vm_area_struct* vma,
                                                               uint64_t addr);
    // The struct page of a frame (KSM reads and sets its flags and mapping).
    page& ksm_page_flags(Pfn pfn) { return *pa_.mem_map().pfn_to_page(pfn); }
    // ksmd's references to the pages it works on (docs/dev/ksm-facts.md): the anonymous page a
    // PTE maps, taken under the PTE table's lock (follow_page() with FOLL_GET); a KSM page's,
    // if it still has references and still belongs to `mapping` (ksm_get_folio():
    // folio_try_get() and the mapping checked again); and the reference dropped (folio_put(),
    // which frees the page on the last one). `get` false: no reference, for a look only
    // another CPU could observe. In the deterministic mode nothing else runs: no PTE lock, and
    // inline (host speed only).
    std::optional<Pfn> ksm_get_anon_page(PhysAddr ptep, bool get = true) {
        if (Smp::concurrent_here()) return ksm_get_anon_page_locked(ptep, get);
        const pteval_t v = get_entry(ptep);
        if (!pte_present(v) || pte_special(v)) return std::nullopt;
        page* p = pa_.mem_map().pfn_to_page(pte_pfn(v));
        if (!p->test(PG_anon)) return std::nullopt;
        if (get) p->_refcount++;
        return pte_pfn(v);
    }
    std::optional<Pfn> ksm_get_anon_page_locked(PhysAddr ptep, bool get);
    bool ksm_try_get_page(Pfn pfn, uint64_t mapping, unsigned cpu);
    void ksm_put_page(Pfn pfn, unsigned cpu) { put_anon_page(pa_.mem_map().pfn_to_page(pfn), cpu); }
    const page& ksm_page_flags(Pfn pfn) const { return pa_.mem_map()[pfn]; }
    // The PTE of addr in mm, 0 if none.
    pteval_t ksm_pte(const mm_struct* mm, uint64_t addr) const { return lookup_pte(mm, addr); }
    // The PTE's address, if its table exists, and a read of a PTE at an address found so.
    std::optional<PhysAddr> ksm_pte_entry(const mm_struct* mm, uint64_t addr) const {
        return pte_offset(mm, addr);
    }
    pteval_t ksm_read_pte(PhysAddr e) const { return get_entry(e); }
    // write_protect_page(): the PTE of `pfn` at addr made read-only and clean (cleared and
    // flushed first), unless it already is; `orig` gets the PTE. 0, or -EFAULT when the page
    // is not mapped there or another reference holds it.
    int write_protect_page(vm_area_struct* vma, uint64_t addr, Pfn pfn, pteval_t& orig,
                           unsigned cpu);
    // replace_page(): the PTE at addr (still `orig`) maps kpfn instead of pfn (the zero page:
    // a KSM zero page, special and dirty); pfn loses that mapping. 0 or -EFAULT.
    int replace_page(vm_area_struct* vma, uint64_t addr, Pfn pfn, Pfn kpfn, pteval_t orig,
                     unsigned cpu);
    // is_ksm_zero_pte(): the zero page, mapped special and dirty by KSM.
    bool is_ksm_zero_pte(pteval_t e) const {
        return pte_present(e) && pte_special(e) && (e & _PAGE_DIRTY) && pte_pfn(e) == zero_pfn_;
    }
    // break_ksm(): unshare faults at addr while it maps a KSM page or a KSM zero page (each
    // counted as a page fault of `t`, if given). 0 or -ENOMEM.
    int break_ksm(vm_area_struct* vma, uint64_t addr, task_struct* t, unsigned cpu);
    // lru_add_drain_all() from `self`: every CPU's batches go through (KSM does it at each full
    // scan's start), each on its own CPU (Linux queues the drain on each CPU and waits for it;
    // here a call on that CPU, emulator/smp.h), as a batch is that CPU's alone.
    void lru_add_drain_all(unsigned self) {
        for (unsigned c = 0; c < machine_.nr_cpus(); c++)
            machine_.smp().call_function_single(self, c, [this, c] { lru_add_drain(c); });
    }
    // get_anon_vma() / put_anon_vma(): a reference that keeps an anon_vma after its VMAs go
    // (an rmap_item's); the last put frees it.
    void get_anon_vma(anon_vma* av) { av->refcount++; }
    void put_anon_vma(anon_vma* av, unsigned cpu);
    // rmap_walk_ksm(): f(vma, address) once for each PTE that maps the KSM page.
    void rmap_walk_ksm(const page& p, Pfn pfn,
                       const std::function<void(const vm_area_struct*, uint64_t)>& f) const;

    // The address of the PTE for addr if every table above it exists.
    std::optional<PhysAddr> pte_offset(const mm_struct* mm, uint64_t addr) const;
    // /proc/PID/pagemap's 64-bit entries for [start, end), as a privileged reader sees them.
    std::vector<uint64_t> pagemap(const mm_struct* mm, uint64_t start, uint64_t end) const;
    // f(addr, pfn) for each present PTE of [start, end), the zero page's too, in address order;
    // absent page tables are skipped a table at a time (for the run's shadow-memory checker).
    void for_each_present_page(const mm_struct* mm, uint64_t start, uint64_t end,
                               const std::function<void(uint64_t, Pfn)>& f) const;

    // The PTE mapping `addr` in mm (0 if none), as the walker would read it.
    pteval_t lookup_pte(const mm_struct* mm, uint64_t addr) const;
    Pfn zero_pfn() const { return zero_pfn_; }
    PhysAddr swapper_pg_dir() const { return swapper_pg_dir_; }
    uint64_t task_size() const { return task_size_; }
    uint64_t max_map_count() const { return cfg_.max_map_count; } // vm.max_map_count
    const MmVmstat& vmstat() const { return vmstat_; }
    const MmemuFaultCounts& fault_counts() const { return counts_; }
    // The run's timeline, or nullptr (emulator/trace.h), and a CPU's virtual clock for it.
    Tracer* tracer() const { return machine_.tracer(); }
    uint64_t cpu_ns(unsigned cpu) const { return machine_.cpu_ns(cpu); }
    uint64_t kernel_oops() const { return kernel_oops_; }

    // The frames user address spaces own (page tables and mapped anonymous pages), for the
    // "nothing lost" audit: every one once, each page's refcount and mapcount equal to the
    // PTEs that map it. "" or the first violation.
    std::string audit(std::vector<OwnedFrames>& owned) const;
    // The live mm_structs.
    const std::vector<mm_struct*>& mms() const { return mms_; }
    // rmap_walk() of a mapped anonymous page: f(vma, address) for each PTE that maps it, found
    // from its anon_vma's chains (rmap.cpp).
    void rmap_walk_anon(const page& p, Pfn pfn,
                        const std::function<void(const vm_area_struct*, uint64_t)>& f) const;

    // ---- the OOM killer (oom_kill.cpp) ----
    // out_of_memory(): pick the process oom_badness() scores highest, send it SIGKILL, and free
    // its anonymous memory at once (what its exit or the oom_reaper would free while the
    // allocation waits) unless it is the allocating task itself, which goes on with access to
    // the reserves. Its page tables and objects go when it dies, at the end of the event.
    OomResult out_of_memory(gfp_t gfp, unsigned order, unsigned cpu, uint64_t nodemask) override;
    bool current_is_oom_victim(unsigned cpu) const override {
        return current_[cpu] && current_[cpu]->oom_victim;
    }
    // oom_badness(): the pages a task's death would free (RSS, swap entries, page tables),
    // shifted by oom_score_adj in thousandths of `totalpages`; nullopt for a task the OOM
    // killer never picks (oom_score_adj -1000, an mm already reaped, no mm).
    std::optional<int64_t> oom_badness(const task_struct* t, uint64_t totalpages) const;
    // /proc/PID/oom_score (proc_oom_score()): (1000 + points * 1000 / totalpages) * 2 / 3, or 0
    // for a task oom_badness() passes over.
    uint64_t oom_score(const task_struct& t) const;
    const std::vector<OomKill>& oom_kills() const { return oom_kills_; }
    // Whether some task may have a SIGKILL pending (so the caller need not look at every task
    // after every event); cleared by clear_kills_pending() once they are dealt with.
    bool kills_pending() const { return kills_pending_; }
    void clear_kills_pending() { kills_pending_ = false; }

    // ---- highmem (highmem.cpp) ----
    // kmap_local_pfn(): the kernel address of a frame's bytes (page_address() for lowmem, a
    // fixmap slot of this CPU for highmem) until kunmap_local().
    uint64_t kmap_local_pfn(Pfn pfn, unsigned cpu);
    void kunmap_local(uint64_t vaddr, unsigned cpu);
    // Highmem: the page allocator's __GFP_ZERO of a highmem frame.
    void clear_highpage(Pfn pfn, unsigned cpu) override;
    // copy_user_highpage(): a COW copy, both frames kmapped.
    void copy_user_highpage(Pfn to, Pfn from, unsigned cpu);
    // The kernel's paging format and layout.
    const PgtableFormat& format() const { return fmt_; }
    uint64_t page_offset() const { return page_offset_; }
    bool has_highmem() const { return max_low_pfn_ < max_pfn_; }

    // MapleNodeSource: the maple_node cache.
    SlabObj alloc_node() override;
    void free_node(SlabObj node) override;

private:
    // pgtable.cpp
    // READ_ONCE / WRITE_ONCE of an entry: one atomic access, since the CPUs' walkers read the
    // tables concurrently in the concurrent mode. Throws std::out_of_range outside RAM.
    pteval_t get_entry(PhysAddr e) const {
        check_entry(e);
        return ram_.load_entry(e.value, fmt_.entry_bytes == 8);
    }
    void set_entry(PhysAddr e, pteval_t v) {
        check_entry(e);
        ram_.store_entry(e.value, v, fmt_.entry_bytes == 8);
    }
    void check_entry(PhysAddr e) const {
        if (!ram_.contains_entry(e.value, fmt_.entry_bytes))
            throw std::out_of_range("a page-table entry beyond emulated RAM");
    }
    PhysAddr entry_at(PhysAddr table, unsigned idx) const {
        return PhysAddr{table.value + uint64_t{fmt_.entry_bytes} * idx};
    }
    static constexpr PhysAddr table_of(pteval_t e) { return PhysAddr{e & PTE_PFN_MASK}; }
    uint64_t audit_tables(const mm_struct* mm, std::vector<OwnedFrames>& owned,
                          const std::function<void(pteval_t)>& f) const;
    PhysAddr pgd_alloc(mm_struct* mm);
    void pgd_free(mm_struct* mm);
    std::optional<PhysAddr> alloc_pt_page(mm_struct* mm); // a zeroed page-table page
    // alloc_pages_mpol(): a page of `order` for `pol` (interleave index `ilx`, or
    // NO_INTERLEAVE_INDEX), from the node of `cpu` unless the policy says otherwise.
    static constexpr uint64_t NO_INTERLEAVE_INDEX = ~uint64_t{0};
    page* alloc_pages_mpol(gfp_t gfp, unsigned order, const mempolicy& pol, uint64_t ilx,
                           unsigned cpu);
    // vma_alloc_folio(): a user page of `vma` at `addr` (the VMA's policy, else the task's
    // running on `cpu`), and alloc_pages() in process context (the task's policy).
    page* vma_alloc_page(gfp_t gfp, vm_area_struct* vma, uint64_t addr, unsigned cpu);
    page* alloc_pages_task(gfp_t gfp, unsigned order, unsigned cpu);
    // A memory policy's nodes the machine has memory on, and policy_zone (the highest zone
    // below ZONE_MOVABLE with memory: a BIND policy limits allocations from it up).
    uint64_t nodes_with_memory() const;
    void free_pt_page(mm_struct* mm, PhysAddr table, bool pgd);
    // pte_free_defer(): a PTE table unhooked under mmap_lock held for reading.
    void pte_free_defer(mm_struct* mm, PhysAddr table);
    // The address of the entry of `level` (0 PGD, 1 PUD, 2 PMD, 3 PTE) mapping addr, allocating
    // missing tables above it (nullopt on ENOMEM), or if every table above it exists.
    std::optional<PhysAddr> entry_alloc_walk(mm_struct* mm, uint64_t addr, unsigned level);
    std::optional<PhysAddr> entry_offset(const mm_struct* mm, uint64_t addr, unsigned level) const;
    // The address of the PTE for addr, allocating missing tables; nullopt on ENOMEM.
    std::optional<PhysAddr> pte_alloc_walk(mm_struct* mm, uint64_t addr);
    // f(pte address, addr) for each page of [start, end) whose PTE table exists, a table at a
    // time (the walk above the PTE level is done once per PMD_SIZE; absent tables are skipped).
    template <class F>
    void for_each_pte(const mm_struct* mm, uint64_t start, uint64_t end, F&& f) const {
        const uint64_t pmd_size = fmt_.pmd_size(), step = fmt_.entry_bytes;
        for (uint64_t a = start; a < end;) {
            const uint64_t table_end = std::min(end, (a + pmd_size) & ~(pmd_size - 1));
            if (const auto ptep = pte_offset(mm, a)) {
                PhysAddr e = *ptep;
                for (; a < table_end; a += PAGE_SIZE, e = PhysAddr{e.value + step}) f(e, a);
            }
            a = table_end;
        }
    }
    void free_pgd_range(mm_struct* mm, uint64_t addr, uint64_t end, uint64_t floor,
                        uint64_t ceiling);
    // pgtable_32.cpp / pgtable_64.cpp: the format, swapper_pg_dir's kernel half, the process
    // layout constants and every CPU's paging mode.
    void pick_format_32(bool pae);
    void pick_format_64(bool la57);
    std::string paging_init_32(const BootLayout& layout);
    std::string paging_init_64(const BootLayout& layout);
    // highmem.cpp
    uint64_t kmap_slot_vaddr(unsigned slot) const;
    uint8_t* kmap_bytes(Pfn pfn); // for writing: ram_.written(pfn) after
    void free_level(mm_struct* mm, PhysAddr entry, int level, uint64_t addr, uint64_t end,
                    uint64_t floor, uint64_t ceiling);

    // mmap.cpp
    uint64_t get_unmapped_area(mm_struct* mm, uint64_t addr, uint64_t len, unsigned flags, int& err,
                               uint64_t pgoff = 0);
    std::optional<uint64_t> unmapped_area_topdown(mm_struct* mm, uint64_t length, uint64_t low,
                                                  uint64_t high, uint64_t align_mask) const;
    vm_area_struct* vm_area_alloc(mm_struct* mm);
    vm_area_struct* vm_area_dup(vm_area_struct* vma);
    void vm_area_free(vm_area_struct* vma);
    void free_host_vma(vm_area_struct* vma); // the host side only (machine teardown)
    bool store_vma(mm_struct* mm, vm_area_struct* vma);
    int split_vma(mm_struct* mm, vm_area_struct* vma, uint64_t addr, bool new_below);
    void vm_stat_account(mm_struct* mm, vm_flags_t flags, int64_t npages);
    int do_vmi_align_munmap(mm_struct* mm, vm_area_struct* vma, uint64_t start, uint64_t end);
    vm_area_struct* vma_prev(const mm_struct* mm, uint64_t addr) const;
    int expand_downwards(mm_struct* mm, vm_area_struct* vma, uint64_t addr, unsigned cpu);

    // mprotect.cpp
    vm_area_struct* vma_modify_flags(mm_struct* mm, vm_area_struct* vma, uint64_t start,
                                     uint64_t end, vm_flags_t newflags, int& err);
    uint64_t change_protection(mm_struct* mm, vm_area_struct* vma, uint64_t start, uint64_t end);
    void take_anon_vma(vm_area_struct* dst, vm_area_struct* from);
    void remove_vma(mm_struct* mm, vm_area_struct* vma);

    // mremap.cpp
    vm_area_struct* copy_vma(mm_struct* mm, vm_area_struct* vma, uint64_t addr, uint64_t len,
                             uint64_t pgoff);
    uint64_t move_page_tables(mm_struct* mm, uint64_t old_addr, uint64_t new_addr, uint64_t len);
    int64_t move_vma(mm_struct* mm, vm_area_struct* vma, uint64_t addr, uint64_t old_len,
                     uint64_t new_addr, uint64_t new_len, unsigned flags);
    int mremap_prep(mm_struct* mm, vm_area_struct* vma, uint64_t addr, uint64_t old_len,
                    uint64_t new_len, unsigned flags);
    int64_t mremap_one(mm_struct* mm, uint64_t addr, uint64_t old_len, uint64_t new_len,
                       unsigned flags, uint64_t new_addr);

    // mlock.cpp
    int mm_populate(mm_struct* mm, uint64_t start, uint64_t end, bool ignore_errors, unsigned cpu);
    int mlock_fixup(mm_struct* mm, vm_area_struct*& vma, uint64_t start, uint64_t end,
                    vm_flags_t newflags);
    int apply_vma_lock_flags(mm_struct* mm, uint64_t start, uint64_t len, vm_flags_t flags);

    // madvise.cpp
    void madvise_free_range(mm_struct* mm, uint64_t start, uint64_t end, unsigned cpu);
    void folio_mark_lazyfree(page* p, unsigned cpu);
    // lru_add_drain(): this CPU's lru_lazyfree batch goes through (PG_swapbacked cleared).
    void lru_add_drain(unsigned cpu);
    void reclaim_empty_pte_tables(mm_struct* mm, uint64_t start, uint64_t end, bool flushed);
    void clear_pmd(mm_struct* mm, uint64_t addr); // pgtable.cpp

    // exec.cpp: fault in [start, end) of a VMA as a write and fill each page (a file read).
    bool load_pages(mm_struct* mm, uint64_t start, uint64_t end, uint64_t seed, unsigned cpu);

    // memory.cpp
    enum class vm_fault { ok, oom, sigbus };
    vm_fault handle_mm_fault(mm_struct* mm, vm_area_struct* vma, uint64_t addr, bool write,
                             unsigned cpu);
    vm_fault do_anonymous_page(mm_struct* mm, vm_area_struct* vma, uint64_t addr, PhysAddr ptep,
                               bool write, unsigned cpu);
    // `unshare`: FAULT_FLAG_UNSHARE (break_ksm): the copy is mapped read-only and clean.
    // Called with the PTE table's lock held (`ptl`); it may drop it and take it again.
    vm_fault do_wp_page(mm_struct* mm, vm_area_struct* vma, uint64_t addr, PhysAddr ptep,
                        pteval_t orig, PtlHolder& ptl, unsigned cpu, bool unshare = false);
    // The struct page of the page-table frame holding the entry `e` (its ptdesc: the PTE lock).
    page& pt_page(PhysAddr e) { return pa_.mem_map()[Pfn{e.value >> PAGE_SHIFT}]; }
    // zap_pte_range() over [start, end); with `gather`, the pages are added to it unflushed.
    // True if a PTE was cleared (and so, without `gather`, the range flushed).
    bool zap_range(mm_struct* mm, uint64_t start, uint64_t end, unsigned cpu,
                   std::vector<page*>* gather = nullptr);
    void free_pgtables(mm_struct* mm, const std::vector<vm_area_struct*>& vmas, uint64_t floor,
                       uint64_t ceiling, unsigned cpu);
    void exit_mmap(mm_struct* mm, unsigned cpu);
    void put_anon_page(page* p, unsigned cpu);
    // ksm_might_unmap_zero_page(): a KSM zero page's PTE goes; mm's count and KSM's drop.
    void ksm_might_unmap_zero_page(mm_struct* mm, pteval_t e) {
        if (!is_ksm_zero_pte(e)) return;
        mm->ksm_zero_pages--;
        if (ksm_) ksm_->ksm_zero_page_unmapped();
    }

    // shmem.cpp
    int shmem_zero_setup(vm_area_struct* vma, unsigned cpu);
    void get_file(shmem_file* f) { f->f_count++; }
    void fput(shmem_file* f, unsigned cpu);
    vm_fault shmem_fault(mm_struct* mm, vm_area_struct* vma, uint64_t addr, PhysAddr ptep,
                         bool write, unsigned cpu);
    vm_fault wp_page_shared(vm_area_struct* vma, PhysAddr ptep, pteval_t orig);
    void zap_file_page(mm_struct* mm, page* p);
    std::string audit_shmem(const std::map<uint64_t, int>& maps,
                            std::vector<OwnedFrames>& owned) const;

    // tlb.cpp
    uint64_t build_cr3(PhysAddr pgd, unsigned asid, bool noflush) const;
    void choose_new_asid(cpu_tlbstate& s, const mm_struct* next, uint64_t next_tlb_gen,
                         unsigned& asid, bool& need_flush) const;
    void switch_mm(unsigned cpu, mm_struct* next);
    void flush_tlb_func(unsigned cpu, mm_struct* mm, uint64_t start, uint64_t end,
                        uint64_t new_tlb_gen);
    // flush_tlb_mm_range() from the CPU of the operation in progress; `freed_tables`: page
    // tables were freed (lazy and stale CPUs of mm_cpumask are interrupted too).
    void flush_tlb_mm_range(mm_struct* mm, uint64_t start, uint64_t end, bool freed_tables = false);

    // oom_kill.cpp
    void oom_kill_process(task_struct* victim, int64_t points, uint64_t totalpages, gfp_t gfp,
                          unsigned order, unsigned cpu, uint64_t nodemask);
    void oom_reap_task_mm(mm_struct* mm, unsigned cpu);

    // fork.cpp
    task_struct* add_task(const std::string& comm, mm_struct* mm, unsigned cpu, SlabObj obj);
    void release_task(task_struct* t); // the task_struct object freed (reaped)
    int dup_mmap(mm_struct* mm, mm_struct* oldmm, unsigned cpu);
    bool copy_page_range(mm_struct* dst, mm_struct* src, const vm_area_struct* svma);

    // rmap.cpp
    // The anon_vma invariants and rmap_walk against the page tables' mappings (pfn -> PTEs).
    std::string audit_rmap(const std::map<uint64_t, int>& maps) const;
    bool anon_vma_prepare(vm_area_struct* vma, unsigned cpu);
    bool anon_vma_fork(vm_area_struct* vma, vm_area_struct* pvma, unsigned cpu);
    bool anon_vma_clone(vm_area_struct* dst, const vm_area_struct* src, unsigned cpu);
    void link_avc(vm_area_struct* vma, anon_vma* av, SlabObj obj);
    void unlink_anon_vmas(vm_area_struct* vma, unsigned cpu);
    void folio_add_new_anon_rmap(page* p, vm_area_struct* vma, uint64_t addr);

    Machine& machine_;
    PhysicalMemory& ram_;
    PageAllocator& pa_;
    SlabAllocator& slab_;
    KernelConfig cfg_;
    bool ready_ = false;
    std::string unsupported_;
    kmem_cache* mm_cachep_ = nullptr;
    kmem_cache* vm_area_cachep_ = nullptr;
    kmem_cache* anon_vma_cachep_ = nullptr;
    kmem_cache* anon_vma_chain_cachep_ = nullptr;
    kmem_cache* maple_node_cache_ = nullptr;
    kmem_cache* shmem_inode_cachep_ = nullptr;
    kmem_cache* dentry_cachep_ = nullptr;
    kmem_cache* filp_cachep_ = nullptr;
    std::vector<shmem_file*> shmem_files_; // the live shmem objects
    uint64_t last_ino_ = 0;                // get_next_ino()
    Pfn zero_pfn_;
    KsmHooks* ksm_ = nullptr; // CONFIG_KSM: System wires ksm/'s implementation in
    PhysAddr swapper_pg_dir_;
    PgtableFormat fmt_;
    uint64_t page_offset_ = 0;               // PAGE_OFFSET: the direct map's start
    unsigned kernel_pgd_boundary_ = 0;       // KERNEL_PGD_BOUNDARY: pgd_index(PAGE_OFFSET)
    uint64_t max_low_pfn_ = 0, max_pfn_ = 0; // lowmem ends at max_low_pfn (highmem above)
    uint64_t task_size_ = 0;                 // TASK_SIZE_MAX (PAGE_OFFSET on 32-bit)
    uint64_t map_window_ = 0;                // DEFAULT_MAP_WINDOW: where mmap_base is computed from
    uint64_t stack_top_ = 0;                 // STACK_TOP
    uint64_t elf_text_start_ = 0;            // where exec loads a non-PIE binary's text
    uint64_t mmap_base_ = 0;                 // the top-down base every mm gets (ASLR off)
    PhysAddr kmap_pte_table_;                // the fixmap's PTE table (32-bit)
    std::vector<unsigned> kmap_idx_;         // per CPU: kmap_local slots in use
    uint64_t last_mm_ctx_id_ = INIT_MM_CTX_ID;
    kmem_cache* task_cachep_ = nullptr;
    bool tearing_down_ = false;
    std::vector<task_struct*> current_;
    std::vector<cpu_tlbstate> tlbstate_;
    bool pcid_ = false; // CR4.PCIDE set at boot (setup_pcid())
    std::vector<mm_struct*> mms_;
    std::vector<std::unique_ptr<task_struct>> tasks_;
    MmVmstat vmstat_;
    MmemuFaultCounts counts_;
    uint64_t kernel_oops_ = 0;
    katomic_u64 tables_freed_ = 0; // page-table pages below the PGD freed (to know a flush is due)
    std::vector<OomKill> oom_kills_;
    kernel_atomic<bool> kills_pending_ = false;
    std::mutex group_exit_lock_;                     // siglock's part: group_exit and its reason
    std::vector<task_struct*> deferred_group_exits_; // leaders, under group_exit_lock_
    // The per-CPU lru_lazyfree folio batches (FOLIO_BATCH_SIZE 31) of MADV_FREE.
    std::vector<std::vector<page*>> lazyfree_batch_;
    // Per CPU: PTE tables pte_free_defer() is holding until the next grace period.
    std::vector<std::vector<PhysAddr>> deferred_pt_;
};

} // namespace mmemu
