// The op families a scenario's events can use, in one place: the compiler looks ops up here,
// and the docs and the schema check list them from here. A new family (processes, KSM) adds
// its table to op_families() and nothing else changes.
#pragma once

#include <vector>

#include "workloads/op.h"

namespace mmemu {

const std::vector<OpFamily>& op_families();
// The spec of the op `name`, or nullptr.
const OpSpec* find_op_spec(const std::string& name);

// Compiles the events array into ops (every problem reported by JSON path); `ops` receives
// the ops of the events that had no errors. A block's events (a repeat's) are compiled with
// their own path (`base`) and carry the index of the block's top-level event (`event`).
void compile_events(Checker& ck, const json& events, CompileState& st,
                    std::vector<std::unique_ptr<Op>>& ops, const std::string& base = "/events",
                    std::optional<uint32_t> event = std::nullopt);

} // namespace mmemu
