// arch/x86/mm/fault.c's entry: what the kernel does when a CPU delivers a page fault
// (exc_page_fault -> handle_page_fault). The decisions (do_user_addr_fault, access_error,
// handle_mm_fault) are AddressSpaces::do_page_fault(); this is the handler System installs on
// every CPU, with the counts of what became of the faults.
#pragma once

#include <cstdint>

#include "emulator/cpu.h"
#include "mmcore/kernel_lock.h"

namespace mmemu {

class AddressSpaces;

struct FaultCounts {
    uint64_t delivered = 0;    // page faults the CPUs delivered
    uint64_t resolved = 0;     // of those, resolved: the access was retried
    uint64_t kernel_oops = 0;  // supervisor-mode faults the kernel could not resolve
    uint64_t user_sigsegv = 0; // user-mode faults that ended in SIGSEGV (or an OOM kill)
};

class X86FaultHandler final : public PageFaultHandler {
public:
    X86FaultHandler(AddressSpaces& spaces, KernelLock& lock) : spaces_(spaces), lock_(lock) {}
    FaultResolution handle_page_fault(unsigned cpu, const Fault& fault,
                                      const AccessRequest& req) override;
    const FaultCounts& counts() const { return counts_; }

private:
    AddressSpaces& spaces_;
    KernelLock& lock_;
    FaultCounts counts_;
};

} // namespace mmemu
