// Tasks on CPUs: switch_mm() with per-CPU ASIDs (arch/x86/mm/tlb.c: choose_new_asid, six slots,
// kPCID = ASID + 1), TLB shootdowns between two CPUs running threads of one mm, exec replacing
// the mm and ending the threads, and zombies kept until wait. Expected values are worked out by
// hand from Linux 6.18's rules (../shared/reference/linux-process-facts.md sections 8 and 9).
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "proc_fixture.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {
constexpr uint64_t P = PAGE_SIZE;

MemoryAccess access(Booted& b, unsigned cpu, uint64_t la, bool write, uint8_t& v) {
    return write ? b.m.cpu(cpu).write_linear(LinearAddr{la}, &v, 1, AccessMode{3, false})
                 : b.m.cpu(cpu).read_linear(LinearAddr{la}, &v, 1, AccessMode{3, false});
}
} // namespace

TEST_CASE("switch_mm: an ASID kept without a flush, a stale one flushed, slots taken round-robin",
          "[process][tlb]") {
    Booted b{machine(Arch::x86_64, 1 * GiB)};
    AddressSpaces& as = b.k.spaces;
    std::vector<task_struct*> t;
    for (const char* n : {"A", "B", "C", "D", "E", "F", "G"}) t.push_back(as.task_create(n, 0));
    const cpu_tlbstate& s = as.tlbstate(0);
    const Mmu& mmu = b.m.mmu(0);
    CHECK((mmu.regs().cr4 & CR4_PCIDE));
    // A takes ASID slot 1 (next_asid starts at 1; slot 0 is init_mm's): a flushing switch, CR3
    // carries PCID 2.
    as.set_current(0, t[0]);
    CHECK(s.loaded_mm_asid == 1);
    CHECK(s.switch_flushes == 1);
    CHECK((mmu.regs().cr3 & CR3_PCID_MASK) == 2);
    const uint64_t a = uint64_t(as.vm_mmap(t[0]->mm, 0, 4 * P, RW, ANON, 0));
    uint8_t v = 7;
    REQUIRE(access(b, 0, a, true, v).ok());
    // B: slot 2. Back to A: its slot still holds A's context at A's tlb_gen, so CR3 is written
    // with the no-flush bit and A's translation is still in the TLB: no walk.
    as.set_current(0, t[1]);
    CHECK(s.loaded_mm_asid == 2);
    const uint64_t noflush = mmu.stats().flushes[size_t(FlushCause::mov_cr3_noflush)];
    as.set_current(0, t[0]);
    CHECK(s.loaded_mm_asid == 1);
    CHECK(s.switch_flushes == 2);
    CHECK(mmu.stats().flushes[size_t(FlushCause::mov_cr3_noflush)] == noflush + 1);
    const uint64_t walks = mmu.stats().walks;
    REQUIRE(access(b, 0, a, false, v).ok());
    CHECK(v == 7);
    CHECK(mmu.stats().walks == walks);
    CHECK(s.context_switches == 3);
    // A flush of A's mm while B runs: nothing to flush here (A is not loaded), but A's tlb_gen
    // moves past its slot's, so the switch back must flush.
    as.set_current(0, t[1]);
    REQUIRE(as.do_mprotect(t[0]->mm, a, P, PROT_READ, 0) == 0);
    as.set_current(0, t[0]);
    CHECK(s.loaded_mm_asid == 1);
    CHECK(s.switch_flushes == 3);
    // C, D, E take slots 3, 4, 5; F wraps to slot 0 (next_asid back to 1); G takes slot 1 from
    // A, so A, back again, finds no slot of its own and takes slot 2 (B's), with a flush.
    for (int i = 2; i <= 6; i++) as.set_current(0, t[size_t(i)]);
    CHECK(as.tlbstate(0).loaded_mm_asid == 1); // G
    const uint64_t flushes = s.switch_flushes;
    as.set_current(0, t[0]);
    CHECK(s.loaded_mm_asid == 2);
    CHECK(s.switch_flushes == flushes + 1);
    for (task_struct* x : t) as.task_exit(x, "exit");
    CHECK(s.loaded_mm == nullptr);
    CHECK(b.k.audit({}) == "");
}

TEST_CASE("threads on two CPUs: an munmap on one shoots the other's TLB down", "[process][tlb]") {
    Booted b{machine(Arch::x86_64, 1 * GiB, 2)};
    AddressSpaces& as = b.k.spaces;
    task_struct* p = as.task_create("p", 0);
    as.set_current(0, p);
    const uint64_t a = uint64_t(as.vm_mmap(p->mm, 0, 4 * P, RW, ANON, 0));
    uint8_t v = 5;
    for (uint64_t i = 0; i < 4; i++) REQUIRE(access(b, 0, a + i * P, true, v).ok());
    int err = 0;
    task_struct* th = as.clone_thread(p, "t", 1, err);
    REQUIRE(th);
    CHECK(p->mm->mm_users == 2);
    CHECK(th->tgid == p->pid);
    as.set_current(1, th);
    CHECK(p->mm->cpumask == 3);
    REQUIRE(access(b, 1, a, false, v).ok()); // CPU 1 caches the translation
    CHECK(v == 5);
    const uint64_t invlpg1 = b.m.mmu(1).stats().flushes[size_t(FlushCause::invlpg)];
    // CPU 0 unmaps the first page: CPU 1 runs the mm, so it gets an IPI and, being one flush
    // behind, drops just that page (INVLPG).
    REQUIRE(as.vm_munmap(p->mm, a, P, 0) == 0);
    CHECK(as.tlbstate(1).irq_tlb_count == 1);
    CHECK(as.tlbstate(0).ipis_sent == 1);
    CHECK(b.m.mmu(1).stats().flushes[size_t(FlushCause::invlpg)] == invlpg1 + 1);
    // So CPU 1 faults now: no VMA there any more, SIGSEGV for the thread.
    CHECK(!access(b, 1, a, false, v).ok());
    REQUIRE(th->segv);
    CHECK(th->segv->si_code == SEGV_MAPERR);
    // Unmapping the rest frees the PTE table: the flush carries freed_tables and still reaches
    // CPU 1.
    REQUIRE(as.vm_munmap(p->mm, a + P, 3 * P, 0) == 0);
    CHECK(as.tlbstate(1).irq_tlb_count == 2);
    // With CPU 1 on another process, a flush of p's mm leaves it alone (should_flush_tlb).
    task_struct* q = as.task_create("q", 1);
    as.set_current(1, q);
    const uint64_t c = uint64_t(as.vm_mmap(p->mm, 0, P, RW, ANON, 0));
    REQUIRE(access(b, 0, c, true, v).ok());
    REQUIRE(as.do_mprotect(p->mm, c, P, PROT_READ, 0) == 0);
    CHECK(as.tlbstate(1).irq_tlb_count == 2);
    // The group exits together.
    as.do_group_exit(th, "SIGSEGV");
    CHECK(p->exited);
    CHECK(th->exited);
    as.task_exit(q, "exit");
    CHECK(b.k.audit({}) == "");
}

TEST_CASE("lazy TLB: an idle CPU keeps the mm, flushes pass it by, freed tables move it off",
          "[process][tlb]") {
    Booted b{machine(Arch::x86_64, 1 * GiB, 2)};
    AddressSpaces& as = b.k.spaces;
    task_struct* p = as.task_create("p", 0);
    as.set_current(0, p);
    const uint64_t a = uint64_t(as.vm_mmap(p->mm, 0, 4 * P, RW, ANON, 0));
    uint8_t v = 5;
    REQUIRE(access(b, 0, a, true, v).ok());
    int err = 0;
    task_struct* t1 = as.clone_thread(p, "t1", 1, err);
    REQUIRE(t1);
    as.set_current(1, t1);
    REQUIRE(access(b, 1, a, false, v).ok());
    const cpu_tlbstate& s1 = as.tlbstate(1);
    const Mmu& mmu1 = b.m.mmu(1);
    // t1 exits: CPU 1 goes idle lazily, the mm still loaded, no CR3 write.
    const uint64_t cr3_writes = mmu1.stats().flushes[size_t(FlushCause::mov_cr3)] +
                                mmu1.stats().flushes[size_t(FlushCause::mov_cr3_noflush)];
    as.task_exit(t1, "exit");
    CHECK(s1.loaded_mm == p->mm);
    CHECK(s1.is_lazy);
    CHECK(mmu1.stats().flushes[size_t(FlushCause::mov_cr3)] +
              mmu1.stats().flushes[size_t(FlushCause::mov_cr3_noflush)] ==
          cr3_writes);
    // An mprotect on CPU 0 flushes the mm: the lazy CPU gets no IPI.
    const uint64_t ipis = s1.irq_tlb_count;
    REQUIRE(as.do_mprotect(p->mm, a, P, PROT_READ, 0) == 0);
    CHECK(s1.irq_tlb_count == ipis);
    // A new thread of the mm on CPU 1: prev == next, but the CPU missed a flush while lazy: its
    // ASID is flushed (one switch flush, CR3 written without the no-flush bit).
    const uint64_t flushes = s1.switch_flushes;
    task_struct* t2 = as.clone_thread(p, "t2", 1, err);
    REQUIRE(t2);
    as.set_current(1, t2);
    CHECK(!s1.is_lazy);
    CHECK(s1.switch_flushes == flushes + 1);
    // It goes idle again and comes back with nothing missed: no flush, no CR3 write at all.
    as.task_exit(t2, "exit");
    task_struct* t3 = as.clone_thread(p, "t3", 1, err);
    REQUIRE(t3);
    const uint64_t cr3_now = mmu1.stats().flushes[size_t(FlushCause::mov_cr3)] +
                             mmu1.stats().flushes[size_t(FlushCause::mov_cr3_noflush)];
    as.set_current(1, t3);
    CHECK(s1.switch_flushes == flushes + 1);
    CHECK(mmu1.stats().flushes[size_t(FlushCause::mov_cr3)] +
              mmu1.stats().flushes[size_t(FlushCause::mov_cr3_noflush)] ==
          cr3_now);
    // The process exits: exit_mmap()'s flush frees page tables, so it reaches the lazy CPU,
    // which switches to init_mm before the mm is freed.
    as.task_exit(t3, "exit");
    CHECK(s1.is_lazy);
    as.task_exit(p, "exit");
    CHECK(s1.loaded_mm == nullptr);
    CHECK(as.tlbstate(0).loaded_mm == nullptr);
    CHECK(b.k.audit({}) == "");
}

TEST_CASE("exec ends the threads and replaces the mm; a zombie keeps its task_struct until wait",
          "[process][exec]") {
    Booted b{machine(Arch::x86_64, 1 * GiB)};
    AddressSpaces& as = b.k.spaces;
    task_struct* p = as.task_create("p", 0);
    REQUIRE(as.exec_layout(p, {}, 1) == 0);
    int err = 0;
    task_struct* th = as.clone_thread(p, "t", 0, err);
    task_struct* c = as.do_fork(p, "c", 0, err);
    task_struct* d = as.do_fork(p, "d", 0, err);
    REQUIRE((th && c && d));
    const kmem_cache* tasks = b.k.slab.find_cache("task_struct");
    REQUIRE(tasks);
    const uint64_t live = live_objects(tasks);
    CHECK(live == 4);
    // c exits: its mm is gone at once, its task_struct stays (a zombie) until p waits.
    as.task_exit(c, "exit");
    CHECK(c->zombie);
    CHECK(c->mm == nullptr);
    CHECK(live_objects(tasks) == 4);
    CHECK(as.do_wait(p, d) == 0); // d still runs (WNOHANG)
    CHECK(as.do_wait(p, nullptr) == c->pid);
    CHECK(!c->zombie);
    CHECK(live_objects(tasks) == 3);
    CHECK(as.do_wait(p, c) == -ECHILD);
    // exec: the thread dies, a new mm replaces the old one (which goes: p held its last
    // user with the thread gone), and the new image is in place.
    const mm_struct* old = p->mm;
    const size_t mms = as.mms().size();
    AddressSpaces::ExecLayout l;
    l.code = 8 * P;
    REQUIRE(as.do_execve(p, l, 2) == 0);
    CHECK(th->exited);
    CHECK(th->exit_reason == "SIGKILL (exec)");
    CHECK(p->mm != old);
    CHECK(p->mm->mm_users == 1);
    CHECK(as.mms().size() == mms); // one mm in, one out
    const vm_area_struct* text = as.find_vma(p->mm, 0x400000);
    REQUIRE(text);
    CHECK(text->vm_start == 0x400000);
    CHECK(live_objects(tasks) == 2); // p and d
    // p exits first: d goes to the scenario, which reaps it as soon as it dies.
    as.task_exit(p, "exit");
    CHECK(d->real_parent == nullptr);
    as.task_exit(d, "exit");
    CHECK(!d->zombie);
    CHECK(live_objects(tasks) == 0);
    CHECK(b.k.audit({}) == "");
}

TEST_CASE("group exit: of two fatal signals for one process, the first wins, also when two CPUs "
          "race; a deferred exit ends every thread at the barrier",
          "[process][concurrent]") {
    // complete_signal() / prepare_signal(): once SIGNAL_GROUP_EXIT is set, a later fatal signal
    // for the process is not delivered. claim_group_exit() is that test-and-set, taken by
    // whichever CPU's thread gets there first.
    Booted b{machine(Arch::x86_64, 1 * GiB, 4)};
    AddressSpaces& as = b.k.spaces;
    task_struct* p = as.task_create("p", 0);
    as.set_current(0, p);
    int err = 0;
    std::vector<task_struct*> th;
    for (unsigned c = 1; c < 4; c++) th.push_back(as.clone_thread(p, "t", c, err));
    for (task_struct* t : th) REQUIRE(t);
    CHECK_FALSE(AddressSpaces::group_exiting(th[1]));
    CHECK(as.claim_group_exit(th[1], "SIGSEGV"));
    CHECK_FALSE(as.claim_group_exit(th[2], "SIGKILL (the OOM killer)"));
    CHECK(AddressSpaces::group_exiting(p));
    CHECK(AddressSpaces::group_exiting(th[2]));
    CHECK(p->group_exit_reason == "SIGSEGV");
    // The exit waits for the barrier: every task is still there until finish_group_exits().
    as.defer_group_exit(th[1]);
    CHECK(p->mm->mm_users == 4);
    as.finish_group_exits();
    CHECK(p->exited);
    for (task_struct* t : th) {
        CHECK(t->exited);
        CHECK(t->exit_reason == "SIGSEGV");
    }
    as.finish_group_exits(); // nothing left to do

    // Four host threads race to claim one process's exit, 200 times: exactly one wins each.
    for (int round = 0; round < 200; round++) {
        task_struct* q = as.task_create("q", 0);
        REQUIRE(q);
        std::atomic<int> wins{0}, ready{0};
        std::vector<std::thread> racers;
        for (int i = 0; i < 4; i++)
            racers.emplace_back([&] {
                ready++;
                while (ready < 4) {
                }
                if (as.claim_group_exit(q, "SIGSEGV")) wins++;
            });
        for (auto& r : racers) r.join();
        REQUIRE(wins == 1);
        as.do_group_exit(q, q->group_exit_reason);
    }
}
