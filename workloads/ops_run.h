// The run op family, shared by every scenario: checkpoint.
#pragma once

#include <string>
#include <vector>

#include "workloads/op.h"

namespace mmemu {

inline constexpr size_t MAX_CHECKPOINTS = 1000; // per scenario (docs/scenario-format.md, Limits)

const std::vector<OpSpec>& run_op_specs();

// The frame audit of a kernel scenario (Kernel::audit with the blocks the scenario holds):
// counts a pass in the results, throws KernelBug (a bug in mmemu) naming `where` on a failure.
void audit_frames(RunContext& cx, const std::string& where);

// Every CPU's clock moves to at least `cycles` (idle time): what `run` and `ksm_wait` do.
void advance_cpus_to_cycles(System& sys, uint64_t cycles);

} // namespace mmemu
