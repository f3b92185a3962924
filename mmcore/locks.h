// The kernel's locks as mmemu takes them: spinlock_t (zone->lock, the slab's list_lock,
// mm->page_table_lock, ksm_mmlist_lock), struct mutex (ksm_thread_mutex), struct rw_semaphore
// (mm->mmap_lock, anon_vma->rwsem), the PTE table's split lock (ptlock, in the table frame's
// struct page as Linux keeps it in its ptdesc) and the folio lock (PG_locked, a bit of
// page->flags as in Linux).
//
// Each is a word. In the concurrent mode (mmemu run --concurrent) it is changed with atomic
// read-modify-writes and excludes other threads; in the deterministic mode one thread runs
// everything, so it is changed with plain loads and stores (a locked instruction right after a
// page copy would wait for all of the copy's stores: a COW fault 15% slower), and nothing ever
// waits for it: a lock found taken there is a deadlock and a KernelBug. Every acquisition goes
// through the lock-order checker first (mmcore/lockdep.h). A waiter in the concurrent mode spins
// serving its CPU's IPIs (Smp::wait_here), as a CPU waits for a spinlock with interrupts on (a
// sleeping lock's waiter would schedule; mmemu's threads each run one CPU, so they spin instead).
//
// They are all the concurrent mode has: no big lock serialises the kernel around them
// (docs/dev/concurrency.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "emulator/smp.h"
#include "mmcore/bug.h"
#include "mmcore/lockdep.h"
#include "mmcore/page.h"

namespace mmemu {

namespace lock_word {
template <class W> bool try_set(W& w, W from, W to) {
    if (!Smp::concurrent_here()) {
        if (w != from) return false;
        w = to;
        return true;
    }
    return std::atomic_ref<W>(w).compare_exchange_strong(from, to, std::memory_order_acquire,
                                                         std::memory_order_relaxed);
}
template <class W> void release_store(W& w, W v) {
    if (!Smp::concurrent_here())
        w = v;
    else
        std::atomic_ref<W>(w).store(v, std::memory_order_release);
}
template <class W> W add(W& w, W d) {
    if (!Smp::concurrent_here()) return std::exchange(w, W(w + d));
    return std::atomic_ref<W>(w).fetch_add(d, std::memory_order_acq_rel);
}
template <class W> void wait_set(W& w, W from, W to, LockClass c) {
    if (!Smp::wait_here([&] { return try_set(w, from, to); })) lock_deadlock(c);
}
} // namespace lock_word

// spinlock_t, and struct mutex (which sleeps in Linux, where mmemu's waiter spins).
class spinlock_t {
public:
    explicit spinlock_t(LockClass c) : cls_(c) {}
    // A copy of a structure holding a lock (a zone built in a vector) has a new, unlocked lock.
    spinlock_t(const spinlock_t& o) : cls_(o.cls_) {}
    spinlock_t& operator=(const spinlock_t& o) {
        cls_ = o.cls_;
        return *this;
    }

    void lock(unsigned subclass = 0) {
        lock_acquire(cls_, subclass, this, false);
        lock_word::wait_set<uint32_t>(word_, 0, 1, cls_);
    }
    bool trylock() {
        if (!lock_word::try_set<uint32_t>(word_, 0, 1)) return false;
        lock_acquire(cls_, 0, this, true);
        return true;
    }
    void unlock() {
        lock_release(this);
        lock_word::release_store<uint32_t>(word_, 0);
    }
    bool is_locked() const { return std::atomic_ref<const uint32_t>(word_).load() != 0; }

private:
    uint32_t word_ = 0;
    LockClass cls_;
};
using kernel_mutex = spinlock_t;

// struct rw_semaphore: many readers or one writer (without the kernel's handoff to a waiting
// writer: readers that keep coming may make a writer wait).
class rw_semaphore {
public:
    explicit rw_semaphore(LockClass c) : cls_(c) {}
    rw_semaphore(const rw_semaphore& o) : cls_(o.cls_) {}
    rw_semaphore& operator=(const rw_semaphore& o) {
        cls_ = o.cls_;
        return *this;
    }

    void down_read() {
        lock_acquire(cls_, 0, this, false);
        if (!Smp::wait_here([&] { return read_trylock_word(); })) lock_deadlock(cls_);
    }
    bool down_read_trylock() {
        if (!read_trylock_word()) return false;
        lock_acquire(cls_, 0, this, true);
        return true;
    }
    void up_read() {
        lock_release(this);
        lock_word::add<int32_t>(count_, -1);
    }
    void down_write(unsigned subclass = 0) {
        lock_acquire(cls_, subclass, this, false);
        lock_word::wait_set<int32_t>(count_, 0, WRITER, cls_);
    }
    bool down_write_trylock() {
        if (!lock_word::try_set<int32_t>(count_, 0, WRITER)) return false;
        lock_acquire(cls_, 0, this, true);
        return true;
    }
    void up_write() {
        write_seq_++;
        lock_release(this);
        lock_word::release_store<int32_t>(count_, 0);
    }
    // downgrade_write(): the writer becomes a reader without letting another writer in.
    void downgrade_write() {
        write_seq_++;
        lock_word::release_store<int32_t>(count_, 1);
    }
    // Write sections ended so far (advanced by the writer before it lets anyone in). For
    // mmap_lock it is mm->mm_lock_seq, which 6.18 advances when a write section ends
    // (mmap_write_unlock and mmap_write_downgrade call vma_end_write_all): a reader that saw
    // the same value twice knows no writer changed the VMAs in between.
    uint64_t write_seq() const { return write_seq_; }
    bool is_locked() const { return std::atomic_ref<const int32_t>(count_).load() != 0; }
    bool is_write_locked() const { return std::atomic_ref<const int32_t>(count_).load() < 0; }

private:
    static constexpr int32_t WRITER = -1;
    uint64_t write_seq_ = 0;
    bool read_trylock_word() {
        if (!Smp::concurrent_here()) {
            if (count_ < 0) return false;
            count_++;
            return true;
        }
        std::atomic_ref<int32_t> c(count_);
        int32_t v = c.load(std::memory_order_relaxed);
        while (v >= 0)
            if (c.compare_exchange_weak(v, v + 1, std::memory_order_acquire,
                                        std::memory_order_relaxed))
                return true;
        return false;
    }
    int32_t count_ = 0;
    LockClass cls_;
};

// The split PTE lock of a page-table frame (ptlock_ptr(ptdesc)): its struct page's `private_`
// word, which only a free buddy block uses otherwise (Linux's ptdesc overlays struct page the
// same way).
class pte_lock {
public:
    explicit pte_lock(page& table) : word_(&table.private_) {}
    void lock(unsigned subclass = 0) {
        lock_acquire(LockClass::ptlock, subclass, word_, false);
        lock_word::wait_set<uint64_t>(*word_, 0, 1, LockClass::ptlock);
    }
    void unlock() {
        lock_release(word_);
        lock_word::release_store<uint64_t>(*word_, 0);
    }

private:
    uint64_t* word_;
};

// A PTE table's lock as a walk or a fault holds it: pte_offset_map_lock() .. pte_unmap_unlock().
// lock() moves it to another table (a range walk crossing a table boundary); unlock() and
// relock() drop it and take it again (a fault that allocates drops it first).
class PtlHolder {
public:
    PtlHolder() = default;
    explicit PtlHolder(page& table, unsigned subclass = 0) { lock(table, subclass); }
    ~PtlHolder() { unlock(); }
    PtlHolder(const PtlHolder&) = delete;
    PtlHolder& operator=(const PtlHolder&) = delete;

    void lock(page& table, unsigned subclass = 0) {
        if (locked_ && table_ == &table) return;
        unlock();
        table_ = &table;
        subclass_ = subclass;
        relock();
    }
    void relock() {
        pte_lock(*table_).lock(subclass_);
        locked_ = true;
    }
    void unlock() {
        if (!locked_) return;
        pte_lock(*table_).unlock();
        locked_ = false;
    }

private:
    page* table_ = nullptr;
    unsigned subclass_ = 0;
    bool locked_ = false;
};

// The folio lock (PG_locked).
namespace lock_word {
inline bool test_and_set_locked(page& p) {
    const uint64_t bit = uint64_t{1} << PG_locked;
    return katomic::fetch_or(p.flags, bit) & bit;
}
} // namespace lock_word
inline bool folio_trylock(page& p) {
    if (lock_word::test_and_set_locked(p)) return false;
    lock_acquire(LockClass::folio_lock, 0, &p, true);
    return true;
}
inline void folio_lock(page& p) {
    lock_acquire(LockClass::folio_lock, 0, &p, false);
    if (!Smp::wait_here([&] { return !lock_word::test_and_set_locked(p); }))
        lock_deadlock(LockClass::folio_lock);
}
inline void folio_unlock(page& p) {
    lock_release(&p);
    katomic::fetch_and(p.flags, ~(uint64_t{1} << PG_locked));
}

// Scopes: spin_lock() .. spin_unlock(), mmap_read_lock() .. mmap_read_unlock(), and so on.
struct AlreadyLocked {}; // a guard for a lock a trylock took
template <class L> class LockGuard {
public:
    explicit LockGuard(L& l, unsigned subclass = 0) : l_(l) { l_.lock(subclass); }
    LockGuard(L& l, AlreadyLocked) : l_(l) {}
    ~LockGuard() { l_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    L& l_;
};
class ReadGuard {
public:
    explicit ReadGuard(rw_semaphore& s) : s_(s) { s_.down_read(); }
    ~ReadGuard() { s_.up_read(); }
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;

private:
    rw_semaphore& s_;
};
class WriteGuard {
public:
    explicit WriteGuard(rw_semaphore& s, unsigned subclass = 0) : s_(s) { s_.down_write(subclass); }
    ~WriteGuard() { s_.up_write(); }
    WriteGuard(const WriteGuard&) = delete;
    WriteGuard& operator=(const WriteGuard&) = delete;

private:
    rw_semaphore& s_;
};

} // namespace mmemu
