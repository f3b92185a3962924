// arch/x86/mm/fault.c's entry: what the kernel does when a CPU delivers a page fault
// (exc_page_fault -> handle_page_fault). The decisions (do_user_addr_fault, access_error,
// handle_mm_fault) are AddressSpaces::do_page_fault(); this is the handler System installs on
// every CPU, with the counts of what became of the faults.
#pragma once

#include <cstdint>

#include "emulator/cpu.h"
#include "mmcore/kernel_atomic.h"

namespace mmemu {

class AddressSpaces;

struct FaultCounts {
    katomic_u64 delivered = 0;    // page faults the CPUs delivered
    katomic_u64 resolved = 0;     // of those, resolved: the access was retried
    katomic_u64 kernel_oops = 0;  // supervisor-mode faults the kernel could not resolve
    katomic_u64 user_sigsegv = 0; // user-mode faults that ended in SIGSEGV (or an OOM kill)
};

class X86FaultHandler final : public PageFaultHandler {
public:
    explicit X86FaultHandler(AddressSpaces& spaces) : spaces_(spaces) {}
    FaultResolution handle_page_fault(unsigned cpu, const Fault& fault,
                                      const AccessRequest& req) override;
    const FaultCounts& counts() const { return counts_; }

private:
    AddressSpaces& spaces_;
    FaultCounts counts_;
};

} // namespace mmemu
