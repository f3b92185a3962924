// The life of an mm_struct (kernel/fork.c: mm_alloc, mm_init, mmput, mmdrop) and the boot steps
// of the process side: the slab caches of fork_init(), proc_caches_init() and maple_tree_init(),
// the zero page, swapper_pg_dir with the direct map, and the CPUs put on it.
#include <algorithm>

#include "mmcore/address_spaces.h"
#include "mmcore/bug.h"
#include "mmcore/gfp.h"

namespace mmemu {

namespace {
// x86_64 with 4-level paging: TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE, DEFAULT_MAP_WINDOW the same.
constexpr uint64_t TASK_SIZE_MAX_4L = (uint64_t{1} << 47) - PAGE_SIZE;
// mmap_base() (arch/x86/mm/mmap.c) with ASLR off and an 8 MiB RLIMIT_STACK: the gap
// RLIMIT_STACK + stack_guard_gap (1 MiB) clamps to 128 MiB, so the base is
// PAGE_ALIGN(TASK_SIZE - 128 MiB) = 0x7ffff7fff000 (linux-process-facts.md section 1).
constexpr uint64_t MIN_GAP = uint64_t{128} << 20;
constexpr uint64_t PHYSICAL_START = uint64_t{16} << 20; // CONFIG_PHYSICAL_START
} // namespace

AddressSpaces::AddressSpaces(Machine& m, PageAllocator& pa, SlabAllocator& slab,
                             const KernelConfig& cfg)
    : machine_(m), ram_(m.ram()), pa_(pa), slab_(slab), cfg_(cfg), current_(m.nr_cpus(), nullptr) {}

AddressSpaces::~AddressSpaces() {
    // The machine is going away: host memory only, nothing given back to emulated allocators.
    tearing_down_ = true;
    for (mm_struct* mm : mms_) {
        for (const vm_area_struct* v : vmas(mm)) free_host_vma(const_cast<vm_area_struct*>(v));
        delete mm;
    }
}

std::string AddressSpaces::init(const BootLayout& layout) {
    // The caches, in boot order: maple_tree_init() (start_kernel), fork_init() (task_struct),
    // proc_caches_init() (mm_struct, vm_area_struct via vma_state_init), anon_vma_init().
    // Object sizes are those of Linux 6.18.44 on x86_64, as this machine's
    // /sys/kernel/slab/<cache>/object_size gives them; alignments from the kernel's
    // kmem_cache_create() calls (maple_node aligned to its size; SLAB_HWCACHE_ALIGN for
    // task_struct, mm_struct and vm_area_struct).
    struct Want {
        const char* name;
        uint64_t size, align;
        uint32_t flags;
        kmem_cache** out;
    };
    kmem_cache* task_cachep = nullptr;
    const Want caches[] = {
        {"maple_node", 256, 256, SLAB_PANIC, &maple_node_cache_},
        {"task_struct", 5824, 64, SLAB_PANIC, &task_cachep},
        {"mm_struct", 1568, 64, SLAB_HWCACHE_ALIGN | SLAB_PANIC, &mm_cachep_},
        {"vm_area_struct", 192, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC, &vm_area_cachep_},
        {"anon_vma", 96, 0, SLAB_PANIC, &anon_vma_cachep_},
        {"anon_vma_chain", 64, 0, SLAB_PANIC, &anon_vma_chain_cachep_},
    };
    for (const Want& w : caches) {
        std::string err;
        *w.out = slab_.kmem_cache_create(w.name, w.size, w.align, w.flags, std::nullopt, err);
        if (!*w.out) return std::string("kmem_cache_create(") + w.name + "): " + err;
    }
    task_cachep_ = task_cachep;
    if (machine_.arch() != Arch::x86_64) {
        unsupported_ = "processes run on x86_64 only so far (the i386 and PAE page tables, the "
                       "VMSPLIT layouts and highmem come later)";
        return {};
    }

    // empty_zero_page and swapper_pg_dir are pages of the kernel image (.bss..page_aligned and
    // the page-table section); mmemu places them at its end, the direct map's tables below.
    const uint64_t image_end = PHYSICAL_START + cfg_.kernel_image_bytes;
    if (cfg_.kernel_image_bytes < 8 * PAGE_SIZE || image_end > layout.max_pfn * PAGE_SIZE)
        return "the kernel image is too small to hold the zero page and the boot page tables";
    zero_pfn_ = Pfn{image_end / PAGE_SIZE - 1};
    swapper_pg_dir_ = PhysAddr{image_end - 2 * PAGE_SIZE};
    ram_.fill(pfn_phys(zero_pfn_), 0, PAGE_SIZE);
    ram_.fill(swapper_pg_dir_, 0, PAGE_SIZE);
    if (std::string e = build_direct_map(layout); !e.empty()) return e;

    task_size_ = TASK_SIZE_MAX_4L;
    mmap_base_ = (task_size_ - MIN_GAP) & PAGE_MASK;

    // Every CPU in long mode with 4-level paging on swapper_pg_dir: CR4.PAE and PGE, EFER.LME
    // and NXE, then CR0.PG with WP (as secondary_startup_64 leaves them).
    for (unsigned c = 0; c < machine_.nr_cpus(); c++) {
        Mmu& mmu = machine_.mmu(c);
        Fault f = mmu.write_cr4(CR4_PAE | CR4_PGE);
        if (!f.raised()) f = mmu.write_efer(EFER_LME | EFER_NXE);
        if (!f.raised()) f = mmu.write_cr3(swapper_pg_dir_.value);
        if (!f.raised()) f = mmu.write_cr0(CR0_PE | CR0_PG | CR0_WP);
        if (f.raised()) return "CPU " + std::to_string(c) + " refused the kernel's paging mode";
    }
    ready_ = true;
    return {};
}

SlabObj AddressSpaces::alloc_node() {
    return slab_.kmem_cache_alloc(maple_node_cache_, GFP_KERNEL, node_cpu_);
}

void AddressSpaces::free_node(SlabObj node) {
    if (tearing_down_) return;
    slab_.kmem_cache_free(maple_node_cache_, node, node_cpu_);
}

// mm_alloc() -> mm_init(): the mm_struct object, an empty VMA tree, a PGD with the kernel's half
// (mm_alloc_pgd), a fresh context id (init_new_context: ctx_id from last_mm_ctx_id, which
// init_mm's 1 starts), and the top-down layout (arch_pick_mmap_layout).
mm_struct* AddressSpaces::mm_alloc(unsigned cpu) {
    node_cpu_ = cpu;
    const SlabObj obj = slab_.kmem_cache_alloc(mm_cachep_, GFP_KERNEL | __GFP_ACCOUNT, cpu);
    if (obj.null()) return nullptr;
    auto* mm = new mm_struct(*this, MapleGeometry::bits64());
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
    mm->mmap_legacy_base = (task_size_ / 3 + PAGE_SIZE - 1) & PAGE_MASK;
    mms_.push_back(mm);
    return mm;
}

// mmput(): the last user's exit_mmap(), then mmdrop() of the users' reference; __mmdrop() frees
// the PGD and the object.
void AddressSpaces::mmput(mm_struct* mm, unsigned cpu) {
    node_cpu_ = cpu;
    if (--mm->mm_users > 0) return;
    exit_mmap(mm, cpu);
    if (--mm->mm_count > 0) return;
    pgd_free(mm);
    slab_.kmem_cache_free(mm_cachep_, mm->obj, cpu);
    mms_.erase(std::find(mms_.begin(), mms_.end(), mm));
    delete mm;
}

task_struct* AddressSpaces::task_create(const std::string& comm, unsigned cpu) {
    const SlabObj obj = slab_.kmem_cache_alloc(task_cachep_, GFP_KERNEL, cpu);
    if (obj.null()) return nullptr;
    mm_struct* mm = mm_alloc(cpu);
    if (!mm) {
        slab_.kmem_cache_free(task_cachep_, obj, cpu);
        return nullptr;
    }
    auto t = std::make_unique<task_struct>();
    t->pid = int(tasks_.size()) + 1;
    t->comm = comm;
    t->mm = mm;
    t->cpu = cpu;
    t->obj = obj;
    tasks_.push_back(std::move(t));
    return tasks_.back().get();
}

void AddressSpaces::task_exit(task_struct* t, const std::string& reason) {
    const unsigned cpu = t->cpu;
    for (unsigned c = 0; c < current_.size(); c++)
        if (current_[c] == t) set_current(c, nullptr);
    if (t->mm) mmput(t->mm, cpu);
    t->mm = nullptr;
    slab_.kmem_cache_free(task_cachep_, t->obj, cpu);
    t->obj = SlabObj{};
    t->exited = true;
    t->exit_reason = reason;
}

// switch_mm() without PCIDs yet: CR3 gets the next mm's PGD (swapper_pg_dir for none), which
// flushes every non-global TLB entry.
void AddressSpaces::set_current(unsigned cpu, task_struct* t) {
    current_[cpu] = t;
    const PhysAddr pgd = t && t->mm ? t->mm->pgd : swapper_pg_dir_;
    Mmu& mmu = machine_.mmu(cpu);
    if (mmu.regs().cr3 != pgd.value) mmu.write_cr3(pgd.value);
}

} // namespace mmemu
