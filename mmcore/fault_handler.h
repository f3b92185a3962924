// arch/x86/mm/fault.c: what the kernel does when a CPU delivers a page fault
// (exc_page_fault -> handle_page_fault -> do_user_addr_fault / do_kern_addr_fault).
//
// No process runs yet, so there is no mm_struct to consult: every fault is one the kernel cannot
// resolve. Linux would oops on a kernel-mode fault ("BUG: unable to handle page fault for
// address") and send SIGSEGV for a user-mode one; the handler records which, and answers
// not_resolved, so the access fails with the fault. The process layer (mm_struct, VMAs,
// do_anonymous_page, COW) resolves faults here when it arrives.
#pragma once

#include <cstdint>
#include <vector>

#include "emulator/cpu.h"

namespace mmemu {

struct FaultCounts {
    uint64_t delivered = 0;    // page faults the CPUs delivered
    uint64_t kernel_oops = 0;  // supervisor-mode faults the kernel could not resolve
    uint64_t user_sigsegv = 0; // user-mode faults with no mapping (SIGSEGV)
};

class X86FaultHandler final : public PageFaultHandler {
public:
    FaultResolution handle_page_fault(unsigned cpu, const Fault& fault,
                                      const AccessRequest& req) override;
    const FaultCounts& counts() const { return counts_; }

private:
    FaultCounts counts_;
};

} // namespace mmemu
