#include "emulator/machine.h"

#include <stdexcept>
#include <string>

namespace mmemu {

static MachineConfig normalised(MachineConfig cfg) {
    if (cfg.memory_bytes < MIN_MACHINE_BYTES || cfg.memory_bytes % PAGE_SIZE)
        throw std::invalid_argument(
            "machine memory must be a multiple of 4 KiB and at least 64 MiB");
    if (cfg.memory_bytes > arch_max_phys_bytes(cfg.arch) || cfg.memory_bytes > MMEMU_MAX_PHYS_BYTES)
        throw std::invalid_argument(
            "machine memory is beyond what the arch (or mmemu) can address");
    if (cfg.nr_cpus == 0) throw std::invalid_argument("a machine needs at least one CPU");
    if (cfg.maxphyaddr == 0) cfg.maxphyaddr = cfg.arch == Arch::x86_64 ? 46 : 36;
    if (cfg.maxphyaddr < min_maxphyaddr(cfg.arch) || cfg.maxphyaddr > 52)
        throw std::invalid_argument(cfg.arch == Arch::i386 ? "MAXPHYADDR must be from 32 to 52"
                                                           : "MAXPHYADDR must be from 36 to 52");
    if (cfg.maxphyaddr < 64 && cfg.memory_bytes > (uint64_t{1} << cfg.maxphyaddr))
        throw std::invalid_argument("machine memory is beyond what MAXPHYADDR can address");
    if (cfg.nodes.empty()) cfg.nodes.push_back({0, cfg.memory_bytes});
    uint64_t at = 0;
    for (const auto& n : cfg.nodes) {
        if (n.start != at || n.end <= n.start)
            throw std::invalid_argument(
                "NUMA node ranges must be contiguous, non-empty and ordered");
        at = n.end;
    }
    if (at != cfg.memory_bytes)
        throw std::invalid_argument("NUMA node ranges must cover all of memory");
    return cfg;
}

Machine::Machine(const MachineConfig& cfg)
    : cfg_(normalised(cfg)), e820_(pc_e820_table(cfg_.memory_bytes)), ram_(cfg_.memory_bytes),
      smp_(cfg_.nr_cpus) {
    for (unsigned i = 0; i < cfg_.nr_cpus; i++) {
        cpus_.push_back(std::make_unique<Cpu>(i, ram_, cfg_.tlb, cfg_.costs));
        cpus_.back()->mmu.set_maxphyaddr(cfg_.maxphyaddr);
        cpus_.back()->set_smp(&smp_);
    }
}

} // namespace mmemu
