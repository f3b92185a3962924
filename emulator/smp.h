// The CPUs as host threads see them: which thread runs each CPU, and the inter-processor
// interrupts between CPUs (the kernel's smp_call_function_single with wait = 1, which its TLB
// shootdowns use).
//
// In the deterministic mode (the default) one host thread runs every CPU in turn: an IPI is a
// plain call of the handler and nothing here waits or locks. In the concurrent mode (mmemu run
// --concurrent) each vCPU has a host thread and ksmd has one more: a thread runs a CPU only
// between get_cpu() and put_cpu(), so a CPU's own state (its TLB, its registers and clock, the
// kernel's per-CPU data) is only ever touched by the thread running it, as on hardware only the
// CPU itself touches its TLB. An IPI to a CPU that a thread runs waits in that CPU's mailbox
// until the thread reaches an instruction boundary (poll(), which the CPU calls before each
// operand) or waits for a lock (spin_until()); an IPI to a CPU nobody runs (an idle CPU) is
// handled at once on the sender's thread, in the idle CPU's stead. The sender waits for the
// handler to finish, serving the IPIs sent to its own CPU meanwhile, so two CPUs that IPI each
// other at once both get through (the kernel waits in csd_lock_wait() with interrupts on).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mmemu {

class Smp;
namespace smp_detail {
// The calling thread's machine and CPU (Smp::thread_smp(), Smp::thread_cpu()). Inline
// namespace-scope variables: a static thread_local class member read through GCC's TLS wrapper
// made UBSan report a null load.
inline thread_local Smp* this_smp = nullptr;
inline thread_local unsigned this_cpu = ~0u;
} // namespace smp_detail

class Smp {
public:
    // The CPU of a thread that runs none (ksmd between batches, the driver between events).
    static constexpr unsigned NO_CPU = ~0u;

    explicit Smp(unsigned nr_cpus);
    ~Smp() {
        if (smp_detail::this_smp == this) smp_detail::this_smp = nullptr;
    }
    Smp(const Smp&) = delete;
    Smp& operator=(const Smp&) = delete;

    // The concurrent mode, chosen before any other thread starts.
    void set_concurrent(bool on) { concurrent_ = on; }
    bool concurrent() const { return concurrent_; }
    unsigned nr_cpus() const { return unsigned(cpus_.size()); }

    // The calling thread runs `cpu` until put_cpu(); it waits while another thread runs it.
    // A thread runs at most one CPU at a time.
    void get_cpu(unsigned cpu);
    void put_cpu(unsigned cpu);
    // cond_resched(): a thread running `cpu` lets a thread waiting in get_cpu() for it run first.
    void cond_resched(unsigned cpu);

    // smp_call_function_single(cpu, fn, 1) from a thread running `self` (or NO_CPU): fn runs as
    // `cpu`'s IPI handler and the caller waits for it. `self` == `cpu` is a local call.
    void call_function_single(unsigned self, unsigned cpu, const std::function<void()>& fn);

    // An instruction boundary on `cpu`: the IPIs waiting for it run now.
    void poll(unsigned cpu) {
        if (concurrent_ && cpus_[cpu]->pending.load(std::memory_order_acquire)) serve(cpu);
    }

    // Waits until ready() holds, serving the IPIs sent to `self` meanwhile (a CPU spinning on a
    // lock with interrupts enabled). ready() is called again after each pause.
    template <class Ready> void spin_until(unsigned self, Ready&& ready) {
        for (unsigned spins = 0; !ready(); spins++) {
            if (self != NO_CPU) poll(self);
            if (spins > 64) std::this_thread::yield();
        }
    }

    // The machine the calling thread runs kernel code for in the concurrent mode, and the CPU it
    // runs (NO_CPU for none): set by get_cpu() / put_cpu() and by enter_thread(), so that a
    // kernel lock's waiter knows whose IPIs to serve. nullptr in the deterministic mode.
    static Smp* thread_smp() { return smp_detail::this_smp; }
    static unsigned thread_cpu() { return smp_detail::this_cpu; }
    // Whether the calling thread runs kernel code of a concurrent machine (other threads may
    // share what it touches: locks must be atomic).
    static bool concurrent_here() {
        const Smp* s = smp_detail::this_smp;
        return s && s->concurrent_;
    }
    void enter_thread() {
        if (concurrent_) smp_detail::this_smp = this;
    }
    // Waits, as spin_until() from the calling thread's CPU, until ready() holds (a kernel lock's
    // waiter). False at once when the thread cannot wait: it runs no concurrent machine, so
    // nothing else could ever make ready() hold (a deadlock in the deterministic mode).
    template <class Ready> static bool wait_here(Ready&& ready) {
        if (ready()) return true;
        Smp* s = smp_detail::this_smp;
        if (!s || !s->concurrent_) return false;
        s->spin_until(smp_detail::this_cpu, ready);
        return true;
    }

    // IPIs handled (on the CPU's thread or in an idle CPU's stead), for tests.
    uint64_t ipis_handled(unsigned cpu) const {
        return cpus_[cpu]->handled.load(std::memory_order_relaxed);
    }

private:
    struct Request {
        const std::function<void()>* fn;
        std::atomic<bool> done{false};
    };
    struct PerCpu {
        std::mutex run;                   // held by the thread running the CPU
        std::atomic<unsigned> waiters{0}; // threads waiting in get_cpu()
        std::mutex mailbox_lock;
        std::vector<Request*> mailbox;
        std::atomic<bool> pending{false}; // the mailbox is not empty
        std::atomic<uint64_t> handled{0};
    };
    // Runs every IPI in `cpu`'s mailbox (the caller runs `cpu`, or stands in for it).
    void serve(unsigned cpu);

    bool concurrent_ = false;
    std::vector<std::unique_ptr<PerCpu>> cpus_;
};

} // namespace mmemu
