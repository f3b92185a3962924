// KernelBug: the emulated kernel's BUG()/bad_page() for misuse of its internal API by mmemu's own
// callers (a double free, a free of a page that was never allocated). Scenario input can never
// reach one: the scenario compiler rejects such frees before anything runs.
#pragma once

#include <stdexcept>
#include <string>

namespace mmemu {

struct KernelBug : std::logic_error {
    using std::logic_error::logic_error;
};

// KernelBugOn: the emulated kernel's own consistency checks found its state corrupted by
// something the scenario did (a write past a slab object that overwrote a slab's free list):
// where Linux would BUG(), the run stops with this, the message in the kernel's words. Unlike
// KernelBug it is not a bug in mmemu; `mmemu run` reports it as a result with its own exit code.
struct KernelBugOn : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace mmemu
