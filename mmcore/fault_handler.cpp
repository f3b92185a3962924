#include "mmcore/fault_handler.h"

#include "mmcore/address_spaces.h"

namespace mmemu {

FaultResolution X86FaultHandler::handle_page_fault(unsigned cpu, const Fault& fault,
                                                   const AccessRequest& req) {
    (void)req;
    counts_.delivered++;
    // Without processes (a kernel built for another arch, or no task on this CPU) every
    // fault is one the kernel cannot resolve: bad_area_nosemaphore() -> SIGSEGV for a user,
    // an oops for the kernel.
    if (!spaces_.ready() || !spaces_.current(cpu)) {
        if (fault.error_code & PFERR_U)
            counts_.user_sigsegv++;
        else
            counts_.kernel_oops++;
        return FaultResolution::not_resolved;
    }
    Tracer* const tr = spaces_.tracer();
    const uint64_t begin = tr ? spaces_.cpu_ns(cpu) : 0;
    const FaultResolution r = spaces_.do_page_fault(cpu, fault);
    if (tr)
        tr->slice(cpu, "fault", "page fault", begin, spaces_.cpu_ns(cpu),
                  {trace_hex("address", fault.cr2.value), trace_hex("error_code", fault.error_code),
                   trace_text("result", r == FaultResolution::resolved ? "resolved"
                                        : fault.error_code & PFERR_U   ? "SIGSEGV"
                                                                       : "oops")});
    if ((fault.error_code & PFERR_U) && lockdep_depth())
        lockdep_assert_none_held("the end of a user page fault");
    if (r == FaultResolution::resolved)
        counts_.resolved++;
    else if (fault.error_code & PFERR_U)
        counts_.user_sigsegv++;
    else
        counts_.kernel_oops++;
    return r;
}

} // namespace mmemu
