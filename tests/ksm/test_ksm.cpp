// KSM's scan and merges, worked by hand from the kernel's rules (linux-mm-facts.md 1.2-1.10 and
// docs/dev/ksm-facts.md) and from what the kernel's selftests assert (ksm_tests.c's
// assert_ksm_pages_count, ksm_functional_tests.c): a process's identical pages, passes of ksmd,
// and the counters and page tables after each; the frame audit after every step.
#include <catch2/catch.hpp>

#include <set>

#include "ksm/ksm.h"
#include "mmcore/proc_fixture.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {

constexpr uint64_t P = PAGE_SIZE;

struct KsmProc : Proc {
    Ksm& ksm;
    uint64_t now_ms = 0;
    KsmProc() : Proc(), ksm(*b.sys->ksm()) {}
    // An anonymous private mapping of n pages, page i filled with content(i).
    uint64_t map(uint64_t n, const std::function<uint8_t(uint64_t)>& content) {
        const int64_t a = as.vm_mmap(t.mm, 0, n * P, RW, ANON, 0);
        REQUIRE(a > 0);
        for (uint64_t i = 0; i < n; i++)
            REQUIRE(b.m.cpu(0)
                        .fill_linear(LinearAddr{uint64_t(a) + i * P}, content(i), P,
                                     AccessMode{3, false})
                        .ok());
        return uint64_t(a);
    }
    void mergeable(uint64_t a, uint64_t n, int advice = MADV_MERGEABLE) {
        REQUIRE(as.do_madvise(t.mm, a, n * P, advice, 0) == 0);
    }
    // ksmd until `n` more full scans have finished (batches of pages_to_scan, 20 ms apart).
    void full_scans(uint64_t n) {
        const uint64_t target = ksm.seqnr() + n;
        for (int batches = 0; ksm.seqnr() < target; batches++) {
            REQUIRE(batches < 100000);
            ksm.ksm_do_scan(ksm.knobs().pages_to_scan, now_ms, 0);
            now_ms += ksm.knobs().sleep_millisecs;
        }
        REQUIRE(b.k.audit({}) == "");
    }
    Pfn pfn(uint64_t a) const {
        const pteval_t e = as.lookup_pte(t.mm, a);
        REQUIRE(pte_present(e));
        return pte_pfn(e);
    }
};

} // namespace

TEST_CASE("ksm: two identical pages merge on the second full scan", "[ksm]") {
    KsmProc k;
    const uint64_t a = k.map(2, [](uint64_t) { return uint8_t('A'); });
    k.mergeable(a, 2);
    CHECK(k.t.mm->mmf_vm_mergeable);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    // Pass 1: each page gets an item and its first checksum (oldchecksum was 0): volatile.
    k.full_scans(1);
    KsmStats s = k.ksm.stats();
    CHECK(s.ksm_rmap_items == 2);
    CHECK(s.pages_volatile == 2);
    CHECK(s.pages_shared + s.pages_sharing + s.pages_unshared == 0);
    CHECK(s.full_scans == 1);
    CHECK(k.pfn(a) != k.pfn(a + P));
    // Pass 2: A goes into the unstable tree, B finds it: B's frame becomes the KSM page and A's
    // PTE is pointed at it; A's frame is freed.
    const Pfn b_frame = k.pfn(a + P);
    const uint64_t free_before = k.free_pages();
    k.full_scans(1);
    s = k.ksm.stats();
    CHECK(s.pages_shared == 1);
    CHECK(s.pages_sharing == 1);
    CHECK(s.pages_unshared == 0);
    CHECK(s.pages_volatile == 0);
    CHECK(s.pages_scanned == 4);
    CHECK(k.t.mm->ksm_merging_pages == 2);
    CHECK(k.t.mm->ksm_rmap_items == 2);
    CHECK(k.pfn(a) == b_frame);
    CHECK(k.pfn(a + P) == b_frame);
    // A's frame is free; the first ksm_stable_node took the cache's first slab (one page for
    // 64-byte objects).
    const kmem_cache* nodes = k.b.k.slab.find_cache("ksm_stable_node");
    REQUIRE(nodes);
    CHECK(nodes->stats.grown == 1);
    CHECK(k.free_pages() == free_before + 1 - 1);
    const pteval_t e = k.as.lookup_pte(k.t.mm, a);
    CHECK_FALSE(pte_write(e));
    // general_profit: one page saved, two 64-byte items.
    CHECK(s.general_profit == int64_t(P) - 2 * 64);
    // Pass 3: both are KSM pages already counted: nothing changes but pages_scanned.
    k.full_scans(1);
    s = k.ksm.stats();
    CHECK(s.pages_shared == 1);
    CHECK(s.pages_sharing == 1);
    CHECK(s.pages_scanned == 6);

    // The KSM page is B's old frame, which B's PTE kept (write-protected): a write through B
    // copies too, and A keeps the KSM page's bytes.
    {
        KsmProc k2;
        const uint64_t a2 = k2.map(2, [](uint64_t) { return uint8_t('A'); });
        k2.mergeable(a2, 2);
        REQUIRE(k2.ksm.set_run(1, 0) == 0);
        k2.full_scans(2);
        REQUIRE(k2.write(a2 + P, 'y').ok());
        uint8_t w = 0;
        REQUIRE(k2.read(a2, w).ok());
        CHECK(w == 'A');
        CHECK(k2.as.vmstat().cow_ksm == 1);
    }
    // A write to A copies it (cow_ksm); the stable tree learns of it at ksmd's next visit.
    REQUIRE(k.write(a + 5, 'x').ok());
    CHECK(k.as.vmstat().cow_ksm == 1);
    CHECK(k.pfn(a) != b_frame);
    uint8_t v = 0;
    REQUIRE(k.read(a + 4, v).ok());
    CHECK(v == 'A'); // the copy has the KSM page's bytes
    REQUIRE(k.read(a + P + 5, v).ok());
    CHECK(v == 'A');                         // B is untouched
    CHECK(k.ksm.stats().pages_sharing == 1); // lazy: unchanged until ksmd's visit
    k.full_scans(1);
    s = k.ksm.stats();
    CHECK(s.pages_shared == 1); // B alone on the node
    CHECK(s.pages_sharing == 0);
    CHECK(s.pages_volatile == 1); // A's checksum changed
    CHECK(k.t.mm->ksm_merging_pages == 1);
}

TEST_CASE("ksm: a page rewritten in its own frame between two passes is volatile, whatever wrote "
          "it",
          "[ksm]") {
    // cmp_and_merge_page(): a checksum unlike the last one leaves the page volatile for a pass.
    // mmemu keeps the last checksum while the frame's write generation holds (host speed
    // only), so every writer of a frame's bytes must advance it: here the CPU's store and the
    // kernel's write through the physical address. A ('A') and B ('B'); pass 1 takes both
    // checksums; then A is rewritten to B's bytes. Pass 2: A's checksum changed, A volatile;
    // B unchanged goes into the unstable tree. Pass 3: A held still and finds B: they merge.
    // Had A's rewrite gone unseen, A would have entered the tree in pass 2 and B merged with it.
    for (const bool by_cpu : {true, false}) {
        CAPTURE(by_cpu);
        KsmProc k;
        const uint64_t a = k.map(2, [](uint64_t i) { return uint8_t('A' + i); });
        k.mergeable(a, 2);
        REQUIRE(k.ksm.set_run(1, 0) == 0);
        k.full_scans(1);
        const Pfn a_frame = k.pfn(a);
        if (by_cpu)
            REQUIRE(k.b.m.cpu(0).fill_linear(LinearAddr{a}, 'B', P, AccessMode{3, false}).ok());
        else
            k.b.m.ram().fill(pfn_phys(a_frame), 'B', P);
        REQUIRE(k.pfn(a) == a_frame); // the same frame, written in place
        k.full_scans(1);
        KsmStats s = k.ksm.stats();
        CHECK(s.pages_shared == 0);
        CHECK(s.pages_sharing == 0);
        CHECK(s.pages_unshared == 1);
        CHECK(s.pages_volatile == 1);
        k.full_scans(1);
        s = k.ksm.stats();
        CHECK(s.pages_shared == 1);
        CHECK(s.pages_sharing == 1);
        CHECK(k.pfn(a) == k.pfn(a + P));
    }
}

TEST_CASE("ksm: a page another task has locked is not merged in that pass (folio_trylock)",
          "[ksm][lockdep]") {
    KsmProc k;
    const uint64_t a = k.map(2, [](uint64_t) { return uint8_t('A'); });
    k.mergeable(a, 2);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.full_scans(1); // both volatile (first checksums)
    // Another task holds B's page lock (PG_locked set in its stead). Pass 2: A goes into the
    // unstable tree; B finds it, but try_to_merge_one_page() cannot take B's lock and gives up
    // for this pass (it never waits): A unshared, B's item in no tree (volatile).
    page& b_page = k.b.k.buddy.mem_map()[k.pfn(a + P)];
    b_page.set(PG_locked);
    k.full_scans(1);
    KsmStats s = k.ksm.stats();
    CHECK(s.pages_shared == 0);
    CHECK(s.pages_sharing == 0);
    CHECK(s.pages_unshared == 1);
    CHECK(s.pages_volatile == 1);
    CHECK(k.pfn(a) != k.pfn(a + P));
    // Unlocked: pass 3 forgets the unstable tree, A goes in again and B merges with it.
    b_page.clear(PG_locked);
    k.full_scans(1);
    s = k.ksm.stats();
    CHECK(s.pages_shared == 1);
    CHECK(s.pages_sharing == 1);
    CHECK(k.pfn(a) == k.pfn(a + P));
    CHECK_FALSE(k.b.k.buddy.mem_map()[k.pfn(a)].test(PG_locked));
}

TEST_CASE("ksm: an unstable-tree item's page is looked up again after its table went", "[ksm]") {
    // get_mergeable_page() finds a tree item's page through its VMA and page tables each time
    // (mmemu remembers where the PTE was only while no VMA changed and no table was freed).
    // Pass 2, one page a batch: A ('X') goes into the unstable tree; C ('Z') is compared with
    // it and goes in too. Then MADV_DONTNEED on A frees its page and its now empty PTE table
    // (try_to_free_pte); B, in another 2 MiB at the same PTE index, takes a new table (the
    // freed frame, the most recent on the pcp list) and a 'B' page; A gets a new table and an
    // 'X' page again. Y ('X') then finds A's new page equal: the two merge. Read through A's
    // old PTE address, the walk would find B's page instead and insert Y (pages_unshared 3).
    KsmProc k;
    constexpr uint64_t A = 0x10000000, B = 0x10400000, C = 0x18000000, Y = 0x20000000;
    for (const uint64_t a : {A, B, C, Y})
        REQUIRE(k.as.vm_mmap(k.t.mm, a, P, RW, ANON | MAP_FIXED, 0) == int64_t(a));
    for (const uint64_t a : {A, C, Y})
        REQUIRE(k.b.m.cpu(0)
                    .fill_linear(LinearAddr{a}, a == C ? 'Z' : 'X', P, AccessMode{3, false})
                    .ok());
    for (const uint64_t a : {A, C, Y}) k.mergeable(a, 1);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.full_scans(1); // all volatile
    k.ksm.ksm_do_scan(2, k.now_ms, 0);
    REQUIRE(k.ksm.stats().pages_unshared == 2); // A, then C (compared with A)
    const uint64_t tables = k.t.mm->pgtables_bytes;
    REQUIRE(k.as.do_madvise(k.t.mm, A, P, MADV_DONTNEED, 0) == 0);
    REQUIRE(k.t.mm->pgtables_bytes == tables - P); // A's PTE table went
    REQUIRE(k.write(B, 'B').ok());
    REQUIRE(k.b.m.cpu(0).fill_linear(LinearAddr{A}, 'X', P, AccessMode{3, false}).ok());
    k.ksm.ksm_do_scan(1, k.now_ms, 0); // Y
    const KsmStats s = k.ksm.stats();
    CHECK(s.pages_shared == 1);
    CHECK(s.pages_sharing == 1);
    CHECK(s.pages_unshared == 1);
    CHECK(k.pfn(A) == k.pfn(Y));
    REQUIRE(k.b.k.audit({}) == "");
}

TEST_CASE("ksm: an unstable-tree item whose VMA stopped being mergeable ends the search", "[ksm]") {
    // As above, without a table freed: A ('X') and C ('Z', compared with A) in the tree, then
    // MADV_UNMERGEABLE on A (vm_flags, under mmap_lock for writing). Y ('Y') compared with A:
    // get_mergeable_page() finds no mergeable VMA, and the search ends with Y inserted
    // nowhere (pages_unshared stays 2). Read through A's remembered PTE, Y would be compared
    // with 'X', then 'Z', and inserted (pages_unshared 3).
    KsmProc k;
    constexpr uint64_t A = 0x10000000, C = 0x18000000, Y = 0x20000000;
    for (const uint64_t a : {A, C, Y}) {
        REQUIRE(k.as.vm_mmap(k.t.mm, a, P, RW, ANON | MAP_FIXED, 0) == int64_t(a));
        const uint8_t v = a == A ? 'X' : a == C ? 'Z' : 'Y';
        REQUIRE(k.b.m.cpu(0).fill_linear(LinearAddr{a}, v, P, AccessMode{3, false}).ok());
        k.mergeable(a, 1);
    }
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.full_scans(1); // all volatile
    k.ksm.ksm_do_scan(2, k.now_ms, 0);
    REQUIRE(k.ksm.stats().pages_unshared == 2); // A, then C (compared with A)
    k.mergeable(A, 1, MADV_UNMERGEABLE);
    k.ksm.ksm_do_scan(1, k.now_ms, 0); // Y
    const KsmStats s = k.ksm.stats();
    CHECK(s.pages_unshared == 2);
    CHECK(s.pages_volatile == 1); // Y (rmap_items 3 - unshared 2)
    REQUIRE(k.b.k.audit({}) == "");
}

TEST_CASE("ksm: ksm_tests -M: ten identical pages give one shared and nine sharing", "[ksm]") {
    // ksm_tests.c check_ksm_merge: 10 pages of '*', run=1, two full scans;
    // assert_ksm_pages_count(10) with max_page_sharing 256: shared 1, sharing 9.
    KsmProc k;
    const uint64_t a = k.map(10, [](uint64_t) { return uint8_t('*'); });
    k.mergeable(a, 10);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.full_scans(2);
    const KsmStats s = k.ksm.stats();
    CHECK(s.pages_shared == 1);
    CHECK(s.pages_sharing == 9);
    CHECK(s.pages_unshared == 0);
    CHECK(s.stable_node_chains == 0);
    for (uint64_t i = 1; i < 10; i++) CHECK(k.pfn(a + i * P) == k.pfn(a));
    // run=2 unmerges every page (an unshare fault each: cow_ksm 10), frees every item and
    // node, and resets full_scans; the mm stays registered.
    REQUIRE(k.ksm.set_run(2, 0) == 0);
    const KsmStats z = k.ksm.stats();
    CHECK(z.pages_shared + z.pages_sharing + z.pages_unshared == 0);
    CHECK(z.ksm_rmap_items == 0);
    CHECK(z.full_scans == 0);
    CHECK(k.as.vmstat().cow_ksm == 10);
    CHECK(k.t.mm->mmf_vm_mergeable);
    for (uint64_t i = 1; i < 10; i++) CHECK(k.pfn(a + i * P) != k.pfn(a));
    REQUIRE(k.b.k.audit({}) == "");
    uint8_t v = 0;
    REQUIRE(k.read(a + 9 * P + 100, v).ok());
    CHECK(v == '*');
}

TEST_CASE("ksm: max_page_sharing 4 with 20 identical pages makes a chain of five dups",
          "[ksm][chains]") {
    // Pass 2 in address order: page 1 waits in the unstable tree, page 2 merges with it (node
    // A), pages 3 and 4 join A (4 items: full). Page 5 finds A full and waits in the unstable
    // tree; page 6 merges with it (B): same content as A, so a chain holds A and B. Pages 7 and 8
    // join B (the newest dup, at the chain's head), and so on: five KSM pages of four mappings.
    // ksm_tests.c's assert_ksm_pages_count(20) with max_page_sharing 4 (20 % 4 == 0): shared
    // 20 / 4 = 5, sharing 5 * 3 = 15.
    KsmProc k;
    k.ksm.knobs().max_page_sharing = 4;
    const uint64_t a = k.map(20, [](uint64_t) { return uint8_t(0x5a); });
    k.mergeable(a, 20);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.full_scans(2);
    KsmStats s = k.ksm.stats();
    CHECK(s.pages_shared == 5);
    CHECK(s.pages_sharing == 15);
    CHECK(s.pages_unshared == 0);
    CHECK(s.stable_node_chains == 1);
    CHECK(s.stable_node_dups == 5);
    for (uint64_t g = 0; g < 5; g++)
        for (uint64_t i = 1; i < 4; i++) CHECK(k.pfn(a + (4 * g + i) * P) == k.pfn(a + 4 * g * P));
    // 21 pages: the lone last one stays in the unstable tree (ksm_tests: 21 % 4 == 1, shared 5).
    const uint64_t extra = k.map(1, [](uint64_t) { return uint8_t(0x5a); });
    k.mergeable(extra, 1);
    k.full_scans(2);
    s = k.ksm.stats();
    CHECK(s.pages_shared == 5);
    CHECK(s.pages_sharing == 15);
    CHECK(s.pages_unshared == 1);
}

TEST_CASE("ksm: zero pages merge with each other, or with the zero page (use_zero_pages)",
          "[ksm][zero]") {
    SECTION("use_zero_pages 0: ksm_tests -Z -z 0 gives shared 1, sharing 9") {
        KsmProc k;
        const uint64_t a = k.map(10, [](uint64_t) { return uint8_t(0); });
        k.mergeable(a, 10);
        REQUIRE(k.ksm.set_run(1, 0) == 0);
        k.full_scans(2);
        CHECK(k.ksm.stats().pages_shared == 1);
        CHECK(k.ksm.stats().pages_sharing == 9);
        CHECK(k.ksm.stats().ksm_zero_pages == 0);
    }
    SECTION("use_zero_pages 1: ksm_tests -Z -z 1 gives shared 0, sharing 0; each page is a "
            "KSM zero page") {
        KsmProc k;
        k.ksm.knobs().use_zero_pages = true;
        const uint64_t a = k.map(10, [](uint64_t) { return uint8_t(0); });
        k.mergeable(a, 10);
        const int64_t rss = k.t.mm->rss_stat[MM_ANONPAGES];
        REQUIRE(k.ksm.set_run(1, 0) == 0);
        k.full_scans(2);
        KsmStats s = k.ksm.stats();
        CHECK(s.pages_shared == 0);
        CHECK(s.pages_sharing == 0);
        CHECK(s.ksm_zero_pages == 10);
        CHECK(k.t.mm->ksm_zero_pages == 10);
        CHECK(k.t.mm->rss_stat[MM_ANONPAGES] == rss - 10);
        CHECK(k.pfn(a) == k.as.zero_pfn());
        // The items stay (volatile) until the next pass frees them: no page to scan there.
        CHECK(s.ksm_rmap_items == 10);
        CHECK(s.pages_volatile == 10);
        k.full_scans(1);
        CHECK(k.ksm.stats().ksm_rmap_items == 0);
        // A write to one: a fresh page, no cow_ksm (a KSM zero page has no folio).
        REQUIRE(k.write(a + 3 * P, 1).ok());
        CHECK(k.as.vmstat().cow_ksm == 0);
        CHECK(k.ksm.stats().ksm_zero_pages == 9);
        CHECK(k.t.mm->ksm_zero_pages == 9);
        // test_unmerge_zero_pages: MADV_UNMERGEABLE of the first half breaks those at once.
        k.mergeable(a, 5, MADV_UNMERGEABLE);
        CHECK(k.ksm.stats().ksm_zero_pages == 5);
        CHECK(k.t.mm->ksm_zero_pages == 5);
        REQUIRE(k.b.k.audit({}) == "");
    }
}

TEST_CASE("ksm: a forked child's KSM pages join their nodes at ksmd's visit", "[ksm][fork]") {
    // ksm_functional_tests.c test_fork_ksm_merging_page_count: right after fork the child has
    // no merging pages of its own (ksm_fork resets them); its PTEs map the parent's KSM page,
    // and ksmd's visit of the child appends its items to the node (the forked-page path).
    Booted b(machine(Arch::x86_64, 1 * GiB));
    AddressSpaces& as = b.k.spaces;
    Ksm& ksm = *b.sys->ksm();
    task_struct* p = as.task_create("p", 0);
    REQUIRE(p);
    REQUIRE(as.exec_layout(p, {}, 1) == 0);
    as.set_current(0, p);
    const int64_t a = as.vm_mmap(p->mm, 0, 2 * P, RW, ANON, 0);
    REQUIRE(a > 0);
    REQUIRE(b.m.cpu(0).fill_linear(LinearAddr{uint64_t(a)}, 'C', 2 * P, AccessMode{3, false}).ok());
    REQUIRE(as.do_madvise(p->mm, uint64_t(a), 2 * P, MADV_MERGEABLE, 0) == 0);
    REQUIRE(ksm.set_run(1, 0) == 0);
    auto scans = [&](uint64_t n) {
        const uint64_t target = ksm.seqnr() + n;
        for (int i = 0; ksm.seqnr() < target; i++) {
            REQUIRE(i < 1000);
            ksm.ksm_do_scan(100, 0, 0);
        }
        REQUIRE(b.k.audit({}) == "");
    };
    scans(2);
    REQUIRE(ksm.stats().pages_shared == 1);
    REQUIRE(ksm.stats().pages_sharing == 1);
    int err = 0;
    task_struct* c = as.do_fork(p, "c", 0, err);
    REQUIRE(c);
    CHECK(c->mm->mmf_vm_mergeable);
    CHECK(c->mm->ksm_merging_pages == 0);
    CHECK(c->mm->ksm_rmap_items == 0);
    CHECK(pte_pfn(as.lookup_pte(c->mm, uint64_t(a))) == pte_pfn(as.lookup_pte(p->mm, uint64_t(a))));
    REQUIRE(b.k.audit({}) == ""); // rmap_walk_ksm finds the child's PTEs through the anon_vma
    // The child was registered behind the cursor (at the head: the list's tail), so the next
    // pass visits it: its two items join the node, over no limit (256).
    scans(1);
    CHECK(ksm.stats().pages_shared == 1);
    CHECK(ksm.stats().pages_sharing == 3);
    CHECK(c->mm->ksm_merging_pages == 2);
    // The parent exits: its slot had items, so ksmd frees them on its next visit.
    as.task_exit(p, "exit");
    scans(1);
    CHECK(ksm.stats().pages_shared == 1);
    CHECK(ksm.stats().pages_sharing == 1);
    CHECK(ksm.stats().ksm_rmap_items == 2);
    as.task_exit(c, "exit");
    scans(1);
    CHECK(ksm.stats().ksm_rmap_items == 0);
    CHECK(ksm.stats().pages_shared == 0);
    CHECK_FALSE(ksm.ksmd_should_run()); // every slot went
}

TEST_CASE("ksm: the zero page's checksum is xxh64's low half on x86_64, xxh32 on i386", "[ksm]") {
    // calc_checksum(ZERO_PAGE): xxhash() is xxh64 on a 64-bit kernel and xxh32 on a 32-bit
    // one, seed 0, over 4096 zero bytes (values from docs/dev/ksm-facts.md section 10, computed
    // with an independent xxhash and checked against published test vectors).
    Booted b64(machine(Arch::x86_64, 256 * MiB));
    CHECK(b64.sys->ksm()->zero_checksum() == 0x32d8bbdbu);
    Booted b32(machine(Arch::i386, 256 * MiB));
    CHECK(b32.sys->ksm()->zero_checksum() == 0x475546f5u);
    // The caches, with the kernel's object sizes (this machine's /sys/kernel/slab: 64, 64, 48;
    // i386 from the structs: 40, 32, 24).
    CHECK(b64.k.slab.find_cache("ksm_rmap_item")->object_size == 64);
    CHECK(b64.k.slab.find_cache("ksm_stable_node")->object_size == 64);
    CHECK(b64.k.slab.find_cache("ksm_mm_slot")->object_size == 48);
    CHECK(b32.k.slab.find_cache("ksm_rmap_item")->object_size == 40);
    CHECK(b32.k.slab.find_cache("ksm_stable_node")->object_size == 32);
    CHECK(b32.k.slab.find_cache("ksm_mm_slot")->object_size == 24);
}

TEST_CASE("ksm: smart_scan looks at a page that never merges less and less often",
          "[ksm][smart_scan]") {
    // should_skip_rmap_item(): age 0, 1, 2 are looked at; from age 3 each look allows
    // skip_age(age) skips (1 up to age 3, 2 up to 5, 4 up to 8, then 8). A unique page is looked
    // at in passes 1, 2, 3, 4, 6, 9, 14, 23 and 32, and skipped in the other 23 of 32 (ksm07:
    // more than half of the visits are skipped).
    KsmProc k;
    const uint64_t a = k.map(1, [](uint64_t) { return uint8_t(0x77); });
    k.mergeable(a, 1);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.full_scans(32);
    KsmStats s = k.ksm.stats();
    CHECK(s.pages_scanned == 9);
    CHECK(s.pages_skipped == 23);
    // Pass 32 looked at it: it waits in the unstable tree.
    CHECK(s.pages_unshared == 1);
    // Pass 33 skips it, which takes it out of the tree: volatile.
    k.full_scans(1);
    s = k.ksm.stats();
    CHECK(s.pages_skipped == 24);
    CHECK(s.pages_unshared == 0);
    CHECK(s.pages_volatile == 1);
    // smart_scan 0: every visit looks.
    k.ksm.knobs().smart_scan = false;
    k.full_scans(3);
    CHECK(k.ksm.stats().pages_scanned == 12);
}

namespace {

// A process of its own (task_create + exec_layout) with n pages of `byte` in a private mapping.
struct KsmTask {
    Booted b{machine(Arch::x86_64, 1 * GiB)};
    AddressSpaces& as = b.k.spaces;
    Ksm& ksm = *b.sys->ksm();
    task_struct* p = as.task_create("p", 0);
    KsmTask() {
        REQUIRE(p);
        REQUIRE(as.exec_layout(p, {}, 1) == 0);
        as.set_current(0, p);
    }
    uint64_t map(task_struct* t, uint64_t n, uint8_t byte) {
        as.set_current(0, t);
        const int64_t a = as.vm_mmap(t->mm, 0, n * P, RW, ANON, 0);
        REQUIRE(a > 0);
        REQUIRE(b.m.cpu(0)
                    .fill_linear(LinearAddr{uint64_t(a)}, byte, n * P, AccessMode{3, false})
                    .ok());
        return uint64_t(a);
    }
    void scans(uint64_t n) {
        const uint64_t target = ksm.seqnr() + n;
        for (int i = 0; ksm.seqnr() < target; i++) {
            REQUIRE(i < 1000);
            ksm.ksm_do_scan(100, 0, 0);
        }
        REQUIRE(b.k.audit({}) == "");
    }
    // range_maps_duplicates() of the selftests: two present pages with one frame.
    bool maps_duplicates(const mm_struct* mm, uint64_t a, uint64_t n) {
        std::set<uint64_t> seen;
        for (uint64_t i = 0; i < n; i++) {
            const pteval_t e = as.lookup_pte(mm, a + i * P);
            if (pte_present(e) && !seen.insert(pte_pfn(e).value).second) return true;
        }
        return false;
    }
};

} // namespace

TEST_CASE("ksm: prctl(PR_SET_MEMORY_MERGE) merges without madvise, through fork and exec",
          "[ksm][prctl]") {
    // ksm_functional_tests.c test_prctl, test_prctl_fork, test_prctl_fork_exec,
    // test_prctl_unmerge.
    KsmTask k;
    CHECK(k.ksm.prctl_get_memory_merge(k.p->mm) == 0);
    REQUIRE(k.ksm.prctl_set_memory_merge(k.p->mm, true, 0) == 0);
    CHECK(k.ksm.prctl_get_memory_merge(k.p->mm) == 1);
    CHECK(k.p->mm->mmf_vm_mergeable);
    const uint64_t a = k.map(k.p, 8, 0xcf); // mergeable from birth
    CHECK((k.as.vma_lookup(k.p->mm, a)->vm_flags & VM_MERGEABLE));
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.scans(2);
    CHECK(k.p->mm->ksm_merging_pages == 8);
    CHECK(k.maps_duplicates(k.p->mm, a, 8));
    // A child inherits MMF_VM_MERGE_ANY and merges a region it maps with no madvise.
    int err = 0;
    task_struct* c = k.as.do_fork(k.p, "c", 0, err);
    REQUIRE(c);
    CHECK(k.ksm.prctl_get_memory_merge(c->mm) == 1);
    CHECK(c->mm->ksm_merging_pages == 0);
    // ... also after exec: the new mm registers (ksm_execve) and its mappings are mergeable.
    REQUIRE(k.as.do_execve(c, {}, 2) == 0);
    CHECK(k.ksm.prctl_get_memory_merge(c->mm) == 1);
    CHECK(c->mm->mmf_vm_mergeable);
    const uint64_t ca = k.map(c, 4, 0x11);
    k.scans(2);
    CHECK(c->mm->ksm_merging_pages == 4);
    CHECK(k.maps_duplicates(c->mm, ca, 4));
    // test_prctl_unmerge: PR_SET_MEMORY_MERGE 0 unmerges every mergeable VMA.
    k.as.set_current(0, k.p);
    REQUIRE(k.ksm.prctl_set_memory_merge(k.p->mm, false, 0) == 0);
    CHECK(k.ksm.prctl_get_memory_merge(k.p->mm) == 0);
    CHECK_FALSE(k.maps_duplicates(k.p->mm, a, 8));
    CHECK_FALSE((k.as.vma_lookup(k.p->mm, a)->vm_flags & VM_MERGEABLE));
    REQUIRE(k.b.k.audit({}) == "");
}

TEST_CASE("ksm: max_page_sharing is refused below 2 and while KSM pages exist", "[ksm][knobs]") {
    // max_page_sharing_store(): < 2 EINVAL; a change with pages_shared != 0 EBUSY; the same
    // value is accepted as is; after run=2, the change goes through.
    KsmTask k;
    const uint64_t a = k.map(k.p, 4, 0x42);
    REQUIRE(k.as.do_madvise(k.p->mm, a, 4 * P, MADV_MERGEABLE, 0) == 0);
    CHECK(k.ksm.store_max_page_sharing(1, 0) == -EINVAL);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.scans(2);
    REQUIRE(k.ksm.stats().pages_shared == 1);
    CHECK(k.ksm.store_max_page_sharing(256, 0) == 0);
    CHECK(k.ksm.store_max_page_sharing(3, 0) == -EBUSY);
    CHECK(k.ksm.knobs().max_page_sharing == 256);
    REQUIRE(k.ksm.set_run(2, 0) == 0);
    CHECK(k.ksm.store_max_page_sharing(3, 0) == 0);
    CHECK(k.ksm.knobs().max_page_sharing == 3);
    // Writing 2 while run is 2 does nothing; 3 is EINVAL.
    CHECK(k.ksm.set_run(2, 0) == 0);
    CHECK(k.ksm.set_run(3, 0) == -EINVAL);
}

TEST_CASE("ksm: merge_across_nodes decides whether pages of two NUMA nodes merge", "[ksm][numa]") {
    // ksm_tests -N -m 1 / -m 0: one page of the same content on each node; merged across
    // nodes (shared 1, sharing 1) or, with a tree pair per node, each alone (0, 0).
    for (const bool across : {true, false}) {
        INFO("merge_across_nodes " << across);
        Booted b(machine(Arch::x86_64, 1 * GiB, 2, {{0, 512 * MiB}, {512 * MiB, 1 * GiB}}));
        AddressSpaces& as = b.k.spaces;
        Ksm& ksm = *b.sys->ksm();
        REQUIRE(ksm.store_merge_across_nodes(across, 0) == 0);
        std::vector<task_struct*> ts;
        std::vector<uint64_t> at;
        for (unsigned cpu = 0; cpu < 2; cpu++) {
            task_struct* t = as.task_create(cpu ? "q" : "p", cpu);
            REQUIRE(t);
            REQUIRE(as.exec_layout(t, {}, cpu) == 0);
            as.set_current(cpu, t);
            const int64_t a = as.vm_mmap(t->mm, 0, P, RW, ANON, cpu);
            REQUIRE(a > 0);
            REQUIRE(b.m.cpu(cpu)
                        .fill_linear(LinearAddr{uint64_t(a)}, 0x33, P, AccessMode{3, false})
                        .ok());
            REQUIRE(as.do_madvise(t->mm, uint64_t(a), P, MADV_MERGEABLE, cpu) == 0);
            ts.push_back(t);
            at.push_back(uint64_t(a));
        }
        const unsigned n0 = as.ksm_page_flags(pte_pfn(as.lookup_pte(ts[0]->mm, at[0]))).nid();
        const unsigned n1 = as.ksm_page_flags(pte_pfn(as.lookup_pte(ts[1]->mm, at[1]))).nid();
        REQUIRE(n0 != n1); // each CPU's process got a page of its own node
        REQUIRE(ksm.set_run(1, 0) == 0);
        const uint64_t target = ksm.seqnr() + 2;
        while (ksm.seqnr() < target) ksm.ksm_do_scan(100, 0, 0);
        REQUIRE(b.k.audit({}) == "");
        CHECK(ksm.stats().pages_shared == (across ? 1u : 0u));
        CHECK(ksm.stats().pages_sharing == (across ? 1u : 0u));
        CHECK(ksm.stats().pages_unshared == (across ? 0u : 2u));
        // The knob cannot change while KSM pages exist.
        if (across) CHECK(ksm.store_merge_across_nodes(0, 0) == -EBUSY);
    }
}

TEST_CASE("ksm: items outliving their VMAs hold their anon_vmas until ksmd or the teardown",
          "[ksm]") {
    // try_to_merge_with_ksm_page() takes a reference to the VMA's anon_vma for the item; after
    // a munmap the anon_vma lives on for the items (unlink_anon_vmas drops only the VMA's
    // reference), and goes when ksmd's next visit frees them. A machine torn down before that
    // visit gives the host memory back all the same (the sanitizer build checks for leaks).
    KsmProc k;
    const uint64_t a = k.map(2, [](uint64_t) { return uint8_t(9); });
    k.mergeable(a, 2);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.full_scans(2);
    REQUIRE(k.ksm.stats().pages_sharing == 1);
    const kmem_cache* avc = k.b.k.slab.find_cache("anon_vma");
    REQUIRE(avc);
    const uint64_t live_before = live_objects(avc);
    REQUIRE(k.as.vm_munmap(k.t.mm, a, 2 * P, 0) == 0);
    CHECK(live_objects(avc) == live_before); // kept for the items
    REQUIRE(k.b.k.audit({}) == "");
    // The KSM page went with its last mapping: the stable node is stale until a walk finds it.
    CHECK(k.ksm.stats().pages_shared == 1);
    k.full_scans(1);
    CHECK(k.ksm.stats().ksm_rmap_items == 0);
    CHECK(k.ksm.stats().pages_shared == 0); // the items went, and the node's count with them
    CHECK(live_objects(avc) == live_before - 1);
    // Merge again and tear the machine down with the items in place.
    const uint64_t b2 = k.map(2, [](uint64_t) { return uint8_t(9); });
    k.mergeable(b2, 2);
    k.full_scans(2);
    REQUIRE(k.as.vm_munmap(k.t.mm, b2, 2 * P, 0) == 0);
}

namespace {
// A clock the test sets: virtual time and ksmd's CPU time, as ksmd's would give them.
struct TestClock final : KsmClock {
    uint64_t now = 0, cpu = 0;
    uint64_t now_ns() const override { return now; }
    uint64_t ksmd_cputime_ns() const override { return cpu; }
};
} // namespace

// The scan-time advisor (docs/dev/ksm-facts.md 11c), worked by hand. Choosing scan-time sets
// pages_to_scan to advisor_min_pages_to_scan (500) and zeroes the context. Pass 1 takes 12.7 s
// with 1.5 s of ksmd CPU: scan_time 12, cpu% = 1500 * 100 / 12000 = 12, factor = 200 * 100 / 12
// = 1666, change = ewma(0, 100) = 30, pages = 500 * 100 / 1666 = 30, then 30 * 30 / 100 = 9;
// per-page cost 500 / 12 = 41: min(9, 41 * 70) = 9, max(9, 410) = 410. Pass 2 takes 100.4 s
// with 2 s more CPU: scan_time 100, cpu% = 2000 * 100 / 100000 = 2, factor 200, change =
// 100 * 100 / 12 = 833, ewma (70 * 30 + 30 * 833) / 100 = 270; pages = 410 * 100 / 200 = 205,
// then 205 * 270 / 100 = 553; cost 410 / 2 = 205: min(553, 14350) = 553, max(553, 2050) = 2050.
TEST_CASE("ksm: the scan-time advisor sets pages_to_scan after each pass", "[ksm]") {
    KsmProc k;
    const uint64_t a = k.map(4, [](uint64_t i) { return uint8_t(i + 1); });
    k.mergeable(a, 4);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    TestClock clock;
    k.ksm.set_clock(&clock);
    REQUIRE(k.ksm.store_knob(KsmKnob::advisor_mode, 1, 0) == 0);
    CHECK(k.ksm.knobs().pages_to_scan == 500);
    CHECK(k.ksm.store_knob(KsmKnob::pages_to_scan, 100, 0) == -EINVAL);
    k.ksm.ksm_do_scan(1, 0, 0); // the pass starts at 0
    clock.now = 12700000000;
    clock.cpu = 1500000000;
    k.ksm.ksm_do_scan(100, 0, 0);
    REQUIRE(k.ksm.seqnr() == 1);
    CHECK(k.ksm.knobs().pages_to_scan == 410);
    clock.now = 20000000000;
    k.ksm.ksm_do_scan(1, 0, 0);
    clock.now = 120400000000;
    clock.cpu = 3500000000;
    k.ksm.ksm_do_scan(100, 0, 0);
    REQUIRE(k.ksm.seqnr() == 2);
    CHECK(k.ksm.knobs().pages_to_scan == 2050);
    // Pass 3, 100.4 s with 20 s of CPU: cpu% 20, change = ewma(270, 100) = (18900 + 3000) / 100
    // = 219; pages = 2050 * 100 / 200 = 1025, then 1025 * 219 / 100 = 2244; cost 2050 / 20 =
    // 102: min(2244, 7140), max(2244, 1020), min(2244, 30000): 2244.
    clock.now = 130000000000;
    k.ksm.ksm_do_scan(1, 0, 0);
    clock.now = 230400000000;
    clock.cpu = 23500000000;
    k.ksm.ksm_do_scan(100, 0, 0);
    REQUIRE(k.ksm.seqnr() == 3);
    CHECK(k.ksm.knobs().pages_to_scan == 2244);
    // none puts 100 back; scan-time again starts from 500.
    REQUIRE(k.ksm.store_knob(KsmKnob::advisor_mode, 0, 0) == 0);
    CHECK(k.ksm.knobs().pages_to_scan == 100);
    REQUIRE(k.ksm.store_knob(KsmKnob::advisor_mode, 1, 0) == 0);
    CHECK(k.ksm.knobs().pages_to_scan == 500);
    CHECK(k.ksm.store_knob(KsmKnob::advisor_target_scan_time, 0, 0) == -EINVAL);
    k.ksm.set_clock(nullptr);
}

// A chain whose dups are all full sends a page of its content to the unstable tree; mmemu
// remembers such a walk until the stable tree changes (stable_node_dup's cache). Here a mapping
// of a full dup goes, ksmd takes its item out (the dup can take one more), and a new page of the
// same content must then join that dup, as the kernel's walk would find it: max_page_sharing 2,
// four 'A' pages in two full dups, 'B' unique (its searches walk the full chain).
TEST_CASE("ksm: a chain that was full takes a sharer again once a mapping goes", "[ksm]") {
    KsmProc k;
    REQUIRE(k.ksm.store_max_page_sharing(2, 0) == 0);
    k.ksm.knobs().smart_scan = false; // B stays in the unstable tree
    const uint64_t a = k.map(5, [](uint64_t i) { return uint8_t(i < 4 ? 'A' : 'B'); });
    k.mergeable(a, 5);
    REQUIRE(k.ksm.set_run(1, 0) == 0);
    k.full_scans(3);
    KsmStats s = k.ksm.stats();
    REQUIRE(s.stable_node_chains == 1);
    REQUIRE(s.stable_node_dups == 2);
    REQUIRE(s.pages_shared == 2);
    REQUIRE(s.pages_sharing == 2);
    REQUIRE(s.pages_unshared == 1); // B
    // Each dup holds two mappings: unmap one of each, so both dups can take one more.
    REQUIRE(k.as.vm_munmap(k.t.mm, a, P, 0) == 0);
    REQUIRE(k.as.vm_munmap(k.t.mm, a + 2 * P, P, 0) == 0);
    k.full_scans(1);
    s = k.ksm.stats();
    CHECK(s.pages_shared == 2);
    CHECK(s.pages_sharing == 0);
    // Two new 'A' pages: on their second visit each finds a dup with room (not the unstable
    // tree): every dup full again, nothing unshared but B.
    const uint64_t b = k.map(2, [](uint64_t) { return uint8_t('A'); });
    k.mergeable(b, 2);
    k.full_scans(3);
    s = k.ksm.stats();
    CHECK(s.pages_shared == 2);
    CHECK(s.pages_sharing == 2);
    CHECK(s.pages_unshared == 1);
    CHECK(s.stable_node_dups == 2);
}
