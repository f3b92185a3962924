// The concurrent mode (mmemu run --concurrent; docs/scenario-format.md, "The concurrent mode"):
// a host thread per vCPU runs the events of the processes on its CPU, in their order, while
// ksmd runs beside them on its own; the events that are not one process's (spawn, fork, exit,
// the knobs, checkpoints, expect, ksm_wait, barrier, the kernel allocator events) run alone:
// every vCPU thread finishes what it was given before, ksmd pauses, the event runs, and all go
// on. The kernel runs on every CPU at once under its own locks (mmcore/locks.h); TLB shootdowns
// are IPIs between the threads (emulator/smp.h). Each vCPU thread records its events' results
// in its own part, which the barriers gather in event order.
// The numbers move from run to run; the invariant checker must hold all the same.
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "mmcore/bug.h"
#include "mmcore/kernel.h"
#include "mmcore/lockdep.h"
#include "workloads/driver.h"

namespace mmemu {

bool Driver::step_on_cpu(size_t i, unsigned cpu) {
    const Op& op = *sc_.ops[i];
    Smp& smp = system_->machine().smp();
    smp.get_cpu(cpu);
    bool ok = true;
    RunContext& cx = cpu_cx_[cpu];
    try {
        op.run(cx);
        if (lockdep_depth())
            lockdep_assert_none_held("event " + std::to_string(op.event) + " (" + op.name() + ")");
        if (cx.procs) deliver_pending_kills(cx, op.event, int(cpu));
        cx.results.events_run++;
    } catch (const KernelBugOn& e) {
        cx.results.kernel_bug = KernelBugRecord{op.event, op.name(), e.what()};
        ok = false;
    } catch (const std::exception& e) {
        if (!scribbled_bug(op.event, op.name(), e, cx.results)) {
            smp.put_cpu(cpu);
            throw;
        }
        ok = false;
    } catch (...) {
        smp.put_cpu(cpu);
        throw;
    }
    smp.put_cpu(cpu);
    return ok;
}

void Driver::run_concurrent() {
    results_.concurrent = true;
    const unsigned ncpu = system_->machine().nr_cpus();
    cpu_results_.assign(ncpu, Results{});
    cpu_cx_.clear();
    for (unsigned c = 0; c < ncpu; c++) {
        cpu_cx_.push_back(RunContext{cx_.sys, cpu_results_[c], cx_.kernel, cx_.procs, cx_.audit,
                                     cx_.shadow, int(c)});
    }
    Ksmd* ksmd = system_->ksmd();
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::deque<size_t>> queues(ncpu);
    size_t busy = 0; // ops queued or running
    bool stop = false, failed = false;
    std::exception_ptr error;

    auto vcpu = [&](unsigned c) {
        std::unique_lock<std::mutex> l(mu);
        for (;;) {
            cv.wait(l, [&] { return stop || !queues[c].empty(); });
            if (queues[c].empty()) return;
            const size_t i = queues[c].front();
            const bool skip = failed;
            l.unlock();
            bool ok = true;
            std::exception_ptr err;
            if (!skip) {
                try {
                    ok = step_on_cpu(i, c);
                } catch (...) {
                    err = std::current_exception();
                }
            }
            l.lock();
            queues[c].pop_front();
            busy--;
            if (!ok || err) failed = true;
            if (err && !error) error = err;
            cv.notify_all();
        }
    };
    std::vector<std::thread> threads;
    for (unsigned c = 0; c < ncpu; c++) threads.emplace_back(vcpu, c);
    // This thread's kernel work (the events that run alone, ksm_wait) shares the kernel's
    // locks with the others: they are atomic for it too.
    system_->machine().smp().enter_thread();
    if (ksmd) ksmd->start_free_running(system_->machine().smp());

    // Every vCPU thread done with what it was given, and ksmd paused: false if the run stops.
    auto barrier = [&] {
        {
            std::unique_lock<std::mutex> l(mu);
            cv.wait(l, [&] { return busy == 0; });
            results_.take_parts(cpu_results_);
        }
        if (ksmd) {
            ksmd->pause();
            if (std::exception_ptr e = ksmd->take_error()) {
                std::lock_guard<std::mutex> l(mu);
                if (!error) error = e;
                failed = true;
            }
        }
        // Every CPU idle and ksmd paused: a grace period for what waits for one, and the exits of
        // the processes a fatal signal hit while they had tasks on other CPUs.
        system_->kernel().spaces.rcu_grace_period();
        if (cx_.procs) system_->kernel().spaces.finish_group_exits();
        std::lock_guard<std::mutex> l(mu);
        return !failed;
    };
    try {
        // (results_ is this thread's: a vCPU thread's stop shows in `failed`, its records in its
        // part.)
        while (next_ < sc_.ops.size()) {
            const size_t i = next_++;
            const Op& op = *sc_.ops[i];
            if (op.run_cpu >= 0) {
                std::lock_guard<std::mutex> l(mu);
                if (failed) break;
                queues[size_t(op.run_cpu)].push_back(i);
                busy++;
                cv.notify_all();
                continue;
            }
            if (!barrier()) break;
            bool ok = true;
            // Alone: no vCPU thread runs and ksmd waits, so no CPU needs taking.
            ok = step(i);
            if (!ok) break;
            if (ksmd) ksmd->resume();
        }
    } catch (...) {
        std::lock_guard<std::mutex> l(mu);
        if (!error) error = std::current_exception();
        failed = true;
    }
    barrier();
    {
        std::lock_guard<std::mutex> l(mu);
        stop = true;
        cv.notify_all();
    }
    for (auto& t : threads) t.join();
    results_.take_parts(cpu_results_);
    if (ksmd) {
        ksmd->stop_free_running();
        if (std::exception_ptr e = ksmd->take_error(); e && !error) error = e;
    }
    system_->machine().smp().set_concurrent(false);
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (const KsmdLimit& e) {
            if (!results_.stopped())
                results_.limit_reached =
                    KernelBugRecord{uint32_t(next_ ? next_ - 1 : 0), "ksmd", e.what()};
        } catch (const KernelBugOn& e) {
            if (!results_.stopped())
                results_.kernel_bug =
                    KernelBugRecord{uint32_t(next_ ? next_ - 1 : 0), "ksmd", e.what()};
        } catch (const std::exception& e) {
            if (results_.stopped() ||
                !scribbled_bug(sc_.ops[next_ ? next_ - 1 : 0]->event, "concurrent run", e))
                throw;
        }
    }
    // Signals still pending die now, as at a barrier.
    if (cx_.procs && !results_.stopped() && !sc_.ops.empty())
        deliver_pending_kills(cx_, sc_.ops.back()->event);
    finish();
}

} // namespace mmemu
