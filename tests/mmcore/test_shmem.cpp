// Shared anonymous memory (mm/shmem.c) worked by hand: the pages live in the shmem object's page
// cache, a read fault allocates (no zero page) and maps the page writable, fork copies no PTEs,
// both processes see each other's writes, unmapping keeps the pages until the last VMA goes,
// MADV_DONTNEED keeps the contents, and a fault beyond the object's size is SIGBUS. The rules
// with their kernel sources: docs/dev/shmem-facts.md.
#include <catch2/catch.hpp>

#include "proc_fixture.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {
constexpr int SHARED = MAP_SHARED | MAP_ANONYMOUS;

uint64_t live(const Proc& p, const char* cache) {
    return live_objects(p.b.k.slab.find_cache(cache));
}
} // namespace

TEST_CASE("shmem: shared with a forked child both ways, freed with the last mapping",
          "[process][shmem]") {
    Proc p;
    const uint64_t inodes0 = live(p, "shmem_inode_cache"), files0 = live(p, "filp"),
                   dentries0 = live(p, "dentry");
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 4 * PAGE_SIZE, RW, SHARED, 0));
    // shmem_zero_setup(): one inode, one dentry, one file; the VMA starts at file page 0.
    CHECK(live(p, "shmem_inode_cache") == inodes0 + 1);
    CHECK(live(p, "dentry") == dentries0 + 1);
    CHECK(live(p, "filp") == files0 + 1);
    const vm_area_struct* v = p.as.vma_lookup(p.t.mm, a);
    REQUIRE(v);
    REQUIRE(v->vm_file);
    CHECK(v->vm_pgoff == 0);
    CHECK((v->vm_flags & (VM_SHARED | VM_MAYSHARE)) == (VM_SHARED | VM_MAYSHARE));
    // A read fault on a hole allocates a page (no zero page for shmem) and maps it writable and
    // clean: PAGE_SHARED for a shared writable VMA.
    uint8_t x = 0xff;
    REQUIRE(p.read(a + 1, x).ok());
    CHECK(x == 0);
    const MmVmstat& vs = p.as.vmstat();
    CHECK(vs.nr_shmem == 1);
    CHECK(vs.nr_file_pages == 1);
    CHECK(vs.nr_mapped == 1);
    CHECK(vs.nr_anon_pages == 0);
    CHECK(p.t.mm->get_mm_counter(MM_SHMEMPAGES) == 1);
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 0);
    const pteval_t e0 = p.as.lookup_pte(p.t.mm, a);
    CHECK(pte_pfn(e0) != p.as.zero_pfn());
    CHECK((e0 & (_PAGE_RW | _PAGE_DIRTY)) == _PAGE_RW);
    // The write needs no fault: the CPU sets the dirty bit.
    const uint64_t faults = vs.pgfault;
    REQUIRE(p.write(a + 1, 5).ok());
    CHECK(vs.pgfault == faults);
    CHECK((p.as.lookup_pte(p.t.mm, a) & _PAGE_DIRTY) != 0);
    // fork: the child gets the VMA (and a reference to the file) but no PTEs.
    int err = 0;
    task_struct* c = p.as.do_fork(&p.t, "child", 0, err);
    REQUIRE(c);
    CHECK(p.as.lookup_pte(c->mm, a) == 0);
    CHECK(c->mm->get_mm_counter(MM_SHMEMPAGES) == 0);
    CHECK(live(p, "filp") == files0 + 1); // the same file, one more reference
    // The child faults the page in from the cache and sees the parent's byte.
    p.as.set_current(0, c);
    REQUIRE(p.read(a + 1, x).ok());
    CHECK(x == 5);
    CHECK(pte_pfn(p.as.lookup_pte(c->mm, a)) == pte_pfn(e0));
    const page& pg = p.b.k.mem_map[pte_pfn(e0)];
    CHECK(pg._mapcount == 2);
    CHECK(pg._refcount == 3); // the page cache's reference and one per mapping
    CHECK(vs.nr_mapped == 1); // mapped at least once: counted once
    // The child writes a new page; the parent reads it.
    REQUIRE(p.write(a + 2 * PAGE_SIZE, 9).ok());
    p.as.set_current(0, &p.t);
    REQUIRE(p.read(a + 2 * PAGE_SIZE, x).ok());
    CHECK(x == 9);
    CHECK(vs.nr_shmem == 2);
    // smaps_rollup: both pages mapped by both: Pss 2 KiB each, shared; the parent's PTE of
    // page 0 is dirty (its write), page 2 was read here: clean.
    const SmapsRollup s = p.as.smaps_rollup(p.t.mm);
    CHECK(s.resident == 2 * PAGE_SIZE);
    CHECK(s.anonymous == 0);
    CHECK((s.pss >> SmapsRollup::PSS_SHIFT) == PAGE_SIZE);
    CHECK((s.pss_shmem >> SmapsRollup::PSS_SHIFT) == PAGE_SIZE);
    CHECK(s.shared_dirty == PAGE_SIZE);
    CHECK(s.shared_clean == PAGE_SIZE);
    CHECK(p.b.k.audit({}) == "");
    // The parent unmaps: the pages stay in the cache for the child.
    REQUIRE(p.as.vm_munmap(p.t.mm, a, 4 * PAGE_SIZE, 0) == 0);
    CHECK(vs.nr_shmem == 2);
    CHECK(p.t.mm->get_mm_counter(MM_SHMEMPAGES) == 0);
    CHECK(pg._mapcount == 1);
    p.as.set_current(0, c);
    REQUIRE(p.read(a + 1, x).ok());
    CHECK(x == 5);
    CHECK(p.b.k.audit({}) == "");
    // The child's exit drops the last reference: the pages and the objects go.
    p.as.set_current(0, nullptr);
    p.as.task_exit(c, "exit");
    CHECK(vs.nr_shmem == 0);
    CHECK(vs.nr_file_pages == 0);
    CHECK(vs.nr_mapped == 0);
    CHECK(live(p, "shmem_inode_cache") == inodes0);
    CHECK(live(p, "filp") == files0);
    CHECK(live(p, "dentry") == dentries0);
    CHECK(p.b.k.audit({}) == "");
    p.as.set_current(0, &p.t);
}

TEST_CASE("shmem: MADV_DONTNEED keeps the contents, beyond the object is SIGBUS, the maps line",
          "[process][shmem]") {
    Proc p;
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 2 * PAGE_SIZE, RW, SHARED, 0));
    REQUIRE(p.write(a, 3).ok());
    // MADV_DONTNEED zaps the PTE; the page stays in the cache and the next read sees it.
    REQUIRE(p.as.do_madvise(p.t.mm, a, PAGE_SIZE, MADV_DONTNEED, 0) == 0);
    CHECK(p.as.lookup_pte(p.t.mm, a) == 0);
    CHECK(p.t.mm->get_mm_counter(MM_SHMEMPAGES) == 0);
    CHECK(p.as.vmstat().nr_shmem == 1);
    uint8_t x = 0;
    REQUIRE(p.read(a, x).ok());
    CHECK(x == 3);
    // Private-anonymous-only advice is refused on a shared mapping.
    CHECK(p.as.do_madvise(p.t.mm, a, PAGE_SIZE, MADV_FREE, 0) == -EINVAL);
    CHECK(p.as.do_madvise(p.t.mm, a, PAGE_SIZE, MADV_WIPEONFORK, 0) == -EINVAL);
    // /proc/PID/maps: shared ('s'), file offset 0, device 00:01, the inode, /dev/zero (deleted).
    const auto maps = p.as.proc_maps(p.t.mm);
    REQUIRE(maps.size() == 1);
    CHECK(maps[0].substr(maps[0].find(' ')) ==
          " rw-s 00000000 00:01 1" + std::string(72 - 47, ' ') + " /dev/zero (deleted)");
    // pagemap: present, a file page (PM_FILE, bit 61), mapped once (bit 56).
    const auto pm = p.as.pagemap(p.t.mm, a, a + PAGE_SIZE);
    REQUIRE(pm.size() == 1);
    CHECK(pm[0] >> 61 == 0b101);
    CHECK(((pm[0] >> 56) & 1) == 1);
    // mremap grows the mapping in place, but not the object: page 2 is beyond its two pages.
    REQUIRE(p.as.do_mremap(p.t.mm, a, 2 * PAGE_SIZE, 4 * PAGE_SIZE, 0, 0, 0) == int64_t(a));
    REQUIRE(p.write(a + PAGE_SIZE, 4).ok()); // still inside
    CHECK(!p.write(a + 2 * PAGE_SIZE, 4).ok());
    REQUIRE(p.t.segv);
    CHECK(p.t.segv->sigbus);
    CHECK(p.t.segv->si_code == BUS_ADRERR);
    CHECK(p.t.segv->addr == a + 2 * PAGE_SIZE);
    CHECK(p.as.fault_counts().sigbus == 1);
    CHECK(p.b.k.audit({}) == "");
}
