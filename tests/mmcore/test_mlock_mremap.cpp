// mlock / munlock / mlockall, MADV_FREE and mremap on x86_64, with values worked out by hand from
// Linux 6.18's rules (../shared/reference/linux-process-facts.md sections 4, 6 and 7; the
// MADV_FREE batch of 31 folios was seen on this machine: 256 pages give LazyFree 992 kB).
#include <catch2/catch.hpp>

#include "proc_fixture.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {
constexpr uint64_t P = PAGE_SIZE;
} // namespace

TEST_CASE("mlock: VmLck counts what is newly locked; VMAs split and merge; limits and errors",
          "[process][mlock]") {
    Proc p;
    mm_struct* mm = p.t.mm;
    const uint64_t a = uint64_t(p.as.vm_mmap(mm, 0, 16 * P, RW, ANON, 0));
    REQUIRE(a == MMAP_BASE - 16 * P);
    // Pages 4..7: the VMA splits in three, four pages are locked and faulted in (write faults:
    // the memory is private and writable).
    REQUIRE(p.as.do_mlock(mm, a + 4 * P, 4 * P, false, 0) == 0);
    CHECK(mm->map_count == 3);
    CHECK(mm->locked_vm == 4);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 4);
    CHECK(pte_write(p.as.lookup_pte(mm, a + 4 * P)));
    CHECK((p.as.find_vma(mm, a + 4 * P)->vm_flags & VM_LOCKED));
    // Pages 2..9 overlap: only 2, 3, 8 and 9 are new (locked_vm 8); the locked VMA takes in its
    // neighbours' parts, so there are still three.
    REQUIRE(p.as.do_mlock(mm, a + 2 * P, 8 * P, false, 0) == 0);
    CHECK(mm->locked_vm == 8);
    CHECK(mm->map_count == 3);
    CHECK(p.as.find_vma(mm, a)->vm_end == a + 2 * P);
    CHECK(p.as.find_vma(mm, a + 2 * P)->vm_end == a + 10 * P);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 8);
    // munlock of everything: one VMA again.
    REQUIRE(p.as.do_munlock(mm, a, 16 * P, 0) == 0);
    CHECK(mm->locked_vm == 0);
    CHECK(mm->map_count == 1);
    // mlock2(MLOCK_ONFAULT): locked, nothing faulted in.
    REQUIRE(p.as.do_mlock(mm, a, 2 * P, true, 0) == 0);
    CHECK(mm->locked_vm == 2);
    CHECK((p.as.find_vma(mm, a)->vm_flags & (VM_LOCKED | VM_LOCKONFAULT)) ==
          (VM_LOCKED | VM_LOCKONFAULT));
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 8);
    // A range starting in a hole.
    CHECK(p.as.do_mlock(mm, a - 4 * P, 8 * P, false, 0) == -ENOMEM);
    // RLIMIT_MEMLOCK (2048 pages): 3000 more pages are refused, nothing changes.
    const uint64_t b = uint64_t(p.as.vm_mmap(mm, 0, 3000 * P, RW, ANON, 0));
    CHECK(p.as.do_mlock(mm, b, 3000 * P, false, 0) == -ENOMEM);
    CHECK(mm->locked_vm == 2);
    // PROT_NONE: the VMA is locked and counted, but faulting in fails: ENOMEM.
    const uint64_t c = uint64_t(p.as.vm_mmap(mm, 0, 2 * P, PROT_NONE, ANON, 0));
    CHECK(p.as.do_mlock(mm, c, 2 * P, false, 0) == -ENOMEM);
    CHECK((p.as.find_vma(mm, c)->vm_flags & VM_LOCKED));
    CHECK(mm->locked_vm == 4);
    // DONTNEED and FREE refuse locked memory.
    CHECK(p.as.do_madvise(mm, a, P, MADV_DONTNEED, 0) == -EINVAL);
    CHECK(p.as.do_madvise(mm, a, P, MADV_FREE, 0) == -EINVAL);
    // A child starts with nothing locked.
    int err = 0;
    task_struct* child = p.as.do_fork(&p.t, "c", 0, err);
    REQUIRE(child);
    CHECK(child->mm->locked_vm == 0);
    for (const vm_area_struct* v : p.as.vmas(child->mm)) CHECK(!(v->vm_flags & VM_LOCKED));
    p.as.task_exit(child, "exit");
    // mlockall(MCL_CURRENT) needs total_vm (16 + 3000 + 2 pages) within the limit.
    CHECK(p.as.do_mlockall(mm, MCL_CURRENT, 0) == -ENOMEM);
    REQUIRE(p.as.vm_munmap(mm, b, 3000 * P, 0) == 0);
    // Now 18 pages: all locked (the 14 not locked yet are added) and the writable ones faulted
    // in (the PROT_NONE VMA's failure is ignored); MCL_FUTURE locks the next mapping too.
    REQUIRE(p.as.do_mlockall(mm, MCL_CURRENT | MCL_FUTURE, 0) == 0);
    CHECK(mm->locked_vm == 18);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 16);
    const uint64_t d = uint64_t(p.as.vm_mmap(mm, 0, 4 * P, RW, ANON, 0));
    CHECK((p.as.find_vma(mm, d)->vm_flags & VM_LOCKED));
    CHECK(mm->locked_vm == 22);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 20);
    REQUIRE(p.as.do_mlockall(mm, 0, 0) == 0); // munlockall
    CHECK(mm->locked_vm == 0);
    CHECK(mm->def_flags == 0);
    CHECK(p.as.do_mlockall(mm, MCL_ONFAULT, 0) == -EINVAL);
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("madvise(MADV_FREE): pages stay, clean and old; LazyFree lags by batches of 31",
          "[process][madvise]") {
    Proc p;
    mm_struct* mm = p.t.mm;
    const uint64_t a = uint64_t(p.as.vm_mmap(mm, 0, 64 * P, RW, ANON, 0));
    for (uint64_t i = 0; i < 64; i++) REQUIRE(p.write(a + i * P, uint8_t(i + 1)).ok());
    REQUIRE(p.as.do_madvise(mm, a, 64 * P, MADV_FREE, 0) == 0);
    // 64 pages: two batches of 31 went through (PG_swapbacked cleared), 2 still wait.
    CHECK(p.as.smaps_rollup(mm).lazyfree == 62 * P);
    CHECK(p.as.vmstat().pglazyfree == 62);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 64);
    CHECK((p.as.lookup_pte(mm, a) & (_PAGE_ACCESSED | _PAGE_DIRTY)) == 0);
    CHECK(p.as.vmas(mm).size() == 1);
    // Still mapped and readable, with its bytes; a read sets Accessed only.
    uint8_t v = 0;
    REQUIRE(p.read(a + 5 * P, v).ok());
    CHECK(v == 6);
    CHECK(p.as.smaps_rollup(mm).lazyfree == 62 * P);
    // A write dirties the PTE: that page is no longer lazily free.
    REQUIRE(p.write(a, 9).ok());
    CHECK(p.as.smaps_rollup(mm).lazyfree == 61 * P);
    // MADV_FREE again: this CPU's batch drains first (the 2 waiting pages), then page 0 is
    // cleaned again; nothing is swap-backed any more, so nothing is batched.
    REQUIRE(p.as.do_madvise(mm, a, 64 * P, MADV_FREE, 0) == 0);
    CHECK(p.as.vmstat().pglazyfree == 64);
    CHECK(p.as.smaps_rollup(mm).lazyfree == 64 * P);
    // Shared after fork: the child's MADV_FREE marks the shared pages too (seen on this
    // machine), but the parent's PTEs are still dirty, so only the child shows LazyFree.
    const uint64_t b = uint64_t(p.as.vm_mmap(mm, 0, 64 * P, RW, ANON, 0));
    for (uint64_t i = 0; i < 64; i++) REQUIRE(p.write(b + i * P, 1).ok());
    int err = 0;
    task_struct* c = p.as.do_fork(&p.t, "c", 0, err);
    REQUIRE(c);
    REQUIRE(p.as.do_madvise(c->mm, b, 64 * P, MADV_FREE, 0) == 0);
    CHECK(p.as.smaps_rollup(c->mm).lazyfree == (64 + 62) * P);
    CHECK(p.as.smaps_rollup(mm).lazyfree == 64 * P); // only the first region's
    p.as.task_exit(c, "exit");
    REQUIRE(p.as.vm_munmap(mm, a, 64 * P, 0) == 0);
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("mremap: grow blocked, moved by whole PMDs, grown and shrunk in place, DONTUNMAP, "
          "FIXED, errors",
          "[process][mremap]") {
    Proc p;
    mm_struct* mm = p.t.mm;
    const uint64_t top = uint64_t(p.as.vm_mmap(mm, 0, P, RW, ANON, 0));
    REQUIRE(top == MMAP_BASE - P);
    // 4 MiB, THP-aligned: a 6 MiB search below top gives 0x7ffff79fe000, moved up to the next
    // 2 MiB boundary.
    const uint64_t r = uint64_t(p.as.vm_mmap(mm, 0, 4 << 20, RW, ANON, 0));
    REQUIRE(r == 0x7ffff7a00000);
    for (uint64_t i = 0; i < 1024; i++) REQUIRE(p.write(r + i * P, uint8_t(i)).ok());
    const Pfn pfn0 = pte_pfn(p.as.lookup_pte(mm, r));
    const uint64_t tables = mm->pgtables_bytes, flt = p.t.min_flt,
                   flushes = p.as.fault_counts().tlb_flushes;
    // Growing in place would overlap top: without MREMAP_MAYMOVE, ENOMEM.
    CHECK(p.as.do_mremap(mm, r, 4 << 20, 8 << 20, 0, 0, 0) == -ENOMEM);
    // With it: get_unmapped_area(8 MiB, pgoff = r >> 12) searches 10 MiB below r
    // (0x7ffff7000000); off_sub = (r - 0x7ffff7000000) mod 2 MiB = 0, so the slot 2 MiB up:
    // 0x7ffff7200000. Both ends are 2 MiB-aligned: the two PTE tables move in their PMD
    // entries (a flush each), no page moves, nothing faults.
    const int64_t n = p.as.do_mremap(mm, r, 4 << 20, 8 << 20, MREMAP_MAYMOVE, 0, 0);
    REQUIRE(n == 0x7ffff7200000);
    const uint64_t m = uint64_t(n);
    CHECK(pte_pfn(p.as.lookup_pte(mm, m)) == pfn0);
    CHECK(p.as.lookup_pte(mm, r) == 0);
    CHECK(mm->pgtables_bytes == tables);
    CHECK(p.t.min_flt == flt);
    CHECK(p.as.fault_counts().tlb_flushes == flushes + 2);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 1024);
    CHECK(mm->total_vm == 1 + 2048);
    CHECK(mm->map_count == 2);
    const vm_area_struct* vm = p.as.find_vma(mm, m);
    CHECK(vm->vm_end == m + (8 << 20));
    CHECK(vm->vm_pgoff == r >> PAGE_SHIFT); // anonymous memory keeps its pgoff
    uint8_t v = 0;
    REQUIRE(p.read(m + 1000 * P, v).ok());
    CHECK(v == uint8_t(1000));
    CHECK(p.t.min_flt == flt);
    // Grow in place by 2 MiB (the old place above is free now), then shrink to 1 MiB: the tail
    // is unmapped, 256 pages stay.
    CHECK(p.as.do_mremap(mm, m, 8 << 20, 10 << 20, 0, 0, 0) == n);
    CHECK(mm->total_vm == 1 + 2560);
    CHECK(p.as.do_mremap(mm, m, 10 << 20, 1 << 20, 0, 0, 0) == n);
    CHECK(mm->total_vm == 1 + 256);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 256);
    // MREMAP_DONTUNMAP: 1 MiB is no THP length, so the plain top-down search: the highest gap,
    // below top: 0x7ffff7efe000. The old VMA stays, empty (a read gets the zero page).
    const int64_t d =
        p.as.do_mremap(mm, m, 1 << 20, 1 << 20, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0, 0);
    REQUIRE(d == 0x7ffff7efe000);
    CHECK(mm->total_vm == 1 + 512);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 256);
    REQUIRE(p.read(m + 7 * P, v).ok());
    CHECK(v == 0);
    REQUIRE(p.read(uint64_t(d) + 7 * P, v).ok());
    CHECK(v == 7);
    // MREMAP_FIXED to 0x10000000.
    CHECK(p.as.do_mremap(mm, uint64_t(d), 1 << 20, 1 << 20, MREMAP_MAYMOVE | MREMAP_FIXED,
                         0x10000000, 0) == 0x10000000);
    REQUIRE(p.read(0x10000000 + 9 * P, v).ok());
    CHECK(v == 9);
    // Errors (check_mremap_params, check_prep_vma).
    CHECK(p.as.do_mremap(mm, 0x10000000 + 1, P, P, 0, 0, 0) == -EINVAL);
    CHECK(p.as.do_mremap(mm, 0x10000000, P, 0, 0, 0, 0) == -EINVAL);
    CHECK(p.as.do_mremap(mm, 0x10000000, P, P, MREMAP_FIXED, 0x20000000, 0) == -EINVAL);
    CHECK(p.as.do_mremap(mm, 0x10000000, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED,
                         0x10000000 + P, 0) == -EINVAL); // overlapping
    CHECK(p.as.do_mremap(mm, 0x20000000, P, 2 * P, MREMAP_MAYMOVE, 0, 0) == -EFAULT);
    CHECK(p.as.do_mremap(mm, 0x10000000, 2 << 20, 4 << 20, MREMAP_MAYMOVE, 0, 0) == -EFAULT);
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("vm.max_map_count: mmap beyond it and a split that would pass it fail with ENOMEM",
          "[process][mmap]") {
    KernelConfig kc;
    kc.max_map_count = 5;
    Booted b{machine(Arch::x86_64, 256 * MiB), kc};
    AddressSpaces& as = b.k.spaces;
    task_struct* t = as.task_create("p", 0);
    REQUIRE(t);
    mm_struct* mm = t->mm;
    // Alternating protections so that no two neighbours merge: the check is map_count >
    // max_map_count before the new VMA (do_mmap), so counts 0 to 5 may still map: 6 VMAs.
    std::vector<uint64_t> at;
    for (int i = 0; i < 6; i++) {
        const int64_t a = as.vm_mmap(mm, 0, 2 * P, i % 2 ? PROT_READ : RW, ANON, 0);
        REQUIRE(a > 0);
        at.push_back(uint64_t(a));
    }
    CHECK(mm->map_count == 6);
    CHECK(as.vm_mmap(mm, 0, P, RW, ANON, 0) == -ENOMEM);
    // Splitting needs map_count < max_map_count (__split_vma): refused, nothing changes.
    CHECK(as.do_mprotect(mm, at[0], P, PROT_READ, 0) == -ENOMEM);
    CHECK(mm->map_count == 6);
    as.task_exit(t, "exit");
    CHECK(b.k.audit({}) == "");
}
