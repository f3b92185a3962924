// The OOM killer (mm/oom_kill.c, Linux 6.18): which process oom_badness() picks, what the
// victim loses at once, and how the page allocator's slow path retries around it. Expected
// values are worked out by hand from the kernel's formula:
//   points = RSS + swap entries + pgtables_bytes / 4096 + oom_score_adj * (totalpages / 1000).
#include <catch2/catch.hpp>

#include "mmcore/address_spaces.h"
#include "test_helpers.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {

constexpr int RW = PROT_READ | PROT_WRITE;
constexpr int POPULATED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;

// A process with `pages` anonymous pages faulted in by MAP_POPULATE: one VMA ending at
// mmap_base (0x7ffff7fff000), so its page tables are a PUD, a PMD and the PTE tables of the
// 2 MiB blocks the VMA touches (the PGD is not in pgtables_bytes): for up to 511 pages one PTE
// table, 3 pages in all, and points = pages + 3.
task_struct* process(AddressSpaces& as, const char* name, uint64_t pages, int adj = 0) {
    task_struct* t = as.task_create(name, 0);
    REQUIRE(t);
    t->oom_score_adj = adj;
    REQUIRE(as.vm_mmap(t->mm, 0, pages * PAGE_SIZE, RW, POPULATED, 0) > 0);
    REQUIRE(t->mm->get_mm_counter(MM_ANONPAGES) == pages);
    if (pages <= 511) REQUIRE(t->mm->pgtables_bytes == 3 * PAGE_SIZE);
    return t;
}

uint64_t free_pages(const Booted& b) {
    return b.k.buddy.nr_free_pages() + b.k.buddy.nr_pcp_pages();
}

} // namespace

TEST_CASE("OOM killer: badness, oom_score_adj, ties to the later task, and -1000 never",
          "[process][oom]") {
    Booted b{machine(Arch::x86_64, 1 * GiB)};
    AddressSpaces& as = b.k.spaces;
    const uint64_t totalpages = b.k.buddy.totalram_pages();
    task_struct* a = process(as, "a", 100);
    task_struct* bb = process(as, "b", 200);
    task_struct* c = process(as, "c", 50, 10);
    task_struct* d = process(as, "d", 200);
    task_struct* e = process(as, "e", 1000, -1000);
    CHECK(*as.oom_badness(a, totalpages) == 103);
    CHECK(*as.oom_badness(c, totalpages) == int64_t(53 + 10 * (totalpages / 1000)));
    CHECK(!as.oom_badness(e, totalpages)); // OOM_SCORE_ADJ_MIN
    // /proc/PID/oom_score: (1000 + points * 1000 / totalpages) * 2 / 3; 0 for -1000.
    CHECK(as.oom_score(*a) == (1000 + 103 * 1000 / totalpages) * 2 / 3);
    CHECK(as.oom_score(*e) == 0);

    // 1. c's oom_score_adj of 10 outweighs 200 resident pages: c dies. Not the allocating task
    // (none runs), so its 50 pages are freed at once; its page tables stay until it exits.
    const uint64_t before = free_pages(b);
    CHECK(as.out_of_memory(GFP_KERNEL, 0, 0, NODEMASK_ALL) == OomResult::killed);
    REQUIRE(as.oom_kills().size() == 1);
    CHECK(as.oom_kills()[0].comm == "c");
    CHECK(as.oom_kills()[0].points == int64_t(53 + 10 * (totalpages / 1000)));
    CHECK(as.oom_kills()[0].anon_rss == 50);
    CHECK(c->sigkill_pending);
    CHECK(c->oom_victim);
    CHECK(c->mm->mmf_oom_skip);
    CHECK(c->mm->get_mm_counter(MM_ANONPAGES) == 0);
    CHECK(c->mm->pgtables_bytes == 3 * PAGE_SIZE);
    CHECK(free_pages(b) == before + 50);
    CHECK(as.vmstat().oom_kill == 1);

    // 2. c, reaped, is passed over. b and d tie at 203: the later task in the process list wins
    // (only a lower score is skipped).
    CHECK(as.out_of_memory(GFP_KERNEL, 0, 0, NODEMASK_ALL) == OomResult::killed);
    CHECK(as.oom_kills()[1].comm == "d");
    CHECK(as.oom_kills()[1].points == 203);
    // 3. then b, 4. then a; e (-1000) never.
    CHECK(as.out_of_memory(GFP_KERNEL, 0, 0, NODEMASK_ALL) == OomResult::killed);
    CHECK(as.oom_kills()[2].comm == "b");
    CHECK(as.out_of_memory(GFP_KERNEL, 0, 0, NODEMASK_ALL) == OomResult::killed);
    CHECK(as.oom_kills()[3].comm == "a");
    CHECK(as.out_of_memory(GFP_KERNEL, 0, 0, NODEMASK_ALL) == OomResult::no_victim);
    CHECK(as.fault_counts().oom_no_victim == 1);
    CHECK(!e->sigkill_pending);
    // A GFP_NOFS allocation never kills.
    CHECK(as.out_of_memory(GFP_NOFS, 0, 0, NODEMASK_ALL) == OomResult::not_invoked);
    CHECK(as.oom_kills()[0].message() ==
          "Out of memory: Killed process 3 (c) total-vm:200kB, anon-rss:200kB, file-rss:0kB, "
          "shmem-rss:0kB, UID:1000 pgtables:12kB oom_score_adj:10");
    for (task_struct* t : {a, bb, c, d}) as.task_exit(t, "SIGKILL");
}

TEST_CASE("OOM killer: a kernel allocation that finds no memory kills the largest process and "
          "gets its page",
          "[process][oom]") {
    Booted b{machine(Arch::x86_64, 64 * MiB)};
    AddressSpaces& as = b.k.spaces;
    task_struct* small = process(as, "small", 100);
    task_struct* big = process(as, "big", 4000);
    // Take every page GFP_KERNEL can get without the OOM killer: GFP_NOFS stops at the min
    // watermark and kills nothing.
    std::vector<page*> held;
    while (page* p = b.k.buddy.alloc_pages(GFP_NOFS, 0, -1, 0)) held.push_back(p);
    CHECK(as.oom_kills().empty());
    CHECK(b.k.buddy.last_failure() == AllocFailure::oom);
    // GFP_KERNEL: the slow path's last resort kills big, whose 4000 pages come back, and the
    // allocation succeeds. big's 16000 KiB end at 0x7ffff7fff000 and start at 0x7ffff705f000:
    // 8 PTE tables (0x7ffff7000000 .. 0x7ffff7e00000) + PMD + PUD, so 4010 points.
    page* p = b.k.buddy.alloc_pages(GFP_KERNEL, 0, -1, 0);
    REQUIRE(p);
    REQUIRE(as.oom_kills().size() == 1);
    CHECK(as.oom_kills()[0].comm == "big");
    CHECK(as.oom_kills()[0].points == 4010);
    CHECK(as.oom_kills()[0].invoked_by.empty()); // no task was running on the CPU
    CHECK(big->sigkill_pending);
    CHECK(!small->sigkill_pending);
    held.push_back(p);
    for (page* q : held) b.k.buddy.free_pages(q, 0, 0);
    as.task_exit(big, "SIGKILL");
    as.task_exit(small, "exit");
}

TEST_CASE("OOM killer: the faulting task as the victim dips into the reserves, then dies",
          "[process][oom]") {
    Booted b{machine(Arch::x86_64, 64 * MiB)};
    AddressSpaces& as = b.k.spaces;
    task_struct* t = as.task_create("hog", 0);
    REQUIRE(t);
    as.set_current(0, t);
    // MAP_NORESERVE: more than RAM, which the overcommit heuristic would refuse otherwise.
    const int64_t a =
        as.vm_mmap(t->mm, 0, 128 * MiB, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, 0);
    REQUIRE(a > 0);
    uint64_t touched = 0;
    MemoryAccess last;
    for (uint64_t off = 0; off < 128 * MiB; off += PAGE_SIZE, touched++) {
        const uint8_t v = 1;
        last = b.m.cpu(0).write_linear(LinearAddr{uint64_t(a) + off}, &v, 1, AccessMode{3, false});
        if (!last.ok()) break;
    }
    // It is the only process: the OOM killer picks it while it allocates. It is not reaped (its
    // fault is using its pages); the retry with ALLOC_OOM may take pages below the min
    // watermark, and the access is never retried: SIGKILL is pending.
    REQUIRE(!last.ok());
    REQUIRE(as.oom_kills().size() == 1);
    CHECK(as.oom_kills()[0].comm == "hog");
    CHECK(as.oom_kills()[0].invoked_by == "hog");
    CHECK(t->sigkill_pending);
    CHECK(!t->mm->mmf_oom_skip);
    CHECK(t->mm->get_mm_counter(MM_ANONPAGES) == touched + 1);
    // The page of the killing fault came from the reserve: every zone the fault could use is
    // below its min watermark now, which no ordinary allocation can reach.
    for (const auto& z : b.k.buddy.nodes[0].node_zones)
        if (z.populated())
            CHECK(z.vm_stat[NR_FREE_PAGES] <=
                  int64_t(z._watermark[WMARK_MIN] + z.lowmem_reserve[3]));
    as.task_exit(t, "SIGKILL");
    CHECK(b.k.audit({}) == "");
}
