#include "mmcore/kernel.h"

#include <algorithm>

namespace mmemu {

uint64_t kernel_page_offset(Arch a, const KernelConfig& cfg) {
    return a == Arch::x86_64 ? 0xffff888000000000ULL : cfg.page_offset_32;
}

Kernel::Kernel(Machine& m, const KernelConfig& cfg)
    : machine(m), config(cfg), buddy(mem_map, m.ram(), m.arch(), m.nr_cpus()),
      slab(buddy, m.ram(), m.arch(), m.nr_cpus(), cfg.slab_debug,
           kernel_page_offset(m.arch(), cfg)),
      spaces(m, buddy, slab, cfg), faults(spaces), page_offset_(kernel_page_offset(m.arch(), cfg)) {
}

std::string Kernel::proc_caches_init() {
    return spaces.init(layout);
}

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
    std::vector<OwnedFrames> owned;
    // The frames boot reserved (holes in the e820 map and memblock.reserved): every one must
    // still be PageReserved. Nothing reserves or releases frames after boot.
    uint64_t at = 0;
    auto reserved = [&](uint64_t from, uint64_t to) {
        to = std::min(to, layout.max_pfn);
        if (from >= to) return std::string();
        for (uint64_t pfn = from; pfn < to; pfn++)
            if (!mem_map[Pfn{pfn}].test(PG_reserved))
                return "pfn " + std::to_string(pfn) +
                       " was reserved at boot but is not PageReserved";
        owned.push_back({Pfn{from}, Pfn{to}, "reserved", 0});
        return std::string();
    };
    for (const auto& [from, to] : memblock.free_pfn_ranges()) {
        if (std::string e = reserved(at, from); !e.empty()) return e;
        at = to;
    }
    if (std::string e = reserved(at, layout.max_pfn); !e.empty()) return e;
    if (std::string e = buddy.audit_free_lists(owned); !e.empty()) return e;
    if (std::string e = slab.audit(owned); !e.empty()) return e;
    if (std::string e = spaces.audit(owned); !e.empty()) return e;
    for (auto [pfn, order] : held)
        owned.push_back({Pfn{pfn}, Pfn{pfn} + (uint64_t{1} << order), "held", order});
    return check_frames_owned_once(owned, Pfn{layout.max_pfn});
}

} // namespace mmemu
