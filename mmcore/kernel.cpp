#include "mmcore/kernel.h"

namespace mmemu {

uint64_t kernel_page_offset(Arch a, const KernelConfig& cfg) {
    return a == Arch::x86_64 ? 0xffff888000000000ULL : cfg.page_offset_32;
}

Kernel::Kernel(Machine& m, const KernelConfig& cfg)
    : machine(m), config(cfg), buddy(mem_map, m.ram(), m.arch(), m.nr_cpus()),
      slab(buddy, m.ram(), m.arch(), m.nr_cpus(), cfg.slab_debug,
           kernel_page_offset(m.arch(), cfg)),
      page_offset_(kernel_page_offset(m.arch(), cfg)) {}

std::string Kernel::setup_arch() {
    if (std::string e = setup_memblock(machine, config, memblock, layout); !e.empty()) return e;
    mem_map.init(layout.max_pfn);
    return {};
}

void Kernel::free_area_init() {
    mmemu::free_area_init(buddy, machine, config, memblock, layout);
}

void Kernel::build_all_zonelists() {
    buddy.build_zonelists();
}

std::string Kernel::mm_core_init() {
    memblock_free_all(buddy, memblock);
    return slab.kmem_cache_init(layout.totalram_pages);
}

void Kernel::setup_per_cpu_pageset() {
    mmemu::setup_per_cpu_pageset(buddy, config);
}

void Kernel::init_per_zone_wmark_min() {
    tuning = mmemu::init_per_zone_wmark_min(buddy, config);
    buddy.set_pcp_enabled(config.pcp_enabled);
    booted_ = true;
}

void Kernel::retune(const KernelConfig& cfg) {
    tuning = mmemu::init_per_zone_wmark_min(buddy, cfg);
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
