#include "mmcore/lockdep.h"

#include "mmcore/bug.h"

namespace mmemu {

using lockdep_detail::held;

namespace {

std::string describe(uint16_t key) {
    std::string s = lock_class_name(LockClass(key >> 8));
    if (key & 0xff) s += "/" + std::to_string(key & 0xff);
    return s;
}

[[noreturn]] void report(const std::string& what) {
    held.depth = 0;
    throw KernelBug("lockdep: " + what);
}

} // namespace

const char* lock_class_name(LockClass c) {
    switch (c) {
    case LockClass::ksm_thread_mutex: return "ksm_thread_mutex";
    case LockClass::mmap_lock: return "&mm->mmap_lock";
    case LockClass::oom_lock: return "oom_lock";
    case LockClass::folio_lock: return "folio lock (PG_locked)";
    case LockClass::anon_vma_rwsem: return "&anon_vma->rwsem";
    case LockClass::page_table_lock: return "&mm->page_table_lock";
    case LockClass::ptlock: return "ptlock (a PTE table's lock)";
    case LockClass::ksm_mmlist_lock: return "ksm_mmlist_lock";
    case LockClass::slab_list_lock: return "&n->list_lock";
    case LockClass::pcp_lock: return "&pcp->lock";
    case LockClass::zone_lock: return "&zone->lock";
    case LockClass::slab_table_lock: return "slab_table_lock";
    case LockClass::NR: break;
    }
    return "?";
}

void lockdep_detail::report_order(uint16_t key, const void* lock, unsigned at) {
    if (at == LOCKDEP_MAX_DEPTH)
        report("more than " + std::to_string(LOCKDEP_MAX_DEPTH) + " locks held at once");
    if (held.lock[at] == lock)
        report("possible recursive locking detected: " + describe(key) +
               " taken again by the thread that holds it");
    report("possible circular locking dependency detected: " + describe(key) +
           " taken while holding " + describe(held.key[at]) +
           " (the order is in mmcore/lockdep.h)");
}

void lock_deadlock(LockClass c) {
    report(std::string("deadlock: ") + lock_class_name(c) +
           " is taken and no other thread runs to release it");
}

bool lockdep_is_held(const void* lock) noexcept {
    for (unsigned i = 0; i < held.depth; i++)
        if (held.lock[i] == lock) return true;
    return false;
}

void lockdep_assert_none_held(const std::string& where) {
    if (!held.depth) return;
    std::string names;
    for (unsigned i = 0; i < held.depth; i++) names += (i ? ", " : "") + describe(held.key[i]);
    report("lock held when returning to user space (" + where + "): " + names);
}

} // namespace mmemu
