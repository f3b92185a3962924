// Helpers shared by the benchmark programs: every machine is built by System.
#pragma once

#include <memory>
#include <stdexcept>

#include "emulator/machine.h"
#include "system/system.h"

namespace mmemu {

// An x86_64 machine of `bytes` with `cpus` CPUs and the default CPU model.
inline MachineConfig bench_machine(uint64_t bytes, unsigned cpus) {
    MachineConfig c;
    c.arch = Arch::x86_64;
    c.memory_bytes = bytes;
    c.nr_cpus = cpus;
    return c;
}

// The machine with the kernel booted on it.
inline std::unique_ptr<System> bench_system(const MachineConfig& mc, const KernelConfig& kc) {
    BootResult r = System::boot(SystemConfig{mc, kc});
    if (!r.ok()) throw std::runtime_error(r.error);
    return std::move(r.system);
}

} // namespace mmemu
