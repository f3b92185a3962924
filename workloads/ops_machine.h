// The machine (CPU) op family of bare-machine scenarios: control registers and MSRs, physical
// memory, accesses through the CPU with expectations, TLB invalidation, descriptor tables and
// segment loads.
#pragma once

#include <vector>

#include "workloads/op.h"

namespace mmemu {

const std::vector<OpSpec>& machine_op_specs();

} // namespace mmemu
