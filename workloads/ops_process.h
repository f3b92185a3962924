// The process op family (docs/scenario-format.md, "processes"): spawn, fork, clone_thread,
// exec, exit, wait, mmap, munmap, brk, mprotect, madvise, mlock, mremap, write,
// read, touch. Processes and their regions are named; names resolve to small slots when
// the scenario compiles, so an event on a process that has exited (where that is known
// statically) or on a region never mapped is a compile error. A process killed while the
// scenario runs (SIGSEGV, out of memory) has its later events recorded as skipped (ESRCH).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "workloads/op.h"

namespace mmemu {

struct task_struct;

// What each process and region name refers to while the events compile.
struct ProcessNames {
    struct Proc {
        uint32_t slot;
        bool exited;         // an exit event came before (statically)
        uint32_t exit_event; // which
    };
    std::map<std::string, Proc> procs;
    std::vector<std::string> proc_names; // slot -> name
    // slot -> the slot whose regions it uses: itself for a process, its process's for a thread
    // (threads share the address space and so its region names).
    std::vector<uint32_t> owner;
    std::vector<uint16_t> cpu_of; // slot -> the CPU its task runs on (spawn, fork, clone_thread)
    // Regions by (process slot, region name).
    std::map<std::pair<uint32_t, std::string>, uint32_t> regions;
    std::vector<std::string> region_names; // slot -> name
    std::vector<uint64_t> region_len;      // slot -> the largest mapping it names (bytes)
    uint64_t bytes_accessed = 0;           // read/write/touch bytes of the whole scenario
    uint64_t pagemap_pages = 0;            // pages of every pagemap event (bounded)
};

// What the process ops hold while a scenario runs.
struct ProcessRunState {
    struct Region {
        uint64_t addr = 0, len = 0;
        bool mapped = false; // its mmap succeeded
    };
    std::vector<task_struct*> tasks; // by process slot (nullptr before spawn or if it failed)
    std::vector<Region> regions;     // by region slot
    const ProcessNames* names = nullptr;
};

const std::vector<OpSpec>& process_op_specs();

// The name of the errno -e ("EINVAL"), or "errno" for one not listed.
const char* errno_name(int64_t e);

// After each event of a scenario with processes: the OOM kills of the event get its index, and
// every task with a SIGKILL pending (a victim of the OOM killer) dies, as it would on its next
// return to user mode; each death is a results.signals record. With `cpu` (the concurrent
// mode's vCPU threads) only the tasks of that CPU die now, the others at the next barrier.
void deliver_pending_kills(RunContext& cx, uint32_t event, int cpu = -1);

} // namespace mmemu
