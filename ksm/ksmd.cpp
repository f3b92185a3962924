// ksmd in virtual time (mm/ksm.c ksm_scan_thread, Linux 6.18; docs/dev/ksm-facts.md sections 4
// and 11).
#include "ksm/ksmd.h"

#include <algorithm>
#include <chrono>

namespace mmemu {

Ksmd::Ksmd(Ksm& ksm, const CostModel& costs, unsigned mhz, unsigned cpu)
    : ksm_(ksm), costs_(costs), mhz_(mhz ? mhz : 1), cpu_(cpu),
      visits_at_start_(ksm.work().visits) {
    thread_ = std::thread([this] { thread_main(); });
}

Ksmd::~Ksmd() {
    {
        std::lock_guard<std::mutex> l(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    ksm_.set_clock(nullptr);
}

void Ksmd::thread_main() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
        cv_.wait(l, [this] { return job_ || stop_ || free_run_; });
        if (stop_) return;
        if (free_run_) {
            l.unlock();
            free_run_loop();
            l.lock();
            continue;
        }
        const std::function<void()>* job = job_;
        l.unlock();
        std::exception_ptr err;
        try {
            (*job)();
        } catch (...) {
            err = std::current_exception();
        }
        l.lock();
        error_ = err;
        job_ = nullptr;
        done_ = true;
        cv_.notify_all();
    }
}

void Ksmd::on_thread(const std::function<void()>& job) {
    std::unique_lock<std::mutex> l(mu_);
    job_ = &job;
    done_ = false;
    cv_.notify_all();
    cv_.wait(l, [this] { return done_; });
    if (std::exception_ptr e = std::exchange(error_, nullptr)) std::rethrow_exception(e);
}

// msecs_to_jiffies() at HZ 250 rounds up to whole 4 ms jiffies; schedule_timeout() arms a timer
// at jiffies + that, and the timer wheel (kernel/time/timer.c calc_index) files it one unit of
// its level's granularity later, rounded down to that granularity, in absolute jiffies: level 0
// (under 63 jiffies away) counts single jiffies (a 20 ms sleep from jiffy J fires at J + 6),
// each level above is eight times coarser. ksmd runs at the tick the timer fires on
// (docs/dev/ksm-facts.md 11d).
uint64_t Ksmd::sleep_until_ns(uint64_t t_ns, unsigned ms) {
    // __msecs_to_jiffies(): a value that is negative as an int is MAX_JIFFY_OFFSET, far past
    // the wheel's capacity.
    const uint64_t timeout = int(ms) < 0 ? UINT64_MAX / 4 : msecs_to_jiffies(ms);
    const uint64_t now = INITIAL_JIFFIES + t_ns / NS_PER_JIFFY;
    uint64_t expires = now + timeout;
    unsigned lvl = 0;
    // LVL_START(n) = 63 << 3(n-1): the first delta filed at level n; LVL_DEPTH is 9 (HZ > 100).
    while (lvl < 8 && timeout >= (uint64_t{63} << (3 * lvl))) lvl++;
    // calc_wheel_index(): a timeout from WHEEL_TIMEOUT_CUTOFF = LVL_START(9) on expires at the
    // wheel's capacity, clk + WHEEL_TIMEOUT_MAX (the cutoff less LVL_GRAN(8)).
    constexpr uint64_t cutoff = uint64_t{63} << 24, timeout_max = cutoff - (uint64_t{1} << 24);
    if (timeout >= cutoff) expires = now + timeout_max;
    const unsigned shift = 3 * lvl;
    const uint64_t fires = ((expires >> shift) + 1) << shift;
    return (fires - INITIAL_JIFFIES) * NS_PER_JIFFY;
}

uint64_t Ksmd::cost_ns(const KsmWork& w) const {
    const uint64_t cycles = costs_.ksm_batch + w.visits * costs_.ksm_scan_page +
                            w.checksums * costs_.ksm_checksum + w.compares * costs_.ksm_memcmp +
                            w.merges * costs_.ksm_merge;
    return std::max<uint64_t>(1, cycles * 1000 / mhz_);
}

static KsmWork since(const KsmWork& now, const KsmWork& then) {
    return {now.visits - then.visits, now.checksums - then.checksums, now.compares - then.compares,
            now.merges - then.merges};
}

uint64_t Ksmd::now_ns() const {
    return batch_start_ns_ + cost_ns(since(ksm_.work(), batch_work_));
}

uint64_t Ksmd::ksmd_cputime_ns() const {
    return cputime_ns_ + cost_ns(since(ksm_.work(), batch_work_));
}

// One turn of ksm_scan_thread's loop: a batch if ksmd should run, then a timed sleep if it
// still should (none for sleep_millisecs 0), else the wait for a wake-up.
void Ksmd::batch() {
    if (batch_observer_ && !free_running_) batch_observer_(at_ns_);
    batch_start_ns_ = at_ns_;
    batch_work_ = ksm_.work();
    ksm_.set_clock(this);
    if (ksm_.ksmd_should_run())
        ksm_.ksm_do_scan(ksm_.knobs().pages_to_scan, batch_start_ns_ / 1000000, cpu_);
    if (lockdep_depth()) lockdep_assert_none_held("the end of a ksmd batch");
    const KsmWork done = since(ksm_.work(), batch_work_);
    const uint64_t cost = cost_ns(done);
    cputime_ns_ += cost;
    batches_++;
    const uint64_t end = batch_start_ns_ + cost;
    batch_end_ns_ = end;
    if (Tracer* tr = ksm_.tracer())
        tr->slice(Tracer::KSMD, "ksm", "scan batch", batch_start_ns_, end,
                  {{"pages_visited", done.visits},
                   {"checksums", done.checksums},
                   {"compares", done.compares},
                   {"merge_attempts", done.merges},
                   {"full_scans", ksm_.seqnr()}});
    if (batch_end_observer_ && !free_running_) batch_end_observer_(end);
    // (In the concurrent mode ksmd runs only while the events do, in host time: no limit.)
    if (!free_running_ &&
        (ksm_.work().visits - visits_at_start_ > max_visits_ || batches_ > max_batches_))
        throw KsmdLimit("ksmd would do more than mmemu's limit of " + std::to_string(max_visits_) +
                        " page visits or " + std::to_string(max_batches_) +
                        " batches in one run (a long run with a small sleep_millisecs?)");
    if (!ksm_.ksmd_should_run()) {
        state_ = State::idle;
        at_ns_ = end;
        return;
    }
    slept_ms_ = ksm_.knobs().sleep_millisecs;
    if (slept_ms_ == 0) { // wait_event_timeout with 0 jiffies returns at once
        state_ = State::runnable;
        at_ns_ = end;
        return;
    }
    state_ = State::sleeping;
    at_ns_ = sleep_until_ns(end, slept_ms_);
}

void Ksmd::advance_to(uint64_t now) {
    on_thread([&] {
        for (;;) {
            if (state_ != State::idle && at_ns_ <= now) {
                state_ = State::runnable;
                batch();
                continue;
            }
            // The last event's wake-ups, at its end.
            const KsmWakeups w = ksm_.take_wakeups();
            bool woke = false;
            if (w.thread_wait && state_ == State::idle && ksm_.ksmd_should_run()) woke = true;
            // An iter_wait wake-up ends the sleep only if sleep_millisecs changed.
            if (w.iter_wait && state_ == State::sleeping &&
                ksm_.knobs().sleep_millisecs != slept_ms_)
                woke = true;
            if (!woke) break;
            state_ = State::runnable;
            at_ns_ = now;
        }
    });
}

uint64_t Ksmd::run_until_full_scans(uint64_t now, uint64_t target, uint64_t deadline,
                                    std::string& why) {
    advance_to(now);
    uint64_t t = now;
    on_thread([&] {
        while (ksm_.seqnr() < target) {
            if (state_ == State::idle) {
                why = (ksm_.knobs().run & 1)
                          ? "ksmd is waiting: no process is registered with KSM"
                          : "ksmd is waiting: run is " + std::to_string(ksm_.knobs().run);
                return;
            }
            if (ksm_.knobs().pages_to_scan == 0) {
                why = "ksmd scans nothing: pages_to_scan is 0";
                return;
            }
            if (at_ns_ > deadline) {
                why = "the deadline passed first";
                t = deadline;
                return;
            }
            state_ = State::runnable;
            batch();
            t = std::max(t, batch_end_ns_);
        }
    });
    return t;
}

// ---- The concurrent mode ---------------------------------------------------------------------

void Ksmd::start_free_running(Smp& smp) {
    std::lock_guard<std::mutex> l(mu_);
    smp_ = &smp;
    free_run_ = running_free_ = true;
    cv_.notify_all();
}

void Ksmd::free_run_loop() {
    using namespace std::chrono;
    free_running_ = true;
    for (;;) {
        {
            std::unique_lock<std::mutex> l(mu_);
            if (pause_req_ || free_error_) {
                paused_ = true;
                cv_.notify_all();
                cv_.wait(l,
                         [this] { return (!pause_req_ && !free_error_) || !free_run_ || stop_; });
                paused_ = false;
            }
            if (!free_run_ || stop_) {
                free_running_ = false;
                running_free_ = false;
                cv_.notify_all();
                return;
            }
        }
        bool ran = false;
        unsigned sleep_ms = 0;
        std::exception_ptr err;
        smp_->get_cpu(cpu_);
        try {
            (void)ksm_.take_wakeups(); // polled instead
            if (ksm_.ksmd_should_run()) {
                state_ = State::runnable;
                batch();
                ran = true;
                sleep_ms = ksm_.knobs().sleep_millisecs;
            }
        } catch (...) {
            err = std::current_exception();
        }
        smp_->put_cpu(cpu_);
        std::unique_lock<std::mutex> l(mu_);
        if (err) {
            free_error_ = err;
            continue;
        }
        const auto woken = [this] { return pause_req_ || !free_run_ || stop_; };
        if (!ran)
            cv_.wait_for(l, milliseconds(1), woken);
        else if (sleep_ms)
            cv_.wait_for(l, milliseconds(sleep_ms), woken);
        else {
            l.unlock();
            std::this_thread::yield();
        }
    }
}

void Ksmd::pause() {
    std::unique_lock<std::mutex> l(mu_);
    if (!running_free_) return;
    pause_req_ = true;
    cv_.notify_all();
    cv_.wait(l, [this] { return paused_ || !running_free_; });
}

void Ksmd::resume() {
    std::lock_guard<std::mutex> l(mu_);
    pause_req_ = false;
    cv_.notify_all();
}

void Ksmd::stop_free_running() {
    std::unique_lock<std::mutex> l(mu_);
    free_run_ = false;
    pause_req_ = false;
    cv_.notify_all();
    cv_.wait(l, [this] { return !running_free_; });
}

std::exception_ptr Ksmd::take_error() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(free_error_, nullptr);
}

void Ksmd::wait_full_scans(uint64_t target, uint64_t timeout_ms, std::string& why) {
    using namespace std::chrono;
    const auto start = steady_clock::now();
    resume();
    for (;;) {
        std::this_thread::sleep_for(milliseconds(1));
        const Ksm::ScanState st = ksm_.scan_state();
        const uint64_t seq = st.seqnr;
        const bool should = st.should_run;
        const unsigned pages = st.pages_to_scan, run = st.run;
        if (seq >= target) break;
        if (!should) {
            why = (run & 1) ? "ksmd is waiting: no process is registered with KSM"
                            : "ksmd is waiting: run is " + std::to_string(run);
            break;
        }
        if (pages == 0) {
            why = "ksmd scans nothing: pages_to_scan is 0";
            break;
        }
        {
            std::lock_guard<std::mutex> l(mu_);
            if (free_error_) {
                why = "ksmd stopped with an error";
                break;
            }
        }
        if (timeout_ms && steady_clock::now() - start >= milliseconds(timeout_ms)) {
            why = "the timeout (host time, in the concurrent mode) passed first";
            break;
        }
    }
    pause();
}

} // namespace mmemu
