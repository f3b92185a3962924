#include "mmcore/lockdep.h"

#include "mmcore/bug.h"

namespace mmemu {

namespace {

struct HeldLock {
    const void* lock;
    LockClass cls;
    uint8_t subclass;
};

struct HeldLocks {
    HeldLock held[LOCKDEP_MAX_DEPTH];
    unsigned depth = 0;
};

thread_local HeldLocks current_held;

std::string describe(const HeldLock& h) {
    std::string s = lock_class_name(h.cls);
    if (h.subclass) s += "/" + std::to_string(h.subclass);
    return s;
}

[[noreturn]] void report(const std::string& what) {
    current_held.depth = 0;
    throw KernelBug("lockdep: " + what);
}

} // namespace

const char* lock_class_name(LockClass c) {
    switch (c) {
    case LockClass::ksm_thread_mutex: return "ksm_thread_mutex";
    case LockClass::mmap_lock: return "&mm->mmap_lock";
    case LockClass::folio_lock: return "folio lock (PG_locked)";
    case LockClass::anon_vma_rwsem: return "&anon_vma->rwsem";
    case LockClass::page_table_lock: return "&mm->page_table_lock";
    case LockClass::ptlock: return "ptlock (a PTE table's lock)";
    case LockClass::ksm_mmlist_lock: return "ksm_mmlist_lock";
    case LockClass::slab_list_lock: return "&n->list_lock";
    case LockClass::zone_lock: return "&zone->lock";
    case LockClass::NR: break;
    }
    return "?";
}

void lock_acquire(LockClass c, unsigned subclass, const void* lock, bool trylock) {
    HeldLocks& h = current_held;
    const HeldLock mine{lock, c, uint8_t(subclass)};
    for (unsigned i = 0; i < h.depth; i++) {
        const HeldLock& o = h.held[i];
        if (o.lock == lock)
            report("possible recursive locking detected: " + describe(mine) +
                   " taken again by the thread that holds it");
        if (trylock) continue;
        if (o.cls > c || (o.cls == c && o.subclass >= subclass))
            report("possible circular locking dependency detected: " + describe(mine) +
                   " taken while holding " + describe(o) + " (the order is in mmcore/lockdep.h)");
    }
    if (h.depth == LOCKDEP_MAX_DEPTH)
        report("more than " + std::to_string(LOCKDEP_MAX_DEPTH) + " locks held at once");
    h.held[h.depth++] = mine;
}

void lock_release(const void* lock) noexcept {
    HeldLocks& h = current_held;
    for (unsigned i = h.depth; i-- > 0;) {
        if (h.held[i].lock != lock) continue;
        for (unsigned j = i + 1; j < h.depth; j++) h.held[j - 1] = h.held[j];
        h.depth--;
        return;
    }
}

void lock_deadlock(LockClass c) {
    report(std::string("deadlock: ") + lock_class_name(c) +
           " is taken and no other thread runs to release it");
}

unsigned lockdep_depth() noexcept {
    return current_held.depth;
}

bool lockdep_is_held(const void* lock) noexcept {
    const HeldLocks& h = current_held;
    for (unsigned i = 0; i < h.depth; i++)
        if (h.held[i].lock == lock) return true;
    return false;
}

void lockdep_assert_none_held(const std::string& where) {
    HeldLocks& h = current_held;
    if (!h.depth) return;
    std::string names;
    for (unsigned i = 0; i < h.depth; i++) names += (i ? ", " : "") + describe(h.held[i]);
    report("lock held when returning to user space (" + where + "): " + names);
}

} // namespace mmemu
