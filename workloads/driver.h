// The driver: boots the scenario's System and runs its ops in order, one loop for bare and
// kernel scenarios. Ops record typed results; the statistics document is made from them, and
// from the tables of workloads/statistics.h, only when it is written.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "system/system.h"
#include "workloads/ops_kernel.h"
#include "workloads/ops_process.h"
#include "workloads/results.h"
#include "workloads/scenario.h"
#include "workloads/shadow_memory.h"
#include "workloads/statistics.h"
#include "workloads/timeseries.h"
#include "workloads/trace_writer.h"

namespace mmemu {

// The largest machine whose run ends with the "every frame back" check (it boots a second one).
inline constexpr uint64_t MAX_ALL_FREED_CHECK_BYTES = uint64_t{16} << 30;

struct RunOptions {
    // The invariant checker: the frame audit and the shadow memory, at every checkpoint and at
    // the end, and the shadow's prediction of every byte read.
    bool audit = true;
    // The concurrent mode (mmemu run --concurrent): a host thread per vCPU and ksmd running
    // beside them (workloads/driver_concurrent.cpp). A kernel scenario only.
    bool concurrent = false;
    // Called after each top-level event of a deterministic run with the events done, their
    // total and the virtual time (mmemu run's progress line); none by default.
    std::function<void(size_t done, size_t total, uint64_t now_ns)> progress;
    // The timeline (mmemu run --trace), owned by the caller; none by default. A deterministic
    // run only (the concurrent mode's CPUs would write it from several threads).
    TraceWriter* trace = nullptr;
};

// Why the concurrent mode cannot run this scenario, or "".
std::string concurrent_mode_refusal(const Scenario& sc);

class Driver {
public:
    // Boots the scenario's machine (and kernel). On failure returns nullptr with `error`: why
    // this machine cannot be built or this kernel cannot boot on it.
    static std::unique_ptr<Driver> boot(const Scenario& sc, RunOptions opt, std::string& error);
    ~Driver();

    // Runs every op, then audits. A kernel BUG the scenario caused (KernelBugOn) stops the run
    // and is recorded in results().kernel_bug. Throws KernelBug if an audit fails (a bug in
    // mmemu).
    void run();
    // Runs the ops up to and including the checkpoint `name`; false if there is none.
    bool run_until_checkpoint(const std::string& name);

    const Results& results() const { return results_; }
    System& system() { return *system_; }
    const ShadowMemory& shadow() const { return shadow_; }
    // The statistics document (format v1), with the host block if `host` is given.
    ojson statistics(const HostInfo* host = nullptr);

private:
    Driver(const Scenario& sc, RunOptions opt, std::unique_ptr<System> sys);
    // Runs op `i`; false when a kernel BUG stopped the run.
    bool step(size_t i);
    // run() in the concurrent mode.
    void run_concurrent();
    // Runs op `i` on a vCPU thread (the concurrent mode); false when a kernel BUG stopped it.
    bool step_on_cpu(size_t i, unsigned cpu);
    // What a run ends with: the audit and the "every frame back" check.
    void finish();
    // After a write_object scribbled outside slab pages (results.scribbled_at), an inconsistency
    // `e` found at `event` is recorded as the kernel BUG it led to; false: no scribble, `e` is
    // mmemu's own.
    bool scribbled_bug(uint32_t event, const char* op, const std::exception& e) {
        return scribbled_bug(event, op, e, results_);
    }
    // The same, recorded in `into` (a vCPU thread's part of the results).
    bool scribbled_bug(uint32_t event, const char* op, const std::exception& e, Results& into);
    // The end of a run whose processes have all exited: every frame is back (KernelBug if not).
    void check_all_freed();

    const Scenario& sc_;
    RunOptions opt_;
    std::unique_ptr<System> system_;
    Results results_;
    KernelRunState kernel_state_;
    ProcessRunState process_state_;
    ShadowMemory shadow_;
    SystemConfig config_; // what was booted
    RunContext cx_;
    // The concurrent mode: each vCPU thread's part of the results and its context writing there.
    std::vector<Results> cpu_results_;
    std::vector<RunContext> cpu_cx_;
    size_t next_ = 0; // the next op to run
    // The time series (the scenario's "timeseries"), or null.
    std::unique_ptr<Sampler> sampler_;
    ojson timeseries_; // its section, made when the statistics are
};

} // namespace mmemu
