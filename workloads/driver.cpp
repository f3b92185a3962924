#include "workloads/driver.h"

#include "mmcore/bug.h"
#include "workloads/ops_run.h"

namespace mmemu {

std::unique_ptr<Driver> Driver::boot(const Scenario& sc, RunOptions opt, std::string& error) {
    SystemConfig cfg;
    cfg.machine = sc.machine;
    if (!sc.bare) cfg.kernel = sc.kernel;
    BootResult r = System::boot(cfg);
    if (!r.ok()) {
        error = r.error;
        return nullptr;
    }
    return std::unique_ptr<Driver>(new Driver(sc, opt, std::move(r.system)));
}

Driver::Driver(const Scenario& sc, RunOptions opt, std::unique_ptr<System> sys)
    : sc_(sc), opt_(opt), system_(std::move(sys)), cx_{*system_, results_} {
    cx_.audit = opt.audit;
    if (!sc.bare) {
        cx_.kernel = &kernel_state_;
        if (sc.kernel_names) {
            kernel_state_.names = sc.kernel_names.get();
            kernel_state_.slots.resize(sc.kernel_names->handle_names.size());
            kernel_state_.caches.assign(sc.kernel_names->cache_names.size(), nullptr);
        }
        if (sc.process_names) {
            cx_.procs = &process_state_;
            process_state_.names = sc.process_names.get();
            process_state_.tasks.assign(sc.process_names->proc_names.size(), nullptr);
            process_state_.regions.resize(sc.process_names->region_names.size());
        }
    }
}

Driver::~Driver() = default;

bool Driver::step(size_t i) {
    const Op& op = *sc_.ops[i];
    try {
        op.run(cx_);
        if (cx_.procs) deliver_pending_kills(cx_, op.event);
    } catch (const KernelBugOn& e) {
        results_.kernel_bug = KernelBugRecord{op.event, op.name(), e.what()};
        return false;
    }
    results_.events_run++;
    return true;
}

bool Driver::run_until_checkpoint(const std::string& name) {
    while (next_ < sc_.ops.size() && !results_.kernel_bug) {
        const Op& op = *sc_.ops[next_];
        if (!step(next_++)) return false;
        if (const std::string* cp = op.checkpoint_name(); cp && *cp == name) return true;
    }
    return false;
}

void Driver::run() {
    while (next_ < sc_.ops.size() && !results_.kernel_bug)
        if (!step(next_++)) break;
    // The state a kernel BUG left behind is not audited: the kernel stopped there.
    if (!results_.kernel_bug && cx_.kernel && cx_.audit) audit_frames(cx_, "at the end of the run");
}

ojson Driver::statistics(const HostInfo* host) const {
    return statistics_json(RunSummary{sc_, *system_, results_, host});
}

} // namespace mmemu
