#include "mmcore/kernel.h"

namespace mmemu {

uint64_t kernel_page_offset(Arch a, const KernelConfig& cfg) {
    return a == Arch::x86_64 ? 0xffff888000000000ULL : cfg.page_offset_32;
}

// The boot steps that must run between members' construction, in the kernel's order:
// memblock (setup_arch), then zones and the buddy allocator (free_area_init + memblock_free_all)
// before the slab allocator, which sizes its slabs by the RAM that boot left managed.
static Memblock boot_memblock_for(Machine& m, const KernelConfig& cfg, BootLayout& layout) {
    return boot_memblock(m, cfg, layout);
}
static uint64_t boot_zones(PageAllocator& pa, const Machine& m, const KernelConfig& cfg,
                           const Memblock& mb, BootLayout& layout) {
    free_area_init(pa, m, cfg, mb, layout);
    return layout.totalram_pages;
}

Kernel::Kernel(Machine& m, const KernelConfig& cfg)
    : machine(m), config(cfg), memblock(boot_memblock_for(m, cfg, layout)), mem_map(layout.max_pfn),
      buddy(mem_map, m.ram(), m.arch(), m.nr_cpus()),
      slab(buddy, m.ram(), m.arch(), m.nr_cpus(), boot_zones(buddy, m, cfg, memblock, layout),
           cfg.slab_debug, kernel_page_offset(m.arch(), cfg)),
      page_offset_(kernel_page_offset(m.arch(), cfg)) {
    tuning = init_per_zone_wmark_min(buddy, cfg);
    buddy.set_pcp_enabled(cfg.pcp_enabled);
    slab.kmem_cache_init();
}

void Kernel::retune(const KernelConfig& cfg) {
    tuning = init_per_zone_wmark_min(buddy, cfg);
}

std::string Kernel::audit(const std::vector<std::pair<uint64_t, unsigned>>& held) const {
    std::vector<uint8_t> owner(layout.max_pfn, 0);
    for (uint64_t pfn = 0; pfn < layout.max_pfn; pfn++)
        if (mem_map[pfn].test(PG_reserved)) owner[pfn]++;
    if (std::string e = buddy.audit_free_lists(owner); !e.empty()) return e;
    if (std::string e = slab.audit(owner); !e.empty()) return e;
    for (auto [pfn, order] : held)
        for (uint64_t i = 0; i < (uint64_t{1} << order); i++)
            if (pfn + i < owner.size() && owner[pfn + i] < 255) owner[pfn + i]++;
    for (uint64_t pfn = 0; pfn < layout.max_pfn; pfn++) {
        if (owner[pfn] == 1) continue;
        return "pfn " + std::to_string(pfn) +
               (owner[pfn] ? " is accounted to " + std::to_string(owner[pfn]) + " owners"
                           : " is lost (free nowhere, owned by nobody)");
    }
    return {};
}

} // namespace mmemu
