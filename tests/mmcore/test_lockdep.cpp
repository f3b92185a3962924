// The kernel's locks and the lock-order checker (mmcore/lockdep.h, mmcore/locks.h): the order
// of mm/rmap.c's "Lock ordering in mm" comment enforced on every acquisition, and the paths
// that must take each lock (a page fault: mmap_lock for reading, then the PTE table's lock;
// fork: both mms' mmap_locks, the child's nested) shown to take it: a test thread that already
// holds the lock makes the path's acquisition a recursive one, which lockdep reports.
#include <catch2/catch.hpp>

#include "mmcore/locks.h"
#include "proc_fixture.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {
constexpr uint64_t P = PAGE_SIZE;

std::string bug_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const KernelBug& e) {
        return e.what();
    }
    return "";
}

bool user_write(Proc& p, uint64_t a) {
    uint8_t v = 1;
    return p.b.m.cpu(0).write_linear(LinearAddr{a}, &v, 1, AccessMode{3, false}).ok();
}
} // namespace

TEST_CASE("lockdep: locks taken in the documented order pass, out of order they are a bug",
          "[lockdep]") {
    REQUIRE(lockdep_depth() == 0);
    rw_semaphore mmap_lock{LockClass::mmap_lock};
    spinlock_t ptl{LockClass::ptlock}, zone{LockClass::zone_lock};
    // mmap_lock, then a PTE table's lock, then zone->lock: the order of mm/rmap.c.
    mmap_lock.down_read();
    ptl.lock();
    zone.lock();
    CHECK(lockdep_depth() == 3);
    zone.unlock();
    ptl.unlock();
    mmap_lock.up_read();
    CHECK(lockdep_depth() == 0);
    // zone->lock held, then mmap_lock: the inversion is reported, and nothing stays recorded.
    zone.lock();
    const std::string e = bug_of([&] { mmap_lock.down_write(); });
    CHECK_THAT(e, Catch::Contains("possible circular locking dependency detected") &&
                      Catch::Contains("&mm->mmap_lock taken while holding &zone->lock"));
    CHECK(lockdep_depth() == 0);
    zone.unlock();
    // The same lock twice.
    ptl.lock();
    CHECK_THAT(bug_of([&] { ptl.lock(); }), Catch::Contains("possible recursive locking"));
    ptl.unlock();
    CHECK(!ptl.is_locked());
}

TEST_CASE("lockdep: a nested lock of one class needs its subclass; a trylock is not ordered",
          "[lockdep]") {
    rw_semaphore parent{LockClass::mmap_lock}, child{LockClass::mmap_lock};
    // fork: the parent's mmap_lock, then the child's with SINGLE_DEPTH_NESTING.
    parent.down_write();
    child.down_write(SINGLE_DEPTH_NESTING);
    child.up_write();
    // Without the annotation, two locks of one class are an inversion (nothing orders them).
    CHECK_THAT(bug_of([&] { child.down_write(); }),
               Catch::Contains("&mm->mmap_lock taken while holding &mm->mmap_lock"));
    child.up_write();
    parent.up_write();
    // A folio trylock under a PTE lock cannot deadlock: allowed, and recorded as held.
    spinlock_t ptl{LockClass::ptlock};
    page pg;
    ptl.lock();
    REQUIRE(folio_trylock(pg));
    CHECK(lockdep_is_held(&pg));
    CHECK_FALSE(folio_trylock(pg)); // taken: the trylock fails, as folio_trylock() does
    folio_unlock(pg);
    ptl.unlock();
    CHECK_FALSE(pg.test(PG_locked));
    CHECK(lockdep_depth() == 0);
}

TEST_CASE("lockdep: returning to user mode with a lock held, and a lock nobody can release",
          "[lockdep]") {
    spinlock_t s{LockClass::zone_lock};
    s.lock();
    CHECK_THAT(bug_of([] { lockdep_assert_none_held("a test"); }),
               Catch::Contains("lock held when returning to user space (a test): &zone->lock"));
    CHECK(lockdep_depth() == 0);
    // The lock word is still taken (the report only forgets the record): in the deterministic
    // mode no other thread exists to release it, so waiting for it is a deadlock.
    CHECK_THAT(bug_of([&] { s.lock(); }), Catch::Contains("deadlock: &zone->lock is taken"));
    s.unlock();
    rw_semaphore r{LockClass::anon_vma_rwsem};
    r.down_read();
    CHECK_FALSE(r.down_write_trylock()); // readers exclude a writer
    r.up_read();
    CHECK(r.down_write_trylock());
    CHECK_FALSE(r.down_read_trylock()); // and a writer excludes readers
    r.up_write();
    CHECK_FALSE(r.is_locked());
}

TEST_CASE("locks: a page fault takes mmap_lock; KSM's write-protect takes the PTE table's lock",
          "[lockdep][process]") {
    Proc p;
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 4 * P, RW, ANON, 0));
    REQUIRE(user_write(p, a)); // the PTE table exists now
    // The mm's mmap_lock held (as munmap would hold it): the fault's mmap_read_lock() is this
    // thread taking it a second time.
    p.t.mm->mmap_lock.down_write();
    CHECK_THAT(bug_of([&] { (void)user_write(p, a + P); }),
               Catch::Contains("possible recursive locking detected: &mm->mmap_lock"));
    p.t.mm->mmap_lock.up_write();
    // The PTE table's lock held: a fault would take mmap_lock after it, the wrong order.
    const pteval_t e = p.as.lookup_pte(p.t.mm, a);
    REQUIRE(pte_present(e));
    const auto ptep = p.as.pte_offset(p.t.mm, a + P);
    REQUIRE(ptep);
    page& table = p.b.k.buddy.mem_map()[Pfn{ptep->value >> PAGE_SHIFT}];
    pte_lock ptl(table);
    ptl.lock();
    CHECK_THAT(bug_of([&] { (void)user_write(p, a + P); }),
               Catch::Contains("&mm->mmap_lock taken while holding ptlock"));
    ptl.unlock();
    CHECK(lockdep_depth() == 0);
    // KSM's write_protect_page() under mmap_lock for reading (as ksmd calls it) takes the PTE
    // table's lock: with the test holding it, that is a second acquisition.
    p.t.mm->mmap_lock.down_read();
    ptl.lock();
    pteval_t orig = 0;
    vm_area_struct* vma = p.as.vma_lookup(p.t.mm, a);
    CHECK_THAT(bug_of([&] { (void)p.as.write_protect_page(vma, a, pte_pfn(e), orig, 0); }),
               Catch::Contains("possible recursive locking detected: ptlock"));
    ptl.unlock();
    p.t.mm->mmap_lock.up_read();
    CHECK(lockdep_depth() == 0);
    // With nothing held the same fault goes through, and leaves every lock free.
    CHECK(user_write(p, a + P));
    CHECK_FALSE(p.t.mm->mmap_lock.is_locked());
    CHECK(table.private_ == 0);
    CHECK(lockdep_depth() == 0);
    CHECK(p.b.k.audit({}) == "");
}
