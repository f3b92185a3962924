// The emulated machine: its RAM, its firmware memory map, the NUMA affinity of its memory (what
// ACPI SRAT would report) and its CPUs. A Machine owns everything it holds; there is no global
// state, so tests can build many small machines side by side.
#pragma once

#include <cstdint>
#include <vector>

#include "emulator/addr.h"
#include "emulator/arch.h"
#include "emulator/cost_model.h"
#include "emulator/cpu.h"
#include "emulator/e820.h"
#include "emulator/mmu.h"
#include "emulator/phys_mem.h"
#include "emulator/smp.h"
#include "emulator/trace.h"

namespace mmemu {

struct NumaNodeRange {
    uint64_t start; // bytes
    uint64_t end;   // bytes, exclusive
};

struct MachineConfig {
    Arch arch = Arch::x86_64;
    uint64_t memory_bytes = uint64_t{1} << 30;
    unsigned nr_cpus = 1;
    // Contiguous ranges covering [0, memory_bytes) in order; empty means one node.
    std::vector<NumaNodeRange> nodes;
    // The CPU model: physical-address width, TLB geometry, cycle costs.
    unsigned maxphyaddr = 0; // 0: the arch's default (36 for i386 and PAE, 46 for x86_64);
                             // at least min_maxphyaddr(arch), at most 52
    TlbConfig tlb = TlbConfig::skylake();
    CostModel costs;
    // The virtual clock: cycles per microsecond (a CPU's virtual time is its cycles / cpu_mhz).
    unsigned cpu_mhz = 3000;
    // The CPU supports 5-level paging (CPUID.(EAX=07H,ECX=0):ECX.LA57): a booted x86_64 kernel
    // then uses it, as Linux 6.16 and later always do on such a CPU.
    bool la57 = false;
};

class Machine {
public:
    // Throws std::invalid_argument for an impossible configuration (the scenario validator
    // reports these with file and JSON path before a Machine is ever built).
    explicit Machine(const MachineConfig& cfg);

    const MachineConfig& config() const { return cfg_; }
    Arch arch() const { return cfg_.arch; }
    unsigned nr_cpus() const { return cfg_.nr_cpus; }
    unsigned nr_nodes() const { return unsigned(cfg_.nodes.size()); }
    const std::vector<NumaNodeRange>& nodes() const { return cfg_.nodes; }
    const std::vector<E820Entry>& e820() const { return e820_; }

    PhysicalMemory& ram() { return ram_; }
    const PhysicalMemory& ram() const { return ram_; }
    // CPU i: its segmentation unit and MMU (registers, TLBs, paging-structure caches, cycles).
    Cpu& cpu(unsigned i) { return *cpus_.at(i); }
    Mmu& mmu(unsigned i) { return cpus_.at(i)->mmu; }
    const Mmu& mmu(unsigned i) const { return cpus_.at(i)->mmu; }
    // Which host thread runs each CPU, and the IPIs between them (emulator/smp.h).
    Smp& smp() { return smp_; }
    const Smp& smp() const { return smp_; }
    // CPU c's virtual clock in ns (its cycles at cpu_mhz).
    uint64_t cpu_ns(unsigned c) const {
        const uint64_t cycles = mmu(c).cycles(), mhz = cfg_.cpu_mhz;
        return cycles / mhz * 1000 + cycles % mhz * 1000 / mhz;
    }
    // The run's timeline (emulator/trace.h), or nullptr when none is written.
    Tracer* tracer() const { return tracer_; }
    void set_tracer(Tracer* t) { tracer_ = t; }

private:
    MachineConfig cfg_;
    std::vector<E820Entry> e820_;
    PhysicalMemory ram_;
    Smp smp_;
    std::vector<std::unique_ptr<Cpu>> cpus_;
    Tracer* tracer_ = nullptr;
};

// The narrowest physical-address width a CPU of the arch can have (SDM Vol. 3A 4.1.4: without
// CPUID leaf 80000008H, MAXPHYADDR is 36 with PAE and 32 without; a 32-bit non-PAE machine may
// have a CPU without PAE, a PAE or 64-bit machine has PAE and so at least 36).
inline unsigned min_maxphyaddr(Arch a) {
    return a == Arch::i386 ? 32 : 36;
}

// The smallest machine mmemu builds (the low-memory holes and a kernel image must fit).
inline constexpr uint64_t MIN_MACHINE_BYTES = uint64_t{64} << 20;

} // namespace mmemu
