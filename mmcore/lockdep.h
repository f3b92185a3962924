// A small lockdep: the order in which the kernel's locks may be taken, checked on every
// acquisition, in the deterministic mode as in the concurrent one, so that every test checks
// the order (Documentation/locking/lockdep-design.rst: a lock class per kind of lock, and a
// report the first time a thread takes a class "above" one it holds).
//
// Linux's lockdep learns the order from what runs and reports cycles; mmemu writes the order
// down once, as a rank per class, from mm/rmap.c's "Lock ordering in mm" comment and seed 002:
//
//   ksm_thread_mutex                 mm/ksm.c: ksmd's batch and the knob writes hold it while
//                                    they take mmap_lock
//     mm->mmap_lock                  (fork: the child's nested, SINGLE_DEPTH_NESTING)
//       folio lock (PG_locked)
//         anon_vma->rwsem            (the root's)
//           mm->page_table_lock      (upper page-table levels, anon_vma_prepare)
//             PTE table lock         (split PTLs; fork: the source's nested)
//               ksm_mmlist_lock      (under mmap_lock in __ksm_enter, alone in the scan)
//                 slab list_lock     (n->list_lock of the cache's node)
//                   zone->lock       (the buddy free lists)
//
// A thread taking a lock whose (class, subclass) is not above every lock it holds is a bug in
// mmemu (KernelBug: exit 70): "possible circular locking dependency", or "possible recursive
// locking" for the same lock twice. A trylock cannot deadlock and is not checked (lockdep does
// the same), but it is recorded as held. A kernel path that returns to user mode (the end of a
// page fault, of an event's system call, of a ksmd batch) must hold nothing:
// lockdep_assert_none_held(), the kernel's "lock held when returning to user space!".
#pragma once

#include <cstdint>
#include <string>

namespace mmemu {

enum class LockClass : uint8_t {
    ksm_thread_mutex,
    mmap_lock,
    oom_lock, // only ever tried (mutex_trylock in __alloc_pages_may_oom)
    folio_lock,
    anon_vma_rwsem,
    page_table_lock,
    ptlock,
    ksm_mmlist_lock,
    slab_list_lock,
    pcp_lock, // a zone's per-CPU page list's lock (struct per_cpu_pages.lock)
    zone_lock,
    slab_table_lock, // mmemu's table of slab descriptors (SlabTable)
    NR
};

const char* lock_class_name(LockClass c);

// The subclass of a second lock of one class taken under the first (mmap_write_lock_nested(),
// spin_lock_nested()).
inline constexpr unsigned SINGLE_DEPTH_NESTING = 1;

// The most locks one thread holds at once (MAX_LOCK_DEPTH is 48 in Linux).
inline constexpr unsigned LOCKDEP_MAX_DEPTH = 48;

namespace lockdep_detail {
// The locks the calling thread holds, in the order taken: each with its (class, subclass) key.
struct HeldLocks {
    const void* lock[LOCKDEP_MAX_DEPTH];
    uint16_t key[LOCKDEP_MAX_DEPTH];
    unsigned depth = 0;
};
inline thread_local HeldLocks held;
inline uint16_t key_of(LockClass c, unsigned subclass) {
    return uint16_t(unsigned(c) << 8 | subclass);
}
[[noreturn]] void report_order(uint16_t key, const void* lock, unsigned at);
} // namespace lockdep_detail

// Records `lock` as held by the calling thread; throws KernelBug on an order violation (the
// record is then dropped: the thread's held set is emptied, as the state is lost anyway).
// Inline: every lock of the fault path and of ksmd's tree walks goes through it.
inline void lock_acquire(LockClass c, unsigned subclass, const void* lock, bool trylock) {
    using namespace lockdep_detail;
    HeldLocks& h = held;
    const uint16_t k = key_of(c, subclass);
    for (unsigned i = 0; i < h.depth; i++)
        if (h.lock[i] == lock || (!trylock && h.key[i] >= k)) report_order(k, lock, i);
    if (h.depth == LOCKDEP_MAX_DEPTH) report_order(k, lock, LOCKDEP_MAX_DEPTH);
    h.lock[h.depth] = lock;
    h.key[h.depth++] = k;
}
// Forgets `lock` (any order of release is allowed). A lock the thread does not hold is ignored
// (after a report, the unwinding releases what the report forgot).
inline void lock_release(const void* lock) noexcept {
    using namespace lockdep_detail;
    HeldLocks& h = held;
    for (unsigned i = h.depth; i-- > 0;) {
        if (h.lock[i] != lock) continue;
        for (unsigned j = i + 1; j < h.depth; j++) {
            h.lock[j - 1] = h.lock[j];
            h.key[j - 1] = h.key[j];
        }
        h.depth--;
        return;
    }
}
// The number of locks the calling thread holds.
inline unsigned lockdep_depth() noexcept {
    return lockdep_detail::held.depth;
}
// Throws KernelBug naming the held locks if the calling thread holds any (and forgets them).
void lockdep_assert_none_held(const std::string& where);
// A lock found taken where nothing else could ever release it (the deterministic mode: one
// thread): KernelBug.
[[noreturn]] void lock_deadlock(LockClass c);
// Whether the calling thread holds `lock` (lockdep_assert_held()).
bool lockdep_is_held(const void* lock) noexcept;

} // namespace mmemu
