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

} // namespace mmemu
