// Helpers shared by the benchmark programs.
#pragma once

#include "emulator/machine.h"

namespace mmemu {

// An x86_64 machine of `bytes` with `cpus` CPUs and the default CPU model.
inline MachineConfig bench_machine(uint64_t bytes, unsigned cpus) {
    MachineConfig c;
    c.arch = Arch::x86_64;
    c.memory_bytes = bytes;
    c.nr_cpus = cpus;
    return c;
}

} // namespace mmemu
