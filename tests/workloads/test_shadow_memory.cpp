// The run's invariant checker at the scenario level: its shadow memory predicts every byte a
// process reads (tests/mmcore/test_stress.cpp checks the kernel against its own shadow; this
// one checks the checker and the ops that feed it), the frames of every live address space at
// each checkpoint, and at the end of a run whose processes have all exited, that every frame
// came back.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <string>

#include "mmcore/bug.h"
#include "mmcore/kernel.h"
#include "workloads/driver.h"
#include "workloads/scenario.h"

#include "run_helpers.h"

using namespace mmemu;

namespace {

constexpr uint64_t KiB = 1024, PG = 4096;

// prefix + n (built by appending: GCC 12 warns, wrongly, on "r" + std::to_string(n)).
std::string named(const char* prefix, uint64_t n) {
    std::string s = prefix;
    s += std::to_string(n);
    return s;
}

std::unique_ptr<Driver> boot_scenario(const Scenario& sc, bool audit = true) {
    RunOptions opt;
    opt.audit = audit;
    return test::boot_driver(sc, opt);
}

Scenario compile(const std::string& text) {
    return test::compile_text("shadow.json", text);
}

// A random scenario of every process op the shadow models, valid by construction: the
// generator keeps the static view the compiler has (which processes are running, which regions
// each names and how long they are).
struct Generator {
    std::mt19937_64 rng;
    explicit Generator(uint64_t seed) : rng(seed) {}
    uint64_t rnd(uint64_t n) { return n ? rng() % n : 0; }

    struct Region {
        uint64_t len = 0;
        bool shared = false, writable = true;
    };
    std::map<std::string, std::map<std::string, Region>> regions; // by process (thread owner)
    std::map<std::string, std::string> owner;                     // every running task -> process
    ojson events = ojson::array();
    int names = 0;

    std::string fresh(const char* p) { return named(p, uint64_t(names++)); }
    std::vector<std::string> running(bool processes_only = false) const {
        std::vector<std::string> v;
        for (const auto& [t, o] : owner)
            if (!processes_only || t == o) v.push_back(t);
        return v;
    }
    void image(const std::string& p) {
        regions[p] = {{"code", {8 * KiB, false, false}},
                      {"data", {24 * KiB, false, true}},
                      {"stack", {64 * KiB, false, true}}};
    }
    void add(ojson e) { events.push_back(std::move(e)); }

    // A sub-range of a region: offset and length, page aligned or not.
    std::pair<uint64_t, uint64_t> range(const Region& r, bool aligned) {
        const uint64_t pages = r.len / PG;
        const uint64_t first = rnd(pages), n = 1 + rnd(std::min<uint64_t>(pages - first, 8));
        if (aligned) return {first * PG, n * PG};
        const uint64_t off = first * PG + rnd(PG);
        return {off, 1 + rnd(first * PG + n * PG - off)};
    }

    void step() {
        const auto procs = running(true);
        const unsigned op = unsigned(rnd(100));
        if (procs.empty() || (op < 4 && procs.size() < 6)) {
            const std::string p = fresh("p");
            add({{"op", "spawn"},
                 {"process", p},
                 {"cpu", rnd(2)},
                 {"code", "8KiB"},
                 {"data", "16KiB"},
                 {"bss", "8KiB"},
                 {"stack", "64KiB"}});
            owner[p] = p;
            image(p);
            return;
        }
        const auto tasks = running();
        const std::string t = tasks[rnd(tasks.size())];
        const std::string p = owner[t];
        auto& regs = regions[p];
        auto pick = [&]() -> std::pair<const std::string, Region>* {
            if (regs.empty()) return nullptr;
            auto it = regs.begin();
            std::advance(it, long(rnd(regs.size())));
            return &*it;
        };
        if (op < 14) { // mmap, a quarter of them shared
            const std::string r = named("r", rnd(6));
            const bool shared = rnd(4) == 0;
            const uint64_t len = (1 + rnd(32)) * PG;
            add({{"op", "mmap"},
                 {"process", t},
                 {"region", r},
                 {"length", len},
                 {"flags", shared ? "MAP_SHARED|MAP_ANONYMOUS" : "MAP_PRIVATE|MAP_ANONYMOUS"}});
            regs[r] = {len, shared, true};
        } else if (op < 40) { // write, fill or copy
            auto* r = pick();
            if (!r || !r->second.writable) return;
            auto [off, len] = range(r->second, rnd(2));
            const unsigned how = unsigned(rnd(4));
            ojson e{{"op", how == 3   ? "copy"
                           : how == 2 ? "fill"
                                      : "write"},
                    {"process", t},
                    {"region", r->first},
                    {"offset", off},
                    {"length", len}};
            if (how == 0) e["seed"] = rnd(1000);
            if (how == 1) e["key"] = named("k", rnd(3));
            if (how == 2) e["byte"] = rnd(256);
            if (how == 3) {
                auto* from = pick();
                if (!from) return;
                auto [foff, flen] = range(from->second, rnd(2));
                e["length"] = std::min(len, flen);
                e["from"] = from->first;
                e["from_offset"] = foff;
            }
            add(e);
        } else if (op < 58) { // read (the shadow checks it)
            auto* r = pick();
            if (!r) return;
            auto [off, len] = range(r->second, rnd(2));
            add({{"op", "read"},
                 {"process", t},
                 {"region", r->first},
                 {"offset", off},
                 {"length", len}});
        } else if (op < 62) { // touch, under the stack too
            if (rnd(2)) {
                add({{"op", "touch"},
                     {"process", t},
                     {"region", "stack"},
                     {"below", (1 + rnd(8)) * PG},
                     {"length", PG},
                     {"byte", rnd(256)}});
            } else if (auto* r = pick()) {
                add({{"op", "touch"},
                     {"process", t},
                     {"region", r->first},
                     {"write", r->second.writable && rnd(2)}});
            }
        } else if (op < 66) { // munmap a tail or all
            auto* r = pick();
            if (!r || r->first == "code" || r->first == "stack") return;
            const uint64_t keep = rnd(r->second.len / PG);
            add({{"op", "munmap"}, {"process", t}, {"region", r->first}, {"offset", keep * PG}});
            if (keep)
                r->second.len = keep * PG;
            else
                regs.erase(r->first);
        } else if (op < 74) { // madvise
            auto* r = pick();
            if (!r) return;
            static const char* advice[] = {"MADV_DONTNEED", "MADV_FREE",       "MADV_DONTFORK",
                                           "MADV_DOFORK",   "MADV_WIPEONFORK", "MADV_KEEPONFORK",
                                           "MADV_WILLNEED"};
            auto [off, len] = range(r->second, true);
            add({{"op", "madvise"},
                 {"process", t},
                 {"region", r->first},
                 {"offset", off},
                 {"length", len},
                 {"advice", advice[rnd(7)]}});
        } else if (op < 78) { // mprotect read-only and back
            auto* r = pick();
            if (!r || r->first == "code") return;
            r->second.writable = !r->second.writable;
            add({{"op", "mprotect"},
                 {"process", t},
                 {"region", r->first},
                 {"prot", r->second.writable ? "PROT_READ|PROT_WRITE" : "PROT_READ"}});
        } else if (op < 84) { // mremap: grow (may move), shrink, move and keep the old
            auto* r = pick();
            if (!r || r->first == "code" || r->first == "stack" || r->first == "data") return;
            const unsigned how = unsigned(rnd(3));
            if (how == 2 && !r->second.shared) {
                const std::string to = named("r", rnd(6));
                if (to == r->first) return;
                add({{"op", "mremap"},
                     {"process", t},
                     {"region", r->first},
                     {"new_length", r->second.len},
                     {"new_region", to},
                     {"flags", "MREMAP_MAYMOVE|MREMAP_DONTUNMAP"}});
                regs[to] = r->second;
                return;
            }
            uint64_t len = (1 + rnd(40)) * PG;
            if (r->second.shared) len = std::min(len, r->second.len); // within the object
            add({{"op", "mremap"},
                 {"process", t},
                 {"region", r->first},
                 {"new_length", len},
                 {"flags", how == 0 ? "0" : "MREMAP_MAYMOVE"}});
            r->second.len = len; // if it fails, accesses past the old end are SIGSEGV
        } else if (op < 87) {    // brk
            const uint64_t size = rnd(24) * PG;
            add({{"op", "brk"}, {"process", t}, {"size", size}});
            if (size)
                regs["brk"] = {size, false, true};
            else
                regs.erase("brk");
        } else if (op < 89) { // mlock / munlock
            auto* r = pick();
            if (!r) return;
            add({{"op", rnd(2) ? "mlock" : "munlock"}, {"process", t}, {"region", r->first}});
        } else if (op < 93) { // fork
            const std::string c = fresh("p");
            add({{"op", "fork"}, {"process", t}, {"child", c}, {"cpu", rnd(2)}});
            owner[c] = c;
            regions[c] = regs;
        } else if (op < 95) { // a thread
            const std::string c = fresh("t");
            add({{"op", "clone_thread"}, {"process", t}, {"thread", c}});
            owner[c] = p;
        } else if (op < 96) { // exec (from the process)
            add({{"op", "exec"},
                 {"process", p},
                 {"code", "8KiB"},
                 {"data", "16KiB"},
                 {"bss", "8KiB"},
                 {"stack", "64KiB"}});
            for (auto it = owner.begin(); it != owner.end();)
                it = it->second == p && it->first != p ? owner.erase(it) : std::next(it);
            image(p);
        } else if (op < 98) { // exit
            add({{"op", "exit"}, {"process", t}});
            if (t == p) {
                for (auto it = owner.begin(); it != owner.end();)
                    it = it->second == p ? owner.erase(it) : std::next(it);
                regions.erase(p);
            } else {
                owner.erase(t);
            }
        } else {
            add({{"op", "checkpoint"}, {"name", fresh("c")}});
        }
    }
    // Every process exits at the end, so the run checks that every frame came back.
    std::string scenario(const std::string& machine, int n) {
        for (int i = 0; i < n; i++) step();
        for (const auto& p : running(true)) add({{"op", "exit"}, {"process", p}});
        ojson doc{{"mmemu_scenario", 1},
                  {"name", "shadow"},
                  {"machine", ojson::parse(machine)},
                  {"events", events}};
        return doc.dump();
    }
};

} // namespace

TEST_CASE("shadow memory: random scenarios of every process op pass the checker",
          "[workloads][shadow]") {
    const char* machine = GENERATE(R"({"arch": "x86_64", "memory": "512MiB", "cpus": 2})",
                                   R"({"arch": "x86_64", "memory": "512MiB", "cpus": 2,
                                       "la57": true})",
                                   R"({"arch": "i386", "memory": "1GiB", "cpus": 2})",
                                   R"({"arch": "pae", "memory": "1GiB", "cpus": 2})");
    uint64_t checked = 0, frames = 0, reads = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        Generator g(seed * 7919);
        const std::string text = g.scenario(machine, 500);
        INFO("seed " << seed << ": " << text);
        const Scenario sc = compile(text);
        auto d = boot_scenario(sc);
        REQUIRE_NOTHROW(d->run());
        REQUIRE_FALSE(d->results().kernel_bug);
        // The end-of-run check ran: the final state was taken before it drained the machine.
        CHECK(d->results().final_state);
        checked += d->shadow().bytes_checked();
        frames += d->shadow().frames_checked();
        for (const auto& e : g.events) reads += e["op"] == "read";
    }
    INFO(checked << " bytes of " << reads << " reads, " << frames << " frames");
    CHECK(checked > 100000);
    CHECK(frames > 300);
}

namespace {

// p maps two pages of a region, writes them and shares one page with a forked child; the test
// then changes a frame behind the kernel's back.
const char* TWO_PAGES = R"({"mmemu_scenario": 1, "machine": {"memory": "256MiB"}, "events": [
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "a", "length": "8KiB"},
    {"op": "write", "process": "p", "region": "a", "seed": 5},
    {"op": "checkpoint", "name": "written"},
    {"op": "checkpoint", "name": "next"},
    {"op": "read", "process": "p", "region": "a"},
    {"op": "exit", "process": "p"}
]})";

// Flips a bit of the frame mapping p's region `a` + offset.
void corrupt(Driver& d, uint64_t offset) {
    Kernel& k = d.system().kernel();
    const mm_struct* mm = nullptr;
    for (const auto& t : k.spaces.tasks())
        if (t->comm == "p") mm = t->mm;
    REQUIRE(mm);
    const auto vmas = k.spaces.vmas(mm);
    uint64_t start = 0;
    for (const vm_area_struct* v : vmas)
        if (v->vm_end - v->vm_start == 2 * PG) start = v->vm_start;
    REQUIRE(start);
    const pteval_t e = k.spaces.lookup_pte(mm, start + offset);
    REQUIRE(pte_present(e));
    const PhysAddr pa{(pte_pfn(e).value << 12) + (offset & (PG - 1))};
    uint8_t b = 0;
    d.system().machine().ram().read(pa, &b, 1);
    b ^= 0x10;
    d.system().machine().ram().write(pa, &b, 1);
}

} // namespace

TEST_CASE("shadow memory: a byte changed behind the kernel's back is found by the next read",
          "[workloads][shadow]") {
    const Scenario sc = compile(TWO_PAGES);
    auto d = boot_scenario(sc);
    REQUIRE(d->run_until_checkpoint("next"));
    corrupt(*d, PG + 100);
    try {
        d->run();
        FAIL("the read found nothing");
    } catch (const KernelBug& e) {
        const std::string m = e.what();
        INFO(m);
        CHECK(m.find("event 5 (read by process \"p\")") != std::string::npos);
        CHECK(m.find("shadow memory predicts") != std::string::npos);
    }
    // Without the checker, the same run reads the changed byte and goes on.
    auto quiet = boot_scenario(sc, false);
    REQUIRE(quiet->run_until_checkpoint("next"));
    corrupt(*quiet, PG + 100);
    REQUIRE_NOTHROW(quiet->run());
}

TEST_CASE("shadow memory: a checkpoint compares every present frame with its prediction",
          "[workloads][shadow]") {
    const Scenario sc = compile(TWO_PAGES);
    auto d = boot_scenario(sc);
    REQUIRE(d->run_until_checkpoint("written"));
    // a's two pages and the stack's top page, which exec loads with argv and envp (a spawn
    // without code or data has no other page present).
    CHECK(d->shadow().frames_checked() == 3);
    corrupt(*d, 7);
    try {
        d->run_until_checkpoint("next");
        FAIL("the checkpoint found nothing");
    } catch (const KernelBug& e) {
        const std::string m = e.what();
        INFO(m);
        CHECK(m.find("at checkpoint \"next\": the shadow memory") != std::string::npos);
    }
}

TEST_CASE("shadow memory: a frame kept after every process exited fails the end-of-run check",
          "[workloads][shadow]") {
    const Scenario sc = compile(TWO_PAGES);
    auto d = boot_scenario(sc);
    REQUIRE(d->run_until_checkpoint("next"));
    // A slab object the scenario never frees: its slab page is owned (the frame audit is
    // content), but the free count cannot come back.
    Kernel& k = d->system().kernel();
    kmem_cache* c = k.slab.find_cache("kmalloc-4k");
    REQUIRE(c);
    REQUIRE_FALSE(k.slab.kmem_cache_alloc(c, GFP_KERNEL, 0).null());
    try {
        d->run();
        FAIL("the end-of-run check found nothing");
    } catch (const KernelBug& e) {
        const std::string m = e.what();
        INFO(m);
        CHECK(m.find("every process has exited") != std::string::npos);
    }
}
