// The driver: boots a Machine and Kernel for a compiled Scenario and executes its op list,
// taking a statistics snapshot at each checkpoint and at the end.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "emulator/machine.h"
#include "mmcore/kernel.h"
#include "system/system.h"
#include "workloads/scenario.h"
#include "workloads/stats.h"

namespace mmemu {

struct RunOptions {
    bool audit = true; // check the "nothing lost" invariant at every checkpoint and at the end
};

class Driver {
public:
    // Boots the machine (throws std::invalid_argument if the kernel cannot boot with it).
    Driver(const Scenario& sc, RunOptions opt = {});
    ~Driver();

    // Runs every op. Throws KernelBug if the invariant audit fails (a bug in mmemu).
    void run();
    // Runs the ops up to and including the checkpoint `name`; false if there is none.
    bool run_until_checkpoint(const std::string& name);
    // Bare-machine expectations that did not hold (mmemu run exits 1 when there are any).
    uint64_t expectations_failed() const { return expectations_failed_; }
    // The statistics document (format v1) without the host block.
    ojson statistics() const;
    Kernel& kernel() { return *kernel_; }
    Machine& machine() { return *machine_; }

private:
    struct Slot {
        std::vector<uint64_t> items; // pfns (alloc_pages) or object addresses; 0/~0 = failed
        uint8_t order = 0;
    };
    void exec(const Op& op);
    void exec_bare(const Op& op);
    ojson snapshot() const; // the state at a checkpoint or the end, kernel or bare
    void expectation(const Op& op, ojson& rec, const std::string& failure);
    void failure(const Op& op, const std::string& what);
    std::vector<std::pair<uint64_t, unsigned>> held_blocks() const;
    void audit(const std::string& where);

    const Scenario& sc_;
    RunOptions opt_;
    std::unique_ptr<System> system_;
    Machine* machine_ = nullptr;
    Kernel* kernel_ = nullptr;
    std::vector<Slot> slots_;
    std::vector<kmem_cache*> caches_;
    ojson checkpoints_ = ojson::array();
    ojson failures_ = ojson::array();
    ojson cache_errors_ = ojson::array();
    uint64_t events_run_ = 0;
    uint64_t audits_ = 0;
    ojson accesses_ = ojson::array();
    ojson expectation_failures_ = ojson::array();
    uint64_t expectations_checked_ = 0;
    uint64_t expectations_failed_ = 0;
};

} // namespace mmemu
