#include "emulator/smp.h"

#include <stdexcept>

namespace mmemu {

Smp::Smp(unsigned nr_cpus) {
    for (unsigned i = 0; i < nr_cpus; i++) cpus_.push_back(std::make_unique<PerCpu>());
}

void Smp::get_cpu(unsigned cpu) {
    if (!concurrent_) return;
    PerCpu& c = *cpus_.at(cpu);
    c.waiters.fetch_add(1, std::memory_order_relaxed);
    c.run.lock();
    c.waiters.fetch_sub(1, std::memory_order_relaxed);
    smp_detail::this_smp = this;
    smp_detail::this_cpu = cpu;
}

void Smp::put_cpu(unsigned cpu) {
    if (!concurrent_) return;
    serve(cpu); // nothing waits for a CPU that has just gone idle
    smp_detail::this_cpu = NO_CPU;
    cpus_.at(cpu)->run.unlock();
}

void Smp::cond_resched(unsigned cpu) {
    if (!concurrent_ || cpus_[cpu]->waiters.load(std::memory_order_relaxed) == 0) return;
    put_cpu(cpu);
    std::this_thread::yield();
    get_cpu(cpu);
}

void Smp::serve(unsigned cpu) {
    PerCpu& c = *cpus_[cpu];
    std::vector<Request*> batch;
    {
        std::lock_guard<std::mutex> l(c.mailbox_lock);
        batch.swap(c.mailbox);
        c.pending.store(false, std::memory_order_relaxed);
    }
    for (Request* r : batch) {
        (*r->fn)();
        c.handled.fetch_add(1, std::memory_order_relaxed);
        r->done.store(true, std::memory_order_release);
    }
}

void Smp::call_function_single(unsigned self, unsigned cpu, const std::function<void()>& fn) {
    if (cpu >= cpus_.size()) throw std::out_of_range("an IPI to a CPU the machine does not have");
    if (!concurrent_ || cpu == self) {
        fn();
        if (concurrent_) cpus_[cpu]->handled.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    PerCpu& c = *cpus_[cpu];
    // An idle CPU: its handler runs here, in its stead.
    if (c.run.try_lock()) {
        serve(cpu);
        fn();
        c.handled.fetch_add(1, std::memory_order_relaxed);
        c.run.unlock();
        return;
    }
    Request r{&fn};
    {
        std::lock_guard<std::mutex> l(c.mailbox_lock);
        c.mailbox.push_back(&r);
        c.pending.store(true, std::memory_order_release);
    }
    spin_until(self, [&] {
        if (r.done.load(std::memory_order_acquire)) return true;
        // The CPU went idle with the IPI still waiting: stand in for it.
        if (c.run.try_lock()) {
            serve(cpu);
            c.run.unlock();
        }
        return r.done.load(std::memory_order_acquire);
    });
}

} // namespace mmemu
