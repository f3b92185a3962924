// What ops record while a scenario runs, as typed records: failed allocations (identical ones
// of one event aggregated), faults of register writes, accesses and their expectations,
// checkpoints, and a stop on a kernel BUG. JSON is made from them only when the statistics are
// written (workloads/statistics.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/cpu.h"

namespace mmemu {

using ojson = nlohmann::ordered_json;

// An emulated failure: an allocation that could not be met, a cache that could not be created
// or destroyed, a write through an id that holds no object. Identical failures of consecutive
// tries in one event (a count of 1000 blocks, all failing for the same reason) are one record
// with `count` and the first and last index.
struct FailureRecord {
    uint32_t event;
    const char* op;
    std::string subject; // the id, or the cache name (is_cache)
    bool is_cache;
    std::string reason;
    uint64_t count = 1;
    uint64_t first = 0, last = 0; // indices of the failed tries within the event
    bool is_process = false;      // the subject is a process (process events)
    bool is_file = false;         // the subject is a /sys file (a knob write)
};

// A fault raised by a register write or INVPCID (bare machines).
struct FaultRecord {
    uint32_t event;
    Fault fault;
};

// Whether an access or load met what the scenario expected.
struct Expectation {
    bool checked = false;
    std::string failure; // "" when met
};

// One access (bare machines): where, and what happened.
struct AccessRecord {
    uint32_t event;
    uint16_t cpu;
    AccessType type;
    int8_t seg;      // SegReg, or -1 for a linear address
    uint64_t offset; // the segment offset (seg >= 0)
    bool has_la;     // the linear address is known (segmentation passed)
    LinearAddr la;
    uint32_t size;
    MemoryAccess outcome;
    uint64_t value; // what a read returned
    Expectation expect;
};

// expect_phys: physical bytes checked.
struct PhysCheckRecord {
    uint32_t event;
    PhysAddr addr;
    Expectation expect;
};

// load_segment (and LLDT).
struct SegmentLoadRecord {
    uint32_t event;
    uint16_t cpu;
    uint8_t reg; // SegReg, or FAULT_SEG_LDTR
    uint16_t selector;
    Fault fault;
    Expectation expect;
};

using AccessLikeRecord = std::variant<AccessRecord, PhysCheckRecord, SegmentLoadRecord>;

// The run stopped at a kernel BUG caused by the scenario (KernelBugOn).
struct KernelBugRecord {
    uint32_t event;
    const char* op;
    std::string message;
};

// A fatal signal the kernel delivered to a process (SIGSEGV from the fault path, or a kill for
// memory a fault could not get): the process died there.
struct SignalRecord {
    uint32_t event = 0;
    std::string process;
    int pid = 0;
    std::string signal;  // "SIGSEGV" or "SIGKILL"
    std::string si_code; // SIGSEGV: "SEGV_MAPERR" or "SEGV_ACCERR"
    uint64_t addr = 0;   // SIGSEGV: si_addr
    uint32_t error_code = 0;
    std::string reason;
};

// A region's /proc/PID/pagemap entries at one event.
struct PagemapRecord {
    uint32_t event = 0;
    std::string process, region;
    uint64_t addr = 0;
    std::vector<uint64_t> entries;
};

struct CheckpointRecord {
    std::string name;
    uint32_t event;
    ojson state;     // the statistics state at that moment
    ojson maps;      // with "maps": each live process's /proc/PID/maps lines (null otherwise)
    ojson numa_maps; // with "maps": each live process's /proc/PID/numa_maps lines (or null)
};

struct Results {
    uint64_t events_run = 0;
    uint64_t audits_passed = 0;
    std::vector<FailureRecord> failures;
    std::vector<FaultRecord> faults;
    std::vector<AccessLikeRecord> accesses;
    uint64_t expectations_checked = 0;
    std::vector<std::pair<uint32_t, std::string>> expectation_failures; // event, message
    std::optional<KernelBugRecord> kernel_bug;
    // The run stopped at a limit of mmemu's (ksmd's work, docs/scenario-format.md "Limits").
    std::optional<KernelBugRecord> limit_reached;
    bool stopped() const { return kernel_bug || limit_reached; }
    // The first write_object that wrote outside slab pages (into page tables, a process's
    // pages, free memory): from then on the kernel's state is the scenario's to corrupt, and
    // an inconsistency mmemu finds is that corruption's consequence (a kernel_bug), not a bug of
    // mmemu's.
    std::optional<uint32_t> scribbled_at;
    bool concurrent = false; // the run was in the concurrent mode
    std::vector<SignalRecord> signals;
    std::vector<uint32_t> oom_kill_events; // the event of each of the kernel's OOM kills
    std::vector<PagemapRecord> pagemaps;
    std::vector<CheckpointRecord> checkpoints;
    // The final state when it had to be taken before the run ended: the end-of-run check that
    // every frame came back drains the pcp lists and shrinks the caches after it.
    std::optional<ojson> final_state;

    // Records a failed try `index` of `event`, merged into the previous record when it is the
    // same failure of the same event.
    void failure(uint32_t event, const char* op, const std::string& subject, bool is_cache,
                 const std::string& reason, uint64_t index = 0);
    // The try `index` of `event` failed for the same reason as the try before it, which was
    // recorded: counted in that record without building the reason again. False (nothing
    // recorded) when the last record is not that try's.
    bool repeat_failure(uint32_t event, uint64_t index) {
        if (failures.empty() || failures.back().event != event || failures.back().last + 1 != index)
            return false;
        failures.back().count++;
        failures.back().last = index;
        return true;
    }
    // A process event that failed (a system call's errno) or was skipped (ESRCH).
    void process_failure(uint32_t event, const char* op, const std::string& process,
                         const std::string& reason) {
        failures.push_back({event, op, process, false, reason, 1, 0, 0, true});
    }
    // A write to a /sys file that failed (its errno).
    void file_failure(uint32_t event, const char* op, const std::string& file,
                      const std::string& reason) {
        failures.push_back({event, op, file, false, reason, 1, 0, 0, false, true});
    }
    uint64_t expectations_failed() const { return expectation_failures.size(); }
    // Counts an expectation and returns it (`failure` empty when met).
    Expectation expectation(uint32_t event, std::string failure);
    // The concurrent mode: each vCPU thread records into its own part; at every barrier (no
    // vCPU thread running) the parts' records move here, in event order (a stable merge, so one
    // event's records keep their order), and their counts are added.
    void take_parts(std::vector<Results>& parts);
};

} // namespace mmemu
