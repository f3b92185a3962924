// ksmd (mm/ksm.c ksm_scan_thread, Linux 6.18; docs/dev/ksm-facts.md sections 4 and 11): the
// kernel thread that runs KSM's scan, batch after batch, sleeping sleep_millisecs between them.
//
// It is a real std::thread. In the deterministic mode (the default) it runs in
// lock step with the vCPUs: the driver hands it virtual time (advance_to), and while it works the
// caller waits, so the same scenario gives the same statistics. ksmd's time is virtual: each
// batch costs what it did (the cost model's ksm_* entries per wake-up, page visited, checksum,
// page comparison and merge) on ksmd's own clock, which does not take time from the vCPUs (as if
// ksmd ran on a CPU's idle time); its TLB flushes and IPIs are charged to the CPUs as usual.
// Sleeps are whole jiffies of a HZ=250 kernel, ending on the timer wheel's ticks.
// In the concurrent mode it runs on its own beside the vCPU threads (start_free_running).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "emulator/cost_model.h"
#include "emulator/smp.h"
#include "ksm/ksm.h"

namespace mmemu {

// The most work ksmd may do in one run (docs/scenario-format.md, "Limits"): page visits and
// batches. A scenario that asks for more (ksmd with sleep_millisecs 0 over hours of virtual time)
// stops with KsmdLimit.
inline constexpr uint64_t MAX_KSMD_VISITS = 250000000, MAX_KSMD_BATCHES = 10000000;

struct KsmdLimit : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Ksmd final : private KsmClock {
public:
    enum class State : uint8_t {
        idle,     // waiting on ksm_thread_wait until ksmd_should_run()
        sleeping, // waiting on ksm_iter_wait until at_ns (or a sleep_millisecs change)
        runnable, // its next batch starts at at_ns
    };

    // kthread_run(ksm_scan_thread) at ksm_init: the thread starts idle. ksmd's page-table work is
    // done on `cpu` (its TLB flushes and IPIs); `mhz` converts its cycles to virtual time.
    Ksmd(Ksm& ksm, const CostModel& costs, unsigned mhz, unsigned cpu);
    ~Ksmd();
    Ksmd(const Ksmd&) = delete;
    Ksmd& operator=(const Ksmd&) = delete;

    // Runs every batch due up to virtual time now_ns, then takes the wake-ups the last event
    // made (a run or sleep_millisecs write, the first registration) at now_ns. The caller
    // waits while the thread works. Throws KsmdLimit past the limits, and rethrows what the work
    // threw (a KernelBug).
    void advance_to(uint64_t now_ns);
    // Called at the start of each batch (in the lock-step mode) with its virtual time, before it
    // does any work: mmemu's time series samples what came before (workloads/timeseries.h).
    void set_batch_observer(std::function<void(uint64_t)> observer) {
        batch_observer_ = std::move(observer);
    }
    // Called at the end of each batch (in the lock-step mode) with its virtual end time.
    void set_batch_end_observer(std::function<void(uint64_t)> observer) {
        batch_end_observer_ = std::move(observer);
    }
    // Lets ksmd run on from now_ns (every vCPU idle) until full_scans reaches `target` or
    // virtual time reaches deadline_ns. Returns the virtual time it stopped at; `why` is empty
    // when it got there, else why not (ksmd asleep with nothing to wake it, or the deadline).
    uint64_t run_until_full_scans(uint64_t now_ns, uint64_t target, uint64_t deadline_ns,
                                  std::string& why);

    // The concurrent mode (mmemu run --concurrent): ksmd runs on its own beside the vCPU
    // threads, batch after batch as ksm_scan_thread does, each batch on CPU cpu() (taken from
    // the thread running it: ksmd and that CPU's tasks share it), its sleeps sleep_millisecs of
    // host time (a wait for a wake-up polls every millisecond). pause() waits for the batch in
    // progress and holds ksmd until resume(); stop_free_running() returns to the lock-step mode. An
    // error of a batch (a KernelBug, KsmdLimit) stops ksmd; take_error() hands it over.
    void start_free_running(Smp& smp);
    void pause();
    void resume();
    void stop_free_running();
    std::exception_ptr take_error();
    // The concurrent mode's ksm_wait: ksmd runs (the caller holds no CPU) until full_scans
    // reaches `target`; `why` says why not (ksmd waits for a wake-up that nothing will send,
    // scans nothing, failed, or timeout_ms of host time passed; 0: none).
    void wait_full_scans(uint64_t target, uint64_t timeout_ms, std::string& why);

    // Lowers (or raises) the limits on ksmd's work (tests reach them quickly this way).
    void set_limits(uint64_t visits, uint64_t batches) {
        max_visits_ = visits;
        max_batches_ = batches;
    }
    State state() const { return state_; }
    uint64_t at_ns() const { return at_ns_; }
    uint64_t cputime_ns() const { return cputime_ns_; }
    uint64_t batches() const { return batches_; }
    unsigned cpu() const { return cpu_; }

    // The wake-up time of a timed sleep of `ms` that starts at t_ns: schedule_timeout of
    // msecs_to_jiffies(ms) jiffies, expiring at the timer wheel's rounded-up tick (ns).
    static uint64_t sleep_until_ns(uint64_t t_ns, unsigned ms);

private:
    // One pass of ksm_scan_thread's loop at at_ns_ (the state is runnable).
    void batch();
    // Runs `job` on the thread and waits for it (lock step).
    void on_thread(const std::function<void()>& job);
    void thread_main();
    void free_run_loop();
    uint64_t cost_ns(const KsmWork& w) const;
    // KsmClock: the batch's start plus what it has cost so far.
    uint64_t now_ns() const override;
    uint64_t ksmd_cputime_ns() const override;

    Ksm& ksm_;
    const CostModel costs_;
    const unsigned mhz_, cpu_;
    State state_ = State::idle;
    uint64_t at_ns_ = 0;
    std::function<void(uint64_t)> batch_observer_, batch_end_observer_;
    unsigned slept_ms_ = 0; // the sleep_millisecs of the current timed sleep
    uint64_t cputime_ns_ = 0, batches_ = 0;
    uint64_t max_visits_ = MAX_KSMD_VISITS, max_batches_ = MAX_KSMD_BATCHES;
    uint64_t visits_at_start_ = 0; // KSM's visits when ksmd started (tests scan without it)
    uint64_t batch_start_ns_ = 0, batch_end_ns_ = 0;
    KsmWork batch_work_; // the work counters at the batch's start

    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    const std::function<void()>* job_ = nullptr;
    bool done_ = false, stop_ = false;
    std::exception_ptr error_;
    // The concurrent mode (under mu_).
    Smp* smp_ = nullptr;
    bool free_run_ = false, running_free_ = false, pause_req_ = false, paused_ = false;
    std::exception_ptr free_error_;
    bool free_running_ = false; // ksmd's own thread: in free_run_loop()
};

} // namespace mmemu
