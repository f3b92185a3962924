// One emulated system: the machine and, unless it is a bare machine, the kernel booted on it in
// start_kernel()'s order, with every upward hook wired (the CPUs' page faults go to the kernel;
// KSM hears of madvise, fork and exit). The driver, mmemu explain, the tests and the
// benchmarks get their machines from System; nothing else wires hooks.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "emulator/machine.h"
#include "ksm/ksm.h"
#include "ksm/ksmd.h"
#include "mmcore/kernel.h"
#include "mmcore/kernel_config.h"

namespace mmemu {

struct SystemConfig {
    MachineConfig machine;
    std::optional<KernelConfig> kernel; // none: a bare machine (no kernel booted)
};

class System;

// What System::boot() gives: a running system, or why this machine cannot be built or this
// kernel cannot boot on it (what Linux would panic with, or what the host refuses).
struct BootResult {
    std::unique_ptr<System> system;
    std::string error;
    bool ok() const { return system != nullptr; }
};

class System {
public:
    static BootResult boot(const SystemConfig& cfg);
    System(const System&) = delete;
    System& operator=(const System&) = delete;
    ~System();

    Machine& machine() { return *machine_; }
    const Machine& machine() const { return *machine_; }
    bool bare() const { return !kernel_; }
    // The kernel (a kernel system only).
    Kernel& kernel() { return *kernel_; }
    const Kernel& kernel() const { return *kernel_; }
    // KSM (a kernel that can run processes: CONFIG_KSM), or nullptr.
    Ksm* ksm() { return ksm_.get(); }
    const Ksm* ksm() const { return ksm_.get(); }
    // ksmd, the thread that runs KSM's scan (with KSM), or nullptr.
    Ksmd* ksmd() { return ksmd_.get(); }
    const Ksmd* ksmd() const { return ksmd_.get(); }
    // Virtual time: the latest CPU's clock, in ns.
    uint64_t now_ns() const;
    // Lets the kernel's threads (ksmd) run up to now_ns() (after each event).
    void run_kthreads() {
        if (ksmd_) ksmd_->advance_to(now_ns());
    }

private:
    System() = default;
    // The memory-management steps of start_kernel() (init/main.c), in order; "" or why the
    // kernel panics.
    std::string start_kernel();
    // Every upward hook: each CPU delivers its page faults to the kernel.
    void wire_hooks();
    std::unique_ptr<Machine> machine_;
    std::unique_ptr<Kernel> kernel_;
    std::unique_ptr<Ksm> ksm_;
    std::unique_ptr<Ksmd> ksmd_;
};

} // namespace mmemu
