// A long seeded random run of processes (spawn, fork, clone_thread, exec, exit, wait, mmap,
// munmap, mprotect, mremap, madvise, mlock, reads and writes on two CPUs), with ksmd merging the
// many identical pages it makes (MADV_MERGEABLE and MADV_UNMERGEABLE, a batch every few steps,
// now and then run=2), against an independent shadow model of what each address space holds: every
// byte read must be the one the shadow predicts, the frame audit and the rmap/anon_vma checks must
// hold after every step, and when everything has exited, the pcp lists are drained and the caches
// shrunk, the free page count must be back at its boot value.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include "ksm/ksm.h"
#include "proc_fixture.h"

using namespace mmemu;
using namespace mmemu::test;

namespace {

constexpr uint64_t P = PAGE_SIZE;

// A shared anonymous mapping's object: its size and the byte at the start of each page written
// (absent: zero), seen by every mapping of it in every process.
struct SharedObj {
    uint64_t pages = 0;
    std::map<uint64_t, uint8_t> bytes; // page index -> byte
};

// The shadow of one address space: its mappings (start -> pages, writable), the byte at the
// start of each private page written (absent: zero), and which mappings are shared (start ->
// the object and the page of it the mapping starts at).
struct Shadow {
    std::map<uint64_t, std::pair<uint64_t, bool>> maps;
    std::map<uint64_t, uint8_t> bytes;
    std::map<uint64_t, std::pair<std::shared_ptr<SharedObj>, uint64_t>> shared;
    void erase_bytes(uint64_t a, uint64_t len) {
        bytes.erase(bytes.lower_bound(a), bytes.lower_bound(a + len));
    }
    // The byte a read of page a (of the mapping at start) must see, and where a write goes.
    uint8_t* shared_byte(uint64_t start, uint64_t a, bool create) {
        const auto it = shared.find(start);
        if (it == shared.end()) return nullptr;
        auto& [obj, off] = it->second;
        const uint64_t index = off + (a - start) / PAGE_SIZE;
        if (create) return &obj->bytes[index];
        const auto b = obj->bytes.find(index);
        static uint8_t zero;
        zero = 0;
        return b == obj->bytes.end() ? &zero : &b->second;
    }
};

struct Task {
    task_struct* t;
    std::shared_ptr<Shadow> sh; // threads share their process's
};

uint64_t free_after_drain(Booted& b) {
    b.k.buddy.drain_all_pages();
    for (const kmem_cache* c : b.k.slab.caches())
        b.k.slab.kmem_cache_shrink(b.k.slab.find_cache(c->name), 0);
    b.k.buddy.drain_all_pages();
    return b.k.buddy.nr_free_pages();
}

} // namespace

TEST_CASE("stress: a random process run matches its shadow, keeps every invariant, and gives "
          "every frame back",
          "[process][stress]") {
    // On every page-table format: 4-level, 5-level, 2-level i386 with 128 MiB of highmem (the
    // 3G split leaves 896 MiB of lowmem), and PAE.
    struct Format {
        Arch arch;
        uint64_t memory;
        bool la57;
    };
    const Format f =
        GENERATE(Format{Arch::x86_64, 512 * MiB, false}, Format{Arch::x86_64, 512 * MiB, true},
                 Format{Arch::i386, 1 * GiB, false}, Format{Arch::pae, 1 * GiB, false});
    MachineConfig mc = machine(f.arch, f.memory, 2);
    mc.la57 = f.la57;
    Booted b{mc};
    AddressSpaces& as = b.k.spaces;
    const uint64_t boot_free = free_after_drain(b);
    std::mt19937_64 rng(20261202);
    auto rnd = [&](uint64_t n) { return n ? rng() % n : 0; };
    std::vector<Task> tasks;
    int names = 0;
    // A fresh task name (built by appending: GCC 12 warns, wrongly, on "p" + std::string).
    auto fresh = [&](const char* prefix) {
        std::string n = prefix;
        n += std::to_string(names++);
        return n;
    };
    auto run_on = [&](const Task& k) { as.set_current(k.t->cpu, k.t); };
    auto access = [&](const Task& k, uint64_t a, bool write, uint8_t& v) {
        run_on(k);
        return write ? b.m.cpu(k.t->cpu).write_linear(LinearAddr{a}, &v, 1, AccessMode{3, false})
                     : b.m.cpu(k.t->cpu).read_linear(LinearAddr{a}, &v, 1, AccessMode{3, false});
    };
    auto pick_map = [&](Shadow& s) -> std::map<uint64_t, std::pair<uint64_t, bool>>::iterator {
        if (s.maps.empty()) return s.maps.end();
        auto it = s.maps.begin();
        std::advance(it, long(rnd(s.maps.size())));
        return it;
    };
    auto drop = [&] {
        tasks.erase(
            std::remove_if(tasks.begin(), tasks.end(), [&](const Task& k) { return k.t->exited; }),
            tasks.end());
    };
    uint64_t reads = 0, max_shmem = 0, merged_max = 0;
    Ksm& ksm = *b.sys->ksm();
    REQUIRE(ksm.set_run(1, 0) == 0);
    // Zero-filled pages (mlock's, MAP_POPULATE's) merge with the zero page on half the formats.
    ksm.knobs().use_zero_pages = f.la57 || f.arch == Arch::i386;
    std::shared_ptr<Shadow> last;
    for (int step = 0; step < 6000; step++) {
        const unsigned op = unsigned(rnd(100));
        if (tasks.empty() || op < 4) { // spawn
            task_struct* t = as.task_create(fresh("p"), unsigned(rnd(2)));
            REQUIRE(t);
            REQUIRE(as.exec_layout(t, {}, uint64_t(step)) == 0);
            tasks.push_back({t, std::make_shared<Shadow>()});
            continue;
        }
        // Mostly a task of the process the last step ran (often another of its threads, on the
        // other CPU: so a CPU may still cache what another just changed), else any task.
        std::vector<size_t> same;
        for (size_t i = 0; i < tasks.size(); i++)
            if (last && tasks[i].sh == last) same.push_back(i);
        const Task k = !same.empty() && rnd(10) < 8 ? tasks[same[size_t(rnd(same.size()))]]
                                                    : tasks[size_t(rnd(tasks.size()))];
        last = k.sh;
        Shadow& s = *k.sh;
        mm_struct* mm = k.t->mm;
        run_on(k);
        if (op < 20) { // mmap, private or (a quarter of them) shared
            const uint64_t pages = 1 + rnd(48);
            const bool rw = rnd(4) != 0;
            const bool shared = rnd(4) == 0;
            const int64_t a = as.vm_mmap(mm, 0, pages * P, rw ? RW : PROT_READ,
                                         shared ? MAP_SHARED | MAP_ANONYMOUS : ANON, k.t->cpu);
            REQUIRE(a > 0);
            // A merge with a neighbour mapping is fine: the shadow keeps its own pieces.
            s.maps[uint64_t(a)] = {pages, rw};
            s.shared.erase(uint64_t(a));
            if (shared) {
                auto obj = std::make_shared<SharedObj>();
                obj->pages = pages;
                s.shared[uint64_t(a)] = {obj, 0};
            }
        } else if (op < 45) { // write a few pages
            auto it = pick_map(s);
            if (it == s.maps.end() || !it->second.second) continue;
            for (int i = 0; i < 4; i++) {
                const uint64_t a = it->first + rnd(it->second.first) * P;
                uint8_t v = uint8_t(1 + rnd(255));
                REQUIRE(access(k, a, true, v).ok());
                if (uint8_t* sb = s.shared_byte(it->first, a, true))
                    *sb = v;
                else
                    s.bytes[a] = v;
            }
        } else if (op < 65) { // read a few pages and compare
            auto it = pick_map(s);
            if (it == s.maps.end()) continue;
            for (int i = 0; i < 4; i++) {
                const uint64_t a = it->first + rnd(it->second.first) * P;
                uint8_t v = 0xee;
                REQUIRE(access(k, a, false, v).ok());
                const auto e = s.bytes.find(a);
                INFO("step " << step << " read at " << std::hex << a);
                if (const uint8_t* sb = s.shared_byte(it->first, a, false))
                    REQUIRE(v == *sb);
                else
                    REQUIRE(v == (e == s.bytes.end() ? 0 : e->second));
                reads++;
            }
        } else if (op < 70) { // munmap a mapping's tail or all of it
            auto it = pick_map(s);
            if (it == s.maps.end()) continue;
            const uint64_t keep = rnd(it->second.first);
            const uint64_t a = it->first + keep * P, len = (it->second.first - keep) * P;
            REQUIRE(as.vm_munmap(mm, a, len, k.t->cpu) == 0);
            s.erase_bytes(a, len);
            if (keep) {
                it->second.first = keep;
            } else {
                s.shared.erase(it->first);
                s.maps.erase(it);
            }
        } else if (op < 74) { // mprotect read-only then back
            auto it = pick_map(s);
            if (it == s.maps.end()) continue;
            const bool rw = !it->second.second;
            REQUIRE(as.do_mprotect(mm, it->first, it->second.first * P, rw ? RW : PROT_READ,
                                   k.t->cpu) == 0);
            it->second.second = rw;
        } else if (op < 78) { // madvise DONTNEED (zeros), FREE (contents stay) or KSM's
            auto it = pick_map(s);
            if (it == s.maps.end()) continue;
            const int advice[] = {MADV_DONTNEED, MADV_FREE, MADV_MERGEABLE, MADV_MERGEABLE,
                                  MADV_UNMERGEABLE};
            const int adv = advice[rnd(5)];
            const bool dontneed = adv == MADV_DONTNEED;
            const int r = as.do_madvise(mm, it->first, it->second.first * P, adv, k.t->cpu);
            if (r == -EINVAL) continue; // locked, or MADV_FREE of shared memory
            if (r == -ENOMEM && adv == MADV_UNMERGEABLE) continue; // no memory for a copy
            REQUIRE(r == 0);
            // A shared mapping's pages stay in its object: only private memory reads zeros.
            if (dontneed && !s.shared.count(it->first))
                s.erase_bytes(it->first, it->second.first * P);
        } else if (op < 82) { // mremap: grow (maybe moving) or shrink
            auto it = pick_map(s);
            if (it == s.maps.end()) continue;
            const uint64_t old = it->second.first;
            uint64_t nw = 1 + rnd(64);
            // A shared mapping may not outgrow its object (a fault there would be SIGBUS).
            const auto sh = s.shared.find(it->first);
            if (sh != s.shared.end())
                nw = std::min(nw, sh->second.first->pages - sh->second.second);
            const int64_t r =
                as.do_mremap(mm, it->first, old * P, nw * P, MREMAP_MAYMOVE, 0, k.t->cpu);
            if (r == -EAGAIN || r == -ENOMEM) continue; // a locked grow over the limit
            REQUIRE(r > 0);
            std::map<uint64_t, uint8_t> moved;
            for (auto b2 = s.bytes.lower_bound(it->first);
                 b2 != s.bytes.end() && b2->first < it->first + old * P; ++b2)
                if (b2->first < it->first + nw * P)
                    moved[uint64_t(r) + (b2->first - it->first)] = b2->second;
            s.erase_bytes(it->first, old * P);
            const bool rw = it->second.second;
            std::optional<std::pair<std::shared_ptr<SharedObj>, uint64_t>> obj;
            if (sh != s.shared.end()) {
                obj = sh->second;
                s.shared.erase(sh);
            }
            s.maps.erase(it);
            s.maps[uint64_t(r)] = {nw, rw};
            if (obj) {
                s.shared[uint64_t(r)] = *obj;
            } else {
                for (const auto& [a, v] : moved) s.bytes[a] = v;
            }
        } else if (op < 85) { // mlock or munlock a mapping
            auto it = pick_map(s);
            if (it == s.maps.end()) continue;
            if (rnd(2))
                as.do_mlock(mm, it->first, it->second.first * P, false, k.t->cpu);
            else
                REQUIRE(as.do_munlock(mm, it->first, it->second.first * P, k.t->cpu) == 0);
        } else if (op < 89) { // fork
            int err = 0;
            task_struct* c = as.do_fork(k.t, fresh("p"), unsigned(rnd(2)), err);
            REQUIRE(c);
            tasks.push_back({c, std::make_shared<Shadow>(s)});
        } else if (op < 93) { // a thread
            int err = 0;
            task_struct* c = as.clone_thread(k.t, fresh("t"), unsigned(rnd(2)), err);
            REQUIRE(c);
            tasks.push_back({c, k.sh});
        } else if (op < 94) { // exec
            if (!k.t->is_leader()) continue;
            REQUIRE(as.do_execve(k.t, {}, uint64_t(step)) == 0);
            for (auto& o : tasks)
                if (o.t == k.t) o.sh = std::make_shared<Shadow>();
            drop();
        } else if (op < 97) { // exit (a process with its threads, or a thread)
            as.task_exit(k.t, "exit");
            drop();
        } else { // wait for any child
            if (!k.t->is_leader()) continue;
            const int r = as.do_wait(k.t, nullptr);
            REQUIRE((r == -ECHILD || r >= 0));
        }
        // ksmd: a batch every 5 steps; run=2 (everything unmerged) now and then.
        if (step % 5 == 0) ksm.ksm_do_scan(64, uint64_t(step), unsigned(step % 2));
        if (step % 1500 == 750) {
            REQUIRE(ksm.set_run(2, 0) == 0);
            REQUIRE(ksm.set_run(1, 0) == 0);
        }
        merged_max = std::max(merged_max, ksm.stats().pages_sharing);
        if (step % 25 == 0) REQUIRE(b.k.audit({}) == "");
        max_shmem = std::max(max_shmem, as.vmstat().nr_shmem.load());
    }
    CHECK(reads > 1000);
    CHECK(max_shmem > 50);  // shared memory was in use
    CHECK(merged_max > 20); // KSM merged pages along the way
    REQUIRE(b.k.audit({}) == "");
    while (!tasks.empty()) {
        as.task_exit(tasks.back().t->group_leader, "exit");
        drop();
    }
    for (const auto& t : as.tasks()) CHECK(t->exited);
    // ksmd frees the slots (and their items) of the mms that exited with items, then drops its
    // references to them.
    for (int i = 0; ksm.ksmd_should_run(); i++) {
        REQUIRE(i < 10000);
        ksm.ksm_do_scan(64, 0, 0);
    }
    CHECK(ksm.stats().ksm_rmap_items == 0);
    // Stable nodes whose pages went stay in the tree until a walk finds them stale, as in
    // Linux; run=2 removes every one (remove_all_stable_nodes).
    REQUIRE(ksm.set_run(2, 0) == 0);
    const KsmStats end = ksm.stats();
    CHECK(end.pages_shared + end.pages_sharing + end.pages_unshared == 0);
    CHECK(end.stable_node_chains + end.stable_node_dups == 0);
    CHECK(end.ksm_zero_pages == 0);
    // Zombies whose parents were the scenario are released; the others went with their
    // parents' exits.
    CHECK(as.mms().empty());
    CHECK(free_after_drain(b) == boot_free);
}
