// The KSM op family (docs/scenario-format.md, "KSM"): ksm (writes to /sys/kernel/mm/ksm's
// knobs) and ksm_wait (virtual time passes until ksmd has finished N more full scans). The
// registration ops are the process family's: madvise MADV_MERGEABLE / MADV_UNMERGEABLE and
// prctl PR_SET_MEMORY_MERGE.
#pragma once

#include <vector>

#include "workloads/op.h"

namespace mmemu {

const std::vector<OpSpec>& ksm_op_specs();

// kernel.ksm: the knob writes of the scenario's kernel section, parsed as a `ksm` event with
// the writes the kernel would refuse on a fresh boot as errors.
std::unique_ptr<Op> parse_ksm_at_boot(OpParser& p);

// Every CPU's clock moves to at least `ns` of virtual time (idle time).
void advance_cpus_to(System& sys, uint64_t ns);

} // namespace mmemu
