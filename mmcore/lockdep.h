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
    folio_lock,
    anon_vma_rwsem,
    page_table_lock,
    ptlock,
    ksm_mmlist_lock,
    slab_list_lock,
    zone_lock,
    NR
};

const char* lock_class_name(LockClass c);

// The subclass of a second lock of one class taken under the first (mmap_write_lock_nested(),
// spin_lock_nested()).
inline constexpr unsigned SINGLE_DEPTH_NESTING = 1;

// The most locks one thread holds at once (MAX_LOCK_DEPTH is 48 in Linux).
inline constexpr unsigned LOCKDEP_MAX_DEPTH = 48;

// Records `lock` as held by the calling thread; throws KernelBug on an order violation (the
// record is then dropped: the thread's held set is emptied, as the state is lost anyway).
void lock_acquire(LockClass c, unsigned subclass, const void* lock, bool trylock);
// Forgets `lock` (any order of release is allowed). A lock the thread does not hold is ignored
// (after a report, the unwinding releases what the report forgot).
void lock_release(const void* lock) noexcept;
// The number of locks the calling thread holds.
unsigned lockdep_depth() noexcept;
// Throws KernelBug naming the held locks if the calling thread holds any (and forgets them).
void lockdep_assert_none_held(const std::string& where);
// A lock found taken where nothing else could ever release it (the deterministic mode: one
// thread): KernelBug.
[[noreturn]] void lock_deadlock(LockClass c);
// Whether the calling thread holds `lock` (lockdep_assert_held()).
bool lockdep_is_held(const void* lock) noexcept;

} // namespace mmemu
