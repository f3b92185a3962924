#include "mmcore/fault_handler.h"

namespace mmemu {

FaultResolution X86FaultHandler::handle_page_fault(unsigned cpu, const Fault& fault,
                                                   const AccessRequest& req) {
    (void)cpu;
    (void)req;
    counts_.delivered++;
    // handle_page_fault(): a fault with U/S=1 in the error code came from user mode
    // (do_user_addr_fault), else from the kernel (do_kern_addr_fault). With no mm there is no
    // VMA to find: bad_area_nosemaphore() -> SIGSEGV for a user, an oops for the kernel.
    if (fault.error_code & PFERR_U)
        counts_.user_sigsegv++;
    else
        counts_.kernel_oops++;
    return FaultResolution::not_resolved;
}

} // namespace mmemu
