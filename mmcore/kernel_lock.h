// The big kernel lock of the concurrent mode (lock_kernel() of the first SMP Linux, 2.0 to 2.4):
// one lock around all of the kernel's memory-management work, taken on every entry into the
// kernel (an event's system call, a page fault, a ksmd batch) and dropped while a CPU runs user
// code, so user code runs in parallel on every CPU and the kernel on one at a time. Like the
// BKL it is recursive per thread (task->lock_depth). A thread waiting for it spins with
// interrupts on: it serves the IPIs sent to its CPU meanwhile (emulator/smp.h), so a holder's
// TLB shootdown never waits on a CPU that waits on the holder.
//
// It is a stage: the locks Linux takes today (mmcore/locks.h: mmap_lock, the page-table locks,
// the page lock, anon_vma's rwsem, zone->lock, the slab's list_lock) are taken inside it where
// Linux takes them, and replace it once what they do not cover is atomic
// (docs/dev/concurrency.md). In the deterministic mode (the default) it does nothing.
#pragma once

#include <atomic>
#include <mutex>
#include <thread>

#include "emulator/smp.h"

namespace mmemu {

class KernelLock {
public:
    explicit KernelLock(Smp& smp) : smp_(smp) {}
    KernelLock(const KernelLock&) = delete;
    KernelLock& operator=(const KernelLock&) = delete;

    // lock_kernel() by a thread running `cpu` (or Smp::NO_CPU).
    void lock(unsigned cpu) {
        if (!smp_.concurrent()) return;
        smp_.enter_thread(); // this thread's kernel locks are atomic from now on
        if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
            depth_++;
            return;
        }
        smp_.spin_until(cpu, [this] { return mu_.try_lock(); });
        owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
        depth_ = 1;
    }
    void unlock() {
        if (!smp_.concurrent()) return;
        if (--depth_ == 0) {
            owner_.store(std::thread::id(), std::memory_order_relaxed);
            mu_.unlock();
        }
    }
    // Every level the calling thread holds is dropped (the CPU returns to user mode); the
    // depth it held, for reacquire().
    unsigned release_all() {
        if (!smp_.concurrent() ||
            owner_.load(std::memory_order_relaxed) != std::this_thread::get_id())
            return 0;
        const unsigned d = depth_;
        depth_ = 1;
        unlock();
        return d;
    }
    void reacquire(unsigned cpu, unsigned depth) {
        if (!depth) return;
        lock(cpu);
        depth_ = depth;
    }

private:
    Smp& smp_;
    std::mutex mu_;
    std::atomic<std::thread::id> owner_{};
    unsigned depth_ = 0; // only its owner touches it
};

// lock_kernel() .. unlock_kernel() for a scope.
class KernelLockGuard {
public:
    KernelLockGuard(KernelLock& l, unsigned cpu) : l_(l) { l_.lock(cpu); }
    ~KernelLockGuard() { l_.unlock(); }
    KernelLockGuard(const KernelLockGuard&) = delete;
    KernelLockGuard& operator=(const KernelLockGuard&) = delete;

private:
    KernelLock& l_;
};

// A scope without the lock (the CPU runs user code, or the thread waits for another one that
// needs the lock): every level held is dropped, and taken again after.
class KernelUnlocked {
public:
    KernelUnlocked(KernelLock& l, unsigned cpu) : l_(l), cpu_(cpu), depth_(l.release_all()) {}
    ~KernelUnlocked() { l_.reacquire(cpu_, depth_); }
    KernelUnlocked(const KernelUnlocked&) = delete;
    KernelUnlocked& operator=(const KernelUnlocked&) = delete;

private:
    KernelLock& l_;
    unsigned cpu_, depth_;
};

} // namespace mmemu
