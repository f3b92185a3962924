#include "system/system.h"

#include <algorithm>
#include <stdexcept>

namespace mmemu {

System::~System() {
    // ksmd works on KSM, KSM holds references into the kernel, and the kernel into the machine.
    ksmd_.reset();
    ksm_.reset();
    kernel_.reset();
    machine_.reset();
}

BootResult System::boot(const SystemConfig& cfg) {
    BootResult r;
    std::unique_ptr<System> s(new System());
    try {
        s->machine_ = std::make_unique<Machine>(cfg.machine);
    } catch (const std::invalid_argument& e) {
        r.error = std::string("this machine cannot be built: ") + e.what();
        return r;
    } catch (const std::runtime_error& e) {
        r.error = std::string("the host refused the machine: ") + e.what();
        return r;
    }
    if (cfg.kernel) {
        s->kernel_ = std::make_unique<Kernel>(*s->machine_, *cfg.kernel);
        try {
            if (std::string e = s->start_kernel(); !e.empty()) {
                r.error = "the kernel cannot boot on this machine: " + e;
                return r;
            }
        } catch (const std::runtime_error& e) {
            r.error = std::string("the host refused the kernel's memory: ") + e.what();
            return r;
        }
    }
    s->wire_hooks();
    r.system = std::move(s);
    return r;
}

std::string System::start_kernel() {
    Kernel& k = *kernel_;
    // setup_arch(): e820 -> memblock, the boot reservations; paging_init() -> free_area_init().
    if (std::string e = k.setup_arch(); !e.empty()) return e;
    k.free_area_init();
    // build_all_zonelists(), then mm_core_init(): mem_init() -> memblock_free_all(), and
    // kmem_cache_init() / kmem_cache_init_late().
    k.build_all_zonelists();
    if (std::string e = k.mm_core_init(); !e.empty()) return e;
    // setup_per_cpu_pageset(), then the initcalls: init_per_zone_wmark_min() (core_initcall).
    k.setup_per_cpu_pageset();
    // fork_init(), proc_caches_init(): the caches and page tables processes need.
    if (std::string e = k.proc_caches_init(); !e.empty()) return e;
    k.init_per_zone_wmark_min();
    // ksm_init() (subsys_initcall): its slab caches, the zero page's checksum.
    if (k.spaces.ready()) {
        ksm_ =
            std::make_unique<Ksm>(k.spaces, k.slab, machine_->ram(),
                                  machine_->arch() == Arch::x86_64, unsigned(k.buddy.nodes.size()));
        if (std::string e = ksm_->init(0); !e.empty()) return e;
        // kthread_run(ksm_scan_thread): ksmd starts, and waits (run is 0). Its page-table work
        // is done on CPU 0.
        ksmd_ =
            std::make_unique<Ksmd>(*ksm_, machine_->config().costs, machine_->config().cpu_mhz, 0);
    }
    return {};
}

uint64_t System::now_ns() const {
    uint64_t latest = 0;
    for (unsigned c = 0; c < machine_->nr_cpus(); c++)
        latest = std::max(latest, machine_->cpu_ns(c));
    return latest;
}

void System::wire_hooks() {
    if (!kernel_) return;
    for (unsigned c = 0; c < machine_->nr_cpus(); c++)
        machine_->cpu(c).set_page_fault_handler(&kernel_->faults);
    // The page allocator's last resort: the OOM killer, which needs the processes.
    if (kernel_->spaces.ready()) kernel_->buddy.set_oom_killer(&kernel_->spaces);
    // A 32-bit kernel zeroes highmem pages through kmap_local.
    if (kernel_->spaces.ready() && kernel_->spaces.has_highmem())
        kernel_->buddy.set_highmem(&kernel_->spaces);
    // mmcore tells KSM of madvise, fork, exit and unmapped KSM zero pages (include/linux/ksm.h).
    if (ksm_) kernel_->spaces.set_ksm(ksm_.get());
}

} // namespace mmemu
