#include "workloads/driver.h"

#include "mmcore/bug.h"
#include "mmcore/kernel.h"
#include "mmcore/lockdep.h"
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
    if (opt.concurrent) {
        if (std::string why = concurrent_mode_refusal(sc); !why.empty()) {
            error = why;
            return nullptr;
        }
        r.system->machine().smp().set_concurrent(true);
    }
    auto d = std::unique_ptr<Driver>(new Driver(sc, opt, std::move(r.system)));
    d->config_ = cfg;
    // The kernel section's writes (kernel.ksm), before the first event.
    for (const auto& op : sc.boot_ops) op->run(d->cx_);
    if (TraceWriter* tr = opt.trace) {
        System& sys = *d->system_;
        tr->begin(sys, sc.name);
        sys.machine().set_tracer(tr);
        if (Ksmd* ksmd = sys.ksmd())
            ksmd->set_batch_end_observer([tr, &sys](uint64_t t) { tr->counters(sys, t); });
        tr->counters(sys, sys.now_ns());
    }
    if (sc.timeseries.every_ms) {
        d->sampler_ = std::make_unique<Sampler>(sc.timeseries);
        Driver* self = d.get();
        if (Ksmd* ksmd = d->system_->ksmd())
            ksmd->set_batch_observer([self](uint64_t t) {
                // Before the batch that starts at t: the samples at t and before show what
                // came before it.
                self->sampler_->take_until(*self->system_, t);
            });
    }
    if (!sc.bare) d->system_->run_kthreads();
    if (d->sampler_) d->sampler_->take_until(*d->system_, d->system_->now_ns());
    return d;
}

std::string concurrent_mode_refusal(const Scenario& sc) {
    if (sc.bare)
        return "--concurrent needs a kernel scenario (a bare machine runs no kernel, no "
               "processes and no ksmd)";
    if (sc.timeseries.every_ms)
        return "--concurrent takes no time series (its virtual times move from run to run); "
               "remove \"timeseries\" or run without --concurrent";
    return "";
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
            if (opt.audit) cx_.shadow = &shadow_;
        }
    }
}

Driver::~Driver() = default;

bool Driver::step(size_t i) {
    const Op& op = *sc_.ops[i];
    const uint64_t begin_ns = opt_.trace ? system_->now_ns() : 0;
    try {
        op.run(cx_);
        if (lockdep_depth())
            lockdep_assert_none_held("event " + std::to_string(op.event) + " (" + op.name() + ")");
        if (cx_.procs) deliver_pending_kills(cx_, op.event);
        // The kernel's threads (ksmd) catch up with the time the event took.
        // (The concurrent mode's ksmd runs on its own.)
        if (cx_.kernel && !opt_.concurrent) system_->run_kthreads();
        if (sampler_) sampler_->take_until(*system_, system_->now_ns());
        if (TraceWriter* tr = opt_.trace) {
            tr->slice(Tracer::EVENTS, "event", op.name(), begin_ns, system_->now_ns(),
                      {{"event", op.event}});
            tr->counters(*system_, system_->now_ns());
        }
    } catch (const KernelBugOn& e) {
        results_.kernel_bug = KernelBugRecord{op.event, op.name(), e.what()};
        return false;
    } catch (const KsmdLimit& e) {
        results_.limit_reached = KernelBugRecord{op.event, op.name(), e.what()};
        return false;
    } catch (const std::exception& e) {
        if (!scribbled_bug(op.event, op.name(), e)) throw;
        return false;
    }
    results_.events_run++;
    return true;
}

bool Driver::scribbled_bug(uint32_t event, const char* op, const std::exception& e, Results& into) {
    if (!results_.scribbled_at) return false;
    into.kernel_bug = KernelBugRecord{
        event, op,
        std::string("the kernel's state is corrupt: the write_object of event ") +
            std::to_string(*results_.scribbled_at) +
            " wrote past its slab into memory the kernel uses for something else (page tables, "
            "a process's pages, free memory), and now: " +
            e.what()};
    return true;
}

bool Driver::run_until_checkpoint(const std::string& name) {
    while (next_ < sc_.ops.size() && !results_.stopped()) {
        const Op& op = *sc_.ops[next_];
        if (!step(next_++)) return false;
        if (const std::string* cp = op.checkpoint_name(); cp && *cp == name) return true;
    }
    return false;
}

void Driver::run() {
    if (opt_.concurrent) {
        run_concurrent();
        return;
    }
    while (next_ < sc_.ops.size() && !results_.stopped()) {
        if (!step(next_++)) break;
        if (opt_.progress) opt_.progress(next_, sc_.ops.size(), system_->now_ns());
    }
    finish();
}

void Driver::finish() {
    // The state a kernel BUG left behind is not audited: the kernel stopped there.
    if (!results_.stopped() && cx_.kernel && cx_.audit) {
        try {
            audit_frames(cx_, "at the end of the run");
            check_all_freed();
        } catch (const std::exception& e) {
            if (!scribbled_bug(sc_.ops.empty() ? 0 : sc_.ops.back()->event, "end of run", e)) throw;
        }
    }
}

namespace {

// The free page count once the pcp lists are drained and every cache is shrunk.
uint64_t free_after_drain(Kernel& k) {
    k.buddy.drain_all_pages();
    for (const kmem_cache* c : k.slab.caches())
        k.slab.kmem_cache_shrink(k.slab.find_cache(c->name), 0);
    k.buddy.drain_all_pages();
    return k.buddy.nr_free_pages();
}

} // namespace

// When every process has exited (in a scenario that holds no pages, objects or caches of its
// own through the kernel ops), the kernel has given every frame back: with the pcp lists
// drained and every cache shrunk, the free page count is what it is in a machine just booted
// and drained the same way (booted again here: the boot is deterministic, and draining this
// machine's boot state would change what every scenario starts from). The final state is taken
// first, since draining and shrinking change what it shows (and KSM's run=2). A machine above 16
// GiB of RAM skips the check: the second boot would add its time (about a second per 64 GiB) and
// its host memory (about 1/80 of the RAM) to every run.
void Driver::check_all_freed() {
    if (!cx_.procs || kernel_state_.names) return;
    if (config_.machine.memory_bytes > MAX_ALL_FREED_CHECK_BYTES) return;
    const Kernel& k = system_->kernel();
    if (!k.spaces.mms().empty()) return;
    for (const auto& t : k.spaces.tasks())
        if (!t->exited) return;
    results_.final_state = state_json(*system_);
    BootResult fresh = System::boot(config_);
    if (!fresh.ok())
        throw KernelBug("the machine booted once and not a second time: " + fresh.error);
    const uint64_t boot = free_after_drain(fresh.system->kernel());
    fresh.system.reset();
    // KSM keeps what ksmd has not yet reaped (the slots and rmap_items of exited mms, stable
    // nodes whose pages are gone) until its next pass: run=2 removes them all, as an
    // administrator's write would.
    if (Ksm* ksm = system_->ksm())
        if (const int e = ksm->set_run(2, 0); e)
            throw KernelBug("run=2 failed with every process exited: " + std::to_string(e));
    const uint64_t now = free_after_drain(system_->kernel());
    if (now != boot)
        throw KernelBug("invariant check failed at the end of the run: every process has exited, "
                        "yet with the pcp lists drained and every cache shrunk " +
                        std::to_string(now) + " pages are free, and a machine just booted has " +
                        std::to_string(boot));
}

ojson Driver::statistics(const HostInfo* host) {
    if (sampler_) timeseries_ = sampler_->json();
    return statistics_json(
        RunSummary{sc_, *system_, results_, host, sampler_ ? &timeseries_ : nullptr});
}

} // namespace mmemu
