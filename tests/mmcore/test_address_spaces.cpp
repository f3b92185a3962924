// Address spaces on x86_64: mmap placement and merging, page faults through the CPU (demand
// zero, the zero page, copy from the zero page), SIGSEGVs, munmap splitting a VMA, and the
// teardown that gives every frame and object back. Expected values are worked out by hand from
// Linux 6.18's rules (../shared/reference/linux-process-facts.md).
#include <catch2/catch.hpp>

#include "mmcore/address_spaces.h"
#include "proc_fixture.h"
#include "test_helpers.h"

using namespace mmemu;
using namespace mmemu::test;

TEST_CASE("address spaces: the first mmap sits just below mmap_base", "[process][mmap]") {
    Proc p;
    const int64_t a = p.as.vm_mmap(p.t.mm, 0, 16 * PAGE_SIZE, RW, ANON, 0);
    CHECK(a == int64_t(MMAP_BASE - 16 * PAGE_SIZE));
    const vm_area_struct* v = p.as.find_vma(p.t.mm, uint64_t(a));
    REQUIRE(v);
    CHECK(v->vm_start == uint64_t(a));
    CHECK(v->vm_end == MMAP_BASE);
    // VM_READ|VM_WRITE|VM_MAYREAD|VM_MAYWRITE|VM_MAYEXEC|VM_ACCOUNT
    CHECK(v->vm_flags == 0x100073);
    CHECK(v->vm_pgoff == uint64_t(a) >> 12);
    CHECK(v->vm_page_prot == PAGE_COPY); // private writable: read-only until the write fault
    CHECK(p.t.mm->map_count == 1);
    CHECK(p.t.mm->total_vm == 16);
    CHECK(p.t.mm->data_vm == 16);
    // A second mapping goes directly below the first and merges with it (same flags, no
    // anon_vma yet, contiguous pgoff): still one VMA.
    const int64_t b2 = p.as.vm_mmap(p.t.mm, 0, 4 * PAGE_SIZE, RW, ANON, 0);
    CHECK(b2 == a - int64_t(4 * PAGE_SIZE));
    CHECK(p.t.mm->map_count == 1);
    CHECK(p.as.find_vma(p.t.mm, uint64_t(b2))->vm_end == MMAP_BASE);
    // A read-only one does not merge (different flags).
    const int64_t c = p.as.vm_mmap(p.t.mm, 0, PAGE_SIZE, PROT_READ, ANON, 0);
    CHECK(c == b2 - int64_t(PAGE_SIZE));
    CHECK(p.t.mm->map_count == 2);
    // Multiples of 2 MiB are THP-aligned: 2 MiB more is searched for and the result moved up
    // to the next 2 MiB boundary. For 4 MiB the 6 MiB search below c = 0x7ffff7fea000 gives
    // 0x7ffff79ea000, moved up to 0x7ffff7a00000.
    const int64_t d = p.as.vm_mmap(p.t.mm, 0, 2 * PMD_SIZE, RW, ANON, 0);
    CHECK(d == int64_t(0x7ffff7a00000));
    // Errors: length 0, MAP_FIXED unaligned, MAP_FIXED_NOREPLACE over a mapping, a hint below
    // mmap_min_addr rounded up to it.
    CHECK(p.as.vm_mmap(p.t.mm, 0, 0, RW, ANON, 0) == -EINVAL);
    CHECK(p.as.vm_mmap(p.t.mm, 0x10000001, PAGE_SIZE, RW, ANON | MAP_FIXED, 0) == -EINVAL);
    CHECK(p.as.vm_mmap(p.t.mm, uint64_t(a), PAGE_SIZE, RW, ANON | MAP_FIXED_NOREPLACE, 0) ==
          -EEXIST);
    CHECK(p.as.vm_mmap(p.t.mm, 0x2000, PAGE_SIZE, RW, ANON, 0) == 0x10000);
    CHECK(p.as.vm_mmap(p.t.mm, 0x2000, PAGE_SIZE, RW, ANON | MAP_FIXED, 0) == -EPERM);
    CHECK(p.as.vm_mmap(p.t.mm, 0, uint64_t{1} << 47, RW, ANON, 0) == -ENOMEM);
}

TEST_CASE("address spaces: demand zero, the zero page and a copy from it", "[process][fault]") {
    Proc p;
    const uint64_t free0 = p.free_pages();
    auto slab_pages = [&] {
        return p.b.k.slab.nr_slab_pages(false) + p.b.k.slab.nr_slab_pages(true);
    };
    const uint64_t slab0 = slab_pages();
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 16 * PAGE_SIZE, RW, ANON, 0));
    // A write to a fresh page: one fault, a zeroed page mapped writable and dirty.
    REQUIRE(p.write(a + 5, 0x5a).ok());
    CHECK(p.as.vmstat().pgfault == 1);
    CHECK(p.t.min_flt == 1);
    CHECK(p.as.fault_counts().anonymous == 1);
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 1);
    CHECK(p.as.vmstat().nr_anon_pages == 1);
    const pteval_t e = p.as.lookup_pte(p.t.mm, a);
    CHECK((e & (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_DIRTY | _PAGE_NX)) ==
          (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_DIRTY | _PAGE_NX));
    // The PUD, PMD and PTE tables under the new PGD: 3 pages of pgtables_bytes; the PGD counts
    // in nr_page_table_pages too. One data page and four table pages left the free lists.
    CHECK(p.t.mm->pgtables_bytes == 3 * PAGE_SIZE);
    CHECK(p.as.vmstat().nr_page_table_pages == 4);
    // Taken from the free lists: 3 tables and 1 page (the PGD was taken before free0), and
    // whatever slabs the new VMA, anon_vma and chain grew.
    CHECK(free0 - p.free_pages() - (slab_pages() - slab0) == 4);
    // The bytes are there, and the rest of the page reads zero.
    uint8_t v = 1;
    REQUIRE(p.read(a + 5, v).ok());
    CHECK(v == 0x5a);
    REQUIRE(p.read(a + 6, v).ok());
    CHECK(v == 0);
    CHECK(p.as.vmstat().pgfault == 1); // the TLB entry serves both
    // A read of the next page maps the zero page: no RSS, a special read-only PTE.
    REQUIRE(p.read(a + PAGE_SIZE, v).ok());
    CHECK(v == 0);
    CHECK(p.as.vmstat().pgfault == 2);
    CHECK(p.as.fault_counts().zero_page == 1);
    const pteval_t z = p.as.lookup_pte(p.t.mm, a + PAGE_SIZE);
    CHECK(pte_pfn(z) == p.as.zero_pfn());
    CHECK(pte_special(z));
    CHECK(!pte_write(z));
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 1);
    // Writing it: a write-protect fault, a new zeroed page (wp_page_copy), the zero page's
    // translation flushed first.
    const uint64_t flushes = p.as.fault_counts().tlb_flushes;
    REQUIRE(p.write(a + PAGE_SIZE + 7, 0x77).ok());
    CHECK(p.as.vmstat().pgfault == 3);
    CHECK(p.as.fault_counts().cow_copy == 1);
    CHECK(p.as.fault_counts().tlb_flushes == flushes + 1);
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 2);
    CHECK(pte_pfn(p.as.lookup_pte(p.t.mm, a + PAGE_SIZE)) != p.as.zero_pfn());
    REQUIRE(p.read(a + PAGE_SIZE + 7, v).ok());
    CHECK(v == 0x77);
    // The zero page itself is still all zeros.
    CHECK(p.b.m.ram().read_u64(pfn_phys(p.as.zero_pfn()) + 0) == 0);
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("address spaces: SIGSEGV for no mapping, a read-only mapping and a kernel address",
          "[process][fault]") {
    Proc p;
    const uint64_t ro = uint64_t(p.as.vm_mmap(p.t.mm, 0, PAGE_SIZE, PROT_READ, ANON, 0));
    uint8_t v = 0;
    SECTION("no VMA") {
        const MemoryAccess r = p.read(0x400000, v);
        CHECK(!r.ok());
        REQUIRE(p.t.segv);
        CHECK(p.t.segv->si_code == SEGV_MAPERR);
        CHECK(p.t.segv->addr == 0x400000);
    }
    SECTION("write to PROT_READ") {
        CHECK(p.read(ro, v).ok()); // reading is fine: the zero page
        const MemoryAccess r = p.write(ro, 1);
        CHECK(!r.ok());
        REQUIRE(p.t.segv);
        CHECK(p.t.segv->si_code == SEGV_ACCERR);
        CHECK((p.t.segv->error_code & (PFERR_W | PFERR_U | PFERR_P)) ==
              (PFERR_W | PFERR_U | PFERR_P));
    }
    SECTION("a kernel address from CPL 3") {
        // The direct map is present but supervisor-only: a protection fault (P=1, U=1).
        const MemoryAccess r = p.read(0xffff888000001000, v);
        CHECK(!r.ok());
        REQUIRE(p.t.segv);
        CHECK(p.t.segv->si_code == SEGV_MAPERR);
        CHECK((p.t.segv->error_code & (PFERR_U | PFERR_P)) == (PFERR_U | PFERR_P));
    }
    SECTION("an instruction fetch from a present no-exec page") {
        const uint64_t rw = uint64_t(p.as.vm_mmap(p.t.mm, 0, PAGE_SIZE, RW, ANON, 0));
        REQUIRE(p.write(rw, 0xc3).ok());
        const MemoryAccess r = p.b.m.cpu(0).read_linear(LinearAddr{rw}, &v, 1, AccessMode{3, false},
                                                        AccessType::fetch);
        CHECK(!r.ok());
        REQUIRE(p.t.segv);
        CHECK(p.t.segv->si_code == SEGV_ACCERR); // access_error(): read, present
        CHECK((p.t.segv->error_code & (PFERR_ID | PFERR_P)) == (PFERR_ID | PFERR_P));
    }
    SECTION("PROT_NONE") {
        const uint64_t none = uint64_t(p.as.vm_mmap(p.t.mm, 0, PAGE_SIZE, PROT_NONE, ANON, 0));
        CHECK(!p.read(none, v).ok());
        REQUIRE(p.t.segv);
        CHECK(p.t.segv->si_code == SEGV_ACCERR); // not present, VMA without access flags
    }
    CHECK(p.as.vmstat().pgfault <= 1); // refused faults are not handled faults
}

TEST_CASE("address spaces: munmap frees a PTE table but keeps the PMD table a neighbour uses",
          "[process][mmap]") {
    // A: 2 MiB at 0x40000000 (one whole PTE table); B: one page at 0x40400000, in the same
    // 1 GiB (same PMD table). Unmapping A: free_pgd_range(A, floor 0, ceiling B's start) frees
    // A's PTE table; the PMD table covers [0x40000000, 0x80000000), which reaches past the
    // ceiling, so it stays, and so does the PUD table.
    Proc p;
    const uint64_t A = 0x40000000, B = 0x40400000;
    REQUIRE(p.as.vm_mmap(p.t.mm, A, PMD_SIZE, RW, ANON | MAP_FIXED, 0) == int64_t(A));
    REQUIRE(p.as.vm_mmap(p.t.mm, B, PAGE_SIZE, PROT_READ, ANON | MAP_FIXED, 0) == int64_t(B));
    REQUIRE(p.write(A, 1).ok());
    uint8_t v = 0;
    REQUIRE(p.read(B, v).ok());
    // PUD + PMD + two PTE tables.
    CHECK(p.t.mm->pgtables_bytes == 4 * PAGE_SIZE);
    REQUIRE(p.as.vm_munmap(p.t.mm, A, PMD_SIZE, 0) == 0);
    CHECK(p.t.mm->pgtables_bytes == 3 * PAGE_SIZE);
    CHECK(pte_pfn(p.as.lookup_pte(p.t.mm, B)) == p.as.zero_pfn());
    CHECK(p.b.k.audit({}) == "");
    // Unmapping B too (floor and ceiling 0 now): everything below the PGD goes.
    REQUIRE(p.as.vm_munmap(p.t.mm, B, PAGE_SIZE, 0) == 0);
    CHECK(p.t.mm->pgtables_bytes == 0);
    CHECK(p.b.k.audit({}) == "");
    // The other way round: C (a page at 0x40000000) below D (2 MiB at 0x40200000). Unmapping D
    // has floor C's end; D's PTE table goes, the PMD table starts below the floor and stays.
    const uint64_t C = 0x40000000, D = 0x40200000;
    REQUIRE(p.as.vm_mmap(p.t.mm, C, PAGE_SIZE, PROT_READ, ANON | MAP_FIXED, 0) == int64_t(C));
    REQUIRE(p.as.vm_mmap(p.t.mm, D, PMD_SIZE, RW, ANON | MAP_FIXED, 0) == int64_t(D));
    REQUIRE(p.read(C, v).ok());
    REQUIRE(p.write(D, 1).ok());
    CHECK(p.t.mm->pgtables_bytes == 4 * PAGE_SIZE);
    REQUIRE(p.as.vm_munmap(p.t.mm, D, PMD_SIZE, 0) == 0);
    CHECK(p.t.mm->pgtables_bytes == 3 * PAGE_SIZE);
    CHECK(pte_pfn(p.as.lookup_pte(p.t.mm, C)) == p.as.zero_pfn());
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("address spaces: munmap in the middle splits the VMA and frees the pages",
          "[process][mmap]") {
    Proc p;
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 8 * PAGE_SIZE, RW, ANON, 0));
    for (uint64_t i = 0; i < 8; i++) REQUIRE(p.write(a + i * PAGE_SIZE, uint8_t(i + 1)).ok());
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 8);
    const uint64_t vma_objs = live_objects(p.b.k.slab.find_cache("vm_area_struct"));
    // Unmap pages 3 and 4: [a, a+3p) and [a+5p, a+8p) stay, as two VMAs.
    REQUIRE(p.as.vm_munmap(p.t.mm, a + 3 * PAGE_SIZE, 2 * PAGE_SIZE, 0) == 0);
    CHECK(p.t.mm->map_count == 2);
    CHECK(live_objects(p.b.k.slab.find_cache("vm_area_struct")) == vma_objs + 1);
    const auto vs = p.as.vmas(p.t.mm);
    REQUIRE(vs.size() == 2);
    CHECK(vs[0]->vm_start == a);
    CHECK(vs[0]->vm_end == a + 3 * PAGE_SIZE);
    CHECK(vs[1]->vm_start == a + 5 * PAGE_SIZE);
    CHECK(vs[1]->vm_pgoff == (a >> 12) + 5);
    CHECK(vs[0]->anon == vs[1]->anon); // the split shares the anon_vma
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 6);
    CHECK(p.t.mm->get_hiwater_rss() == 8);
    CHECK(p.t.mm->total_vm == 6);
    CHECK(p.as.lookup_pte(p.t.mm, a + 3 * PAGE_SIZE) == 0);
    uint8_t v = 0;
    REQUIRE(p.read(a + 5 * PAGE_SIZE, v).ok());
    CHECK(v == 6);
    CHECK(!p.read(a + 4 * PAGE_SIZE, v).ok());
    CHECK(p.b.k.audit({}) == "");
    // Unmapping everything frees every page table below the PGD (floor and ceiling 0).
    REQUIRE(p.as.vm_munmap(p.t.mm, a, 8 * PAGE_SIZE, 0) == 0);
    CHECK(p.t.mm->map_count == 0);
    CHECK(p.t.mm->pgtables_bytes == 0);
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 0);
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("address spaces: exit gives back every frame and every object", "[process][exit]") {
    Booted b{machine(Arch::x86_64, 1 * GiB)};
    AddressSpaces& as = b.k.spaces;
    const uint64_t free0 = b.k.buddy.nr_free_pages() + b.k.buddy.nr_pcp_pages();
    const char* caches[] = {"mm_struct", "vm_area_struct", "maple_node", "anon_vma",
                            "anon_vma_chain"};
    std::vector<uint64_t> objs0;
    for (const char* c : caches) objs0.push_back(live_objects(b.k.slab.find_cache(c)));
    const uint64_t slab_pages0 = b.k.slab.nr_slab_pages(false) + b.k.slab.nr_slab_pages(true);
    task_struct t;
    t.mm = as.mm_alloc(0);
    as.set_current(0, &t);
    // Thirty separate mappings (alternating protections so none merge) and a page written in
    // each writable one.
    for (int i = 0; i < 30; i++) {
        const int64_t a = as.vm_mmap(t.mm, 0, 3 * PAGE_SIZE, i % 2 ? PROT_READ : RW, ANON, 0);
        REQUIRE(a > 0);
        uint8_t v = 9;
        if (!(i % 2))
            REQUIRE(
                b.m.cpu(0).write_linear(LinearAddr{uint64_t(a)}, &v, 1, AccessMode{3, false}).ok());
    }
    CHECK(t.mm->map_count == 30);
    // 30 VMAs, all adjacent: 31 entries (leading NULL, no gaps between, trailing NULL) in one
    // tree; the tree's nodes are exactly the maple_node objects this mm holds.
    CHECK(live_objects(b.k.slab.find_cache("maple_node")) - objs0[2] == t.mm->mm_mt.nr_nodes());
    CHECK(t.mm->mm_mt.validate() == "");
    CHECK(b.k.audit({}) == "");
    as.set_current(0, nullptr);
    as.mmput(t.mm, 0);
    for (size_t i = 0; i < std::size(caches); i++) {
        INFO(caches[i]);
        CHECK(live_objects(b.k.slab.find_cache(caches[i])) == objs0[i]);
    }
    // The slab pages the new objects grew stay with their caches (as in the kernel, until a
    // shrink); with them counted, every page is back.
    const uint64_t slab_pages = b.k.slab.nr_slab_pages(false) + b.k.slab.nr_slab_pages(true);
    CHECK(b.k.buddy.nr_free_pages() + b.k.buddy.nr_pcp_pages() + (slab_pages - slab_pages0) ==
          free0);
    CHECK(as.vmstat().nr_anon_pages == 0);
    CHECK(as.vmstat().nr_page_table_pages == 0);
    CHECK(b.k.audit({}) == "");
}

namespace {
unsigned chains(const vm_area_struct* v) {
    unsigned n = 0;
    for (const anon_vma_chain* c = v->avc_list; c; c = c->same_vma_next) n++;
    return n;
}
const page& page_at(Proc& p, const mm_struct* mm, uint64_t la) {
    return p.b.k.buddy.mem_map()[pte_pfn(p.as.lookup_pte(mm, la))];
}
} // namespace

TEST_CASE("fork: copy on write worked by hand, both reuse branches", "[process][fork]") {
    Proc p;
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 4 * PAGE_SIZE, RW, ANON, 0));
    for (uint64_t i = 0; i < 4; i++) REQUIRE(p.write(a + i * PAGE_SIZE, uint8_t(i + 1)).ok());
    // A write to an exclusive page reuses it in place: write page 0 again after the TLB
    // dropped it: no fault at all (the PTE is writable). An exclusive page is reused only on a
    // write-protect fault, which comes after fork below.
    int err = 0;
    task_struct* c = p.as.do_fork(&p.t, "child", 0, err);
    REQUIRE(c);
    CHECK(err == 0);
    // The child: the same VMAs and counters, its own page tables and a context id of its own.
    CHECK(c->mm->map_count == p.t.mm->map_count);
    CHECK(c->mm->total_vm == p.t.mm->total_vm);
    CHECK(c->mm->get_mm_counter(MM_ANONPAGES) == 4);
    CHECK(c->mm->pgtables_bytes == 3 * PAGE_SIZE);
    CHECK(c->mm->context.ctx_id == p.t.mm->context.ctx_id + 1);
    // Each page: two PTEs, two references, no longer exclusive; both PTEs read-only, the
    // child's old (Accessed clear).
    for (uint64_t i = 0; i < 4; i++) {
        const uint64_t la = a + i * PAGE_SIZE;
        const page& pg = page_at(p, p.t.mm, la);
        CHECK(pg._mapcount == 2);
        CHECK(pg._refcount == 2);
        CHECK(!pg.test(PG_anon_exclusive));
        CHECK(!pte_write(p.as.lookup_pte(p.t.mm, la)));
        CHECK(!pte_write(p.as.lookup_pte(c->mm, la)));
        CHECK(!(p.as.lookup_pte(c->mm, la) & _PAGE_ACCESSED));
        CHECK(pte_pfn(p.as.lookup_pte(c->mm, la)) == pte_pfn(p.as.lookup_pte(p.t.mm, la)));
    }
    CHECK(p.as.vmstat().nr_anon_pages == 4);
    // anon_vma_fork: the child's VMA links to the parent's anon_vma and to a new one of its own
    // whose parent and root are the parent's.
    const vm_area_struct* pv = p.as.find_vma(p.t.mm, a);
    const vm_area_struct* cv = p.as.find_vma(c->mm, a);
    CHECK(chains(pv) == 1);
    CHECK(chains(cv) == 2);
    CHECK(cv->anon != pv->anon);
    CHECK(cv->anon->parent == pv->anon);
    CHECK(cv->anon->root == pv->anon);
    CHECK(pv->anon->num_children == 2); // itself and the child's
    // The child writes page 0: refcount 2, not exclusive: a copy for the child.
    const uint64_t copies = p.as.fault_counts().cow_copy;
    const uint64_t reuse = p.as.vmstat().pgreuse;
    p.as.set_current(0, c);
    uint8_t v = 9;
    REQUIRE(p.b.m.cpu(0).write_linear(LinearAddr{a}, &v, 1, AccessMode{3, false}).ok());
    CHECK(p.as.fault_counts().cow_copy == copies + 1);
    CHECK(c->min_flt == 1);
    CHECK(p.as.vmstat().nr_anon_pages == 5);
    CHECK(page_at(p, c->mm, a)._mapcount == 1);
    CHECK(page_at(p, c->mm, a).mapping == reinterpret_cast<uint64_t>(cv->anon));
    CHECK(page_at(p, p.t.mm, a)._refcount == 1);
    // The parent keeps its byte.
    p.as.set_current(0, &p.t);
    REQUIRE(p.read(a, v).ok());
    CHECK(v == 1);
    // The parent writes page 0: its page has refcount 1 now (the child's mapping is gone): it
    // is reused in place, no copy (pgreuse), and becomes exclusive again.
    REQUIRE(p.write(a, 7).ok());
    CHECK(p.as.fault_counts().cow_copy == copies + 1);
    CHECK(p.as.vmstat().pgreuse == reuse + 1);
    CHECK(page_at(p, p.t.mm, a).test(PG_anon_exclusive));
    CHECK(pte_write(p.as.lookup_pte(p.t.mm, a)));
    p.as.set_current(0, c);
    REQUIRE(p.b.m.cpu(0).read_linear(LinearAddr{a}, &v, 1, AccessMode{3, false}).ok());
    CHECK(v == 9);
    CHECK(p.b.k.audit({}) == "");
    // The child exits: the shared pages go back to one mapping each; nothing is lost.
    p.as.task_exit(c, "exit");
    CHECK(page_at(p, p.t.mm, a + PAGE_SIZE)._mapcount == 1);
    CHECK(pv->anon->num_children == 1);
    CHECK(p.as.vmstat().nr_anon_pages == 4);
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("fork: anon_vma chains over generations, and an anon_vma reused",
          "[process][fork][rmap]") {
    // P -> C -> G: each generation's VMA links to all of its ancestors' anon_vmas and gets one
    // of its own (seed 002). Then C exits, leaving its anon_vma with no VMA and one child (G's):
    // when G forks H, H's VMA takes C's anon_vma as its own instead of a new one.
    Proc p;
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 2 * PAGE_SIZE, RW, ANON, 0));
    REQUIRE(p.write(a, 1).ok());
    int err = 0;
    task_struct* c = p.as.do_fork(&p.t, "C", 0, err);
    task_struct* g = p.as.do_fork(c, "G", 0, err);
    REQUIRE(g);
    const vm_area_struct* pv = p.as.find_vma(p.t.mm, a);
    const vm_area_struct* cv = p.as.find_vma(c->mm, a);
    const vm_area_struct* gv = p.as.find_vma(g->mm, a);
    CHECK(chains(pv) == 1);
    CHECK(chains(cv) == 2);
    CHECK(chains(gv) == 3);
    CHECK(gv->anon->parent == cv->anon);
    CHECK(gv->anon->root == pv->anon);
    CHECK(cv->anon->num_children == 1); // G's (only a root counts its self-parent link)
    CHECK(pv->anon->refcount == 3);     // its own, and C's and G's references to their root
    // The page written before the forks: three PTEs.
    CHECK(page_at(p, p.t.mm, a)._mapcount == 3);
    anon_vma* c_av = cv->anon;
    p.as.task_exit(c, "exit");
    CHECK(c_av->num_active_vmas == 0);
    CHECK(c_av->num_children == 1);
    task_struct* h = p.as.do_fork(g, "H", 0, err);
    REQUIRE(h);
    const vm_area_struct* hv = p.as.find_vma(h->mm, a);
    CHECK(chains(hv) == 3);
    CHECK(hv->anon == c_av);
    CHECK(c_av->num_active_vmas == 1);
    CHECK(page_at(p, p.t.mm, a)._mapcount == 3);
    CHECK(p.b.k.audit({}) == "");
    for (task_struct* t : {h, g}) p.as.task_exit(t, "exit");
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("mprotect: a split in the middle, SIGSEGV on write, and the merge back",
          "[process][mprotect]") {
    Proc p;
    const uint64_t a = uint64_t(p.as.vm_mmap(p.t.mm, 0, 8 * PAGE_SIZE, RW, ANON, 0));
    for (uint64_t i = 0; i < 8; i++) REQUIRE(p.write(a + i * PAGE_SIZE, uint8_t(i + 1)).ok());
    CHECK(p.t.mm->data_vm == 8);
    // Pages 2 and 3 read-only: three VMAs (linux-process-facts.md: a middle change gives 3).
    REQUIRE(p.as.do_mprotect(p.t.mm, a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ, 0) == 0);
    auto vs = p.as.vmas(p.t.mm);
    REQUIRE(vs.size() == 3);
    CHECK(p.t.mm->map_count == 3);
    CHECK(vs[1]->vm_start == a + 2 * PAGE_SIZE);
    CHECK(vs[1]->vm_end == a + 4 * PAGE_SIZE);
    CHECK(!(vs[1]->vm_flags & VM_WRITE));
    CHECK(vs[1]->vm_pgoff == (a >> 12) + 2);
    CHECK(p.t.mm->data_vm == 6); // read-only private memory is not data
    CHECK(p.t.mm->total_vm == 8);
    CHECK(!pte_write(p.as.lookup_pte(p.t.mm, a + 2 * PAGE_SIZE)));
    CHECK(pte_write(p.as.lookup_pte(p.t.mm, a + 4 * PAGE_SIZE)));
    uint8_t v = 0;
    REQUIRE(p.read(a + 3 * PAGE_SIZE, v).ok());
    CHECK(v == 4);
    // Back to read-write: one VMA again (prev, the middle and next merge), and the exclusive
    // pages' PTEs are made writable at once: the write after it takes no fault.
    REQUIRE(p.as.do_mprotect(p.t.mm, a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, RW, 0) == 0);
    CHECK(p.as.vmas(p.t.mm).size() == 1);
    CHECK(p.t.mm->map_count == 1);
    CHECK(p.t.mm->data_vm == 8);
    CHECK(pte_write(p.as.lookup_pte(p.t.mm, a + 2 * PAGE_SIZE)));
    const uint64_t faults = p.as.vmstat().pgfault;
    REQUIRE(p.write(a + 2 * PAGE_SIZE, 9).ok());
    CHECK(p.as.vmstat().pgfault == faults);
    // The head read-only: two VMAs; then a write there is a SIGSEGV with SEGV_ACCERR.
    REQUIRE(p.as.do_mprotect(p.t.mm, a, 2 * PAGE_SIZE, PROT_READ, 0) == 0);
    CHECK(p.as.vmas(p.t.mm).size() == 2);
    CHECK(!p.write(a + 1, 1).ok());
    REQUIRE(p.t.segv);
    CHECK(p.t.segv->si_code == SEGV_ACCERR);
    // The AnonExclusive branch of do_wp_page: after PROT_NONE and back, the PTE is not made
    // writable (can_change_pte_writable refuses a protnone entry), so the next write faults and
    // reuses the exclusive page in place: pgreuse, no copy.
    const uint64_t x = a + 6 * PAGE_SIZE;
    REQUIRE(p.as.do_mprotect(p.t.mm, x, PAGE_SIZE, PROT_NONE, 0) == 0);
    CHECK(!(p.as.lookup_pte(p.t.mm, x) & _PAGE_PRESENT));
    REQUIRE(p.as.do_mprotect(p.t.mm, x, PAGE_SIZE, RW, 0) == 0);
    CHECK(!pte_write(p.as.lookup_pte(p.t.mm, x)));
    const uint64_t reuse = p.as.vmstat().pgreuse, copies = p.as.fault_counts().cow_copy;
    REQUIRE(p.write(x, 42).ok());
    CHECK(p.as.vmstat().pgreuse == reuse + 1);
    CHECK(p.as.fault_counts().cow_copy == copies);
    REQUIRE(p.read(x, v).ok());
    CHECK(v == 42);
    // Errors: unaligned start; a range with a hole (unmapped after the mapping).
    CHECK(p.as.do_mprotect(p.t.mm, a + 1, PAGE_SIZE, PROT_READ, 0) == -EINVAL);
    CHECK(p.as.do_mprotect(p.t.mm, a, 9 * PAGE_SIZE, PROT_READ, 0) == -ENOMEM);
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("brk: a heap VMA of its own above the bss, grown and shrunk", "[process][brk]") {
    Booted b{machine(Arch::x86_64, 1 * GiB)};
    AddressSpaces& as = b.k.spaces;
    task_struct* t = as.task_create("p", 0);
    REQUIRE(t);
    AddressSpaces::ExecLayout l;
    l.code = 4096;
    l.data = 4096;
    l.bss = 4096;
    REQUIRE(as.exec_layout(t, l, 1) == 0);
    as.set_current(0, t);
    mm_struct* mm = t->mm;
    // text [0x400000, 0x401000), data+bss [0x401000, 0x403000): the break starts at 0x403000.
    CHECK(mm->start_brk == 0x403000);
    CHECK(mm->brk == 0x403000);
    const uint64_t maps = mm->map_count;
    // brk(start + 10000): the heap is 3 pages, a VMA of its own though the data VMA touches it
    // with the same flags (sys_brk looks for the heap only at or above start_brk).
    CHECK(as.sys_brk(mm, 0x403000 + 10000, 0) == 0x403000 + 10000);
    CHECK(mm->map_count == maps + 1);
    const vm_area_struct* heap = as.find_vma(mm, 0x403000);
    REQUIRE(heap);
    CHECK(heap->vm_start == 0x403000);
    CHECK(heap->vm_end == 0x406000);
    CHECK(heap->vm_flags == (VM_DATA_FLAGS_NON_EXEC | VM_ACCOUNT));
    // Growing extends it; the bytes written stay.
    uint8_t v = 7;
    REQUIRE(b.m.cpu(0).write_linear(LinearAddr{0x405000}, &v, 1, AccessMode{3, false}).ok());
    CHECK(as.sys_brk(mm, 0x408000, 0) == 0x408000);
    CHECK(mm->map_count == maps + 1);
    CHECK(as.find_vma(mm, 0x403000)->vm_end == 0x408000);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 1 + 1 + 1 + 1); // text, data, stack top, heap page
    // Below start_brk is refused (the old break comes back); shrinking unmaps.
    CHECK(as.sys_brk(mm, 0x402000, 0) == 0x408000);
    CHECK(as.sys_brk(mm, 0x403000, 0) == 0x403000);
    CHECK(mm->map_count == maps);
    CHECK(mm->get_mm_counter(MM_ANONPAGES) == 3);
    CHECK(b.k.audit({}) == "");
    as.task_exit(t, "exit");
    CHECK(b.k.audit({}) == "");
}

TEST_CASE("madvise: DONTNEED zaps and frees the empty PTE table; DONTFORK and WIPEONFORK",
          "[process][madvise]") {
    Proc p;
    // 2 MiB at 0x40000000: one whole PTE table.
    const uint64_t a = 0x40000000;
    REQUIRE(p.as.vm_mmap(p.t.mm, a, PMD_SIZE, RW, ANON | MAP_FIXED, 0) == int64_t(a));
    for (uint64_t i = 0; i < 4; i++) REQUIRE(p.write(a + i * PAGE_SIZE, uint8_t(i + 1)).ok());
    CHECK(p.t.mm->pgtables_bytes == 3 * PAGE_SIZE);
    // DONTNEED of the first two pages: RSS drops by 2; the table still maps pages 2 and 3.
    REQUIRE(p.as.do_madvise(p.t.mm, a, 2 * PAGE_SIZE, MADV_DONTNEED, 0) == 0);
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 2);
    CHECK(p.t.mm->pgtables_bytes == 3 * PAGE_SIZE);
    CHECK(p.as.vmas(p.t.mm).size() == 1); // no VMA change
    // The next read maps the zero page (0, not the old byte), a write a fresh zeroed page.
    uint8_t v = 9;
    REQUIRE(p.read(a, v).ok());
    CHECK(v == 0);
    CHECK(pte_pfn(p.as.lookup_pte(p.t.mm, a)) == p.as.zero_pfn());
    // DONTNEED of the whole table: every entry none, so the PTE table itself goes (6.18's
    // PT_RECLAIM on x86_64); the PMD and PUD tables stay (the VMA is still there).
    REQUIRE(p.as.do_madvise(p.t.mm, a, PMD_SIZE, MADV_DONTNEED, 0) == 0);
    CHECK(p.t.mm->get_mm_counter(MM_ANONPAGES) == 0);
    CHECK(p.t.mm->pgtables_bytes == 2 * PAGE_SIZE);
    REQUIRE(p.read(a + 3 * PAGE_SIZE, v).ok());
    CHECK(v == 0);
    // DONTFORK on the upper half: two VMAs; a fork leaves the child without it.
    REQUIRE(p.as.do_madvise(p.t.mm, a + PMD_SIZE / 2, PMD_SIZE / 2, MADV_DONTFORK, 0) == 0);
    CHECK(p.as.vmas(p.t.mm).size() == 2);
    REQUIRE(p.write(a + PMD_SIZE / 2, 5).ok());
    REQUIRE(p.write(a, 6).ok());
    // WIPEONFORK on the lower half: the child gets it empty.
    REQUIRE(p.as.do_madvise(p.t.mm, a, PMD_SIZE / 2, MADV_WIPEONFORK, 0) == 0);
    int err = 0;
    task_struct* c = p.as.do_fork(&p.t, "c", 0, err);
    REQUIRE(c);
    CHECK(c->mm->map_count == p.t.mm->map_count - 1);
    CHECK(c->mm->total_vm == p.t.mm->total_vm - 256);
    const vm_area_struct* up = p.as.find_vma(c->mm, a + PMD_SIZE / 2);
    CHECK((!up || up->vm_start > a + PMD_SIZE / 2));
    CHECK(c->mm->get_mm_counter(MM_ANONPAGES) == 0); // wiped: no page copied
    p.as.set_current(0, c);
    REQUIRE(p.b.m.cpu(0).read_linear(LinearAddr{a}, &v, 1, AccessMode{3, false}).ok());
    CHECK(v == 0); // the parent wrote 6 there
    p.as.set_current(0, &p.t);
    REQUIRE(p.read(a, v).ok());
    CHECK(v == 6);
    // Errors: an unknown advice, an unaligned start, a hole.
    CHECK(p.as.do_madvise(p.t.mm, a, PAGE_SIZE, 1000, 0) == -EINVAL);
    CHECK(p.as.do_madvise(p.t.mm, a + 1, PAGE_SIZE, MADV_DONTNEED, 0) == -EINVAL);
    CHECK(p.as.do_madvise(p.t.mm, a, 2 * PMD_SIZE, MADV_WILLNEED, 0) == -ENOMEM);
    p.as.task_exit(c, "exit");
    CHECK(p.b.k.audit({}) == "");
}

TEST_CASE("stack growth: a fault under a VM_GROWSDOWN VMA extends it, within RLIMIT_STACK and "
          "the guard gap",
          "[process][stack]") {
    Proc p;
    const uint64_t top = 0x700000000000;
    const uint64_t g = top - 16 * PAGE_SIZE;
    REQUIRE(p.as.vm_mmap(p.t.mm, g, 16 * PAGE_SIZE, RW, ANON | MAP_FIXED | MAP_GROWSDOWN, 0) ==
            int64_t(g));
    CHECK(p.t.mm->stack_vm == 16); // VM_GROWSDOWN counts as stack
    // One byte under the VMA: it grows by that page (expand_downwards), pgoff follows.
    const uint64_t pgoff = p.as.vma_lookup(p.t.mm, g)->vm_pgoff;
    REQUIRE(p.write(g - 1, 1).ok());
    const vm_area_struct* v = p.as.vma_lookup(p.t.mm, g - 1);
    REQUIRE(v);
    CHECK(v->vm_start == g - PAGE_SIZE);
    CHECK(v->vm_end == top);
    CHECK(v->vm_pgoff == pgoff - 1);
    CHECK(p.t.mm->stack_vm == 17);
    CHECK(p.t.mm->total_vm == 17);
    CHECK(p.t.mm->map_count == 1);
    // Down to exactly RLIMIT_STACK (8 MiB from the top) is allowed; a byte further is not.
    REQUIRE(p.write(top - 8 * MiB, 2).ok());
    CHECK(p.as.vma_lookup(p.t.mm, top - 8 * MiB)->vm_start == top - 8 * MiB);
    CHECK(p.t.mm->stack_vm == 2048);
    CHECK(!p.write(top - 8 * MiB - 1, 3).ok());
    REQUIRE(p.t.segv);
    CHECK(p.t.segv->si_code == SEGV_MAPERR);
    p.t.segv.reset();
    // The guard gap: with an accessible VMA ending 512 KiB under a second stack, that stack
    // cannot grow into the gap (stack_guard_gap is 1 MiB).
    const uint64_t h = 0x600000000000;
    REQUIRE(p.as.vm_mmap(p.t.mm, h, PAGE_SIZE, RW, ANON | MAP_FIXED | MAP_GROWSDOWN, 0) ==
            int64_t(h));
    REQUIRE(p.as.vm_mmap(p.t.mm, h - MiB, MiB / 2, RW, ANON | MAP_FIXED, 0) == int64_t(h - MiB));
    CHECK(!p.write(h - PAGE_SIZE, 4).ok());
    REQUIRE(p.t.segv);
    CHECK(p.as.vma_lookup(p.t.mm, h)->vm_start == h);
    // A fault under a VMA that does not grow down is a plain SEGV_MAPERR.
    p.t.segv.reset();
    CHECK(!p.write(h - MiB - 1, 5).ok());
    REQUIRE(p.t.segv);
    CHECK(std::string(p.t.segv->reason) == "address below the VMA (bad_area)");
    CHECK(p.b.k.audit({}) == "");
}
