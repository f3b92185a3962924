// Statistics are declared once, in tables (workloads/stats_*.cpp). These tests hold the three
// things that read them together: the field reference in docs/statistics-format.md is what the
// tables generate; every field a run writes is declared; every declared field is written by some
// run (the runs below are chosen so that each one is: kernel scenarios on x86_64, i386 and two
// nodes, with failures, slab errors and a kernel BUG; bare machines with faults, split and string
// accesses, segment loads, physical-memory checks and a failed expectation).
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "run_helpers.h"
#include "workloads/driver.h"
#include "workloads/scenario.h"
#include "workloads/statistics.h"

#ifndef MMEMU_SOURCE_DIR
#error "MMEMU_SOURCE_DIR must point at the source tree"
#endif

using namespace mmemu;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in.good());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim_end(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// Compiles and runs a scenario; its statistics with a host block.
ojson run_scenario(const std::string& name, const std::string& text,
                   void (*prepare)(Driver&) = nullptr) {
    return test::run_text(name, text, prepare);
}

// Every key path in a document: "a.b", arrays as "a[]" (their rows' keys as "a[].c"). The keys
// of a state (final, checkpoints[].state) are written as the docs write them, under "state.".
void collect(const ojson& v, const std::string& path, std::set<std::string>& out) {
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) {
            std::string p = path.empty() ? it.key() : path + "." + it.key();
            out.insert(p);
            const std::string base = p == "final" || p == "checkpoints[].state" ? "state" : p;
            collect(it.value(), base, out);
        }
    } else if (v.is_array()) {
        for (const auto& row : v) collect(row, path + "[]", out);
    }
}

// A declared path as a pattern: "<name>" stands for any key, "<name...>" for any path (a time
// series sample's members are named by the paths they sample).
std::regex pattern_of(const std::string& declared) {
    std::string re;
    for (size_t i = 0; i < declared.size(); i++) {
        const char c = declared[i];
        if (c == '<') {
            const size_t close = declared.find('>', i);
            re += declared.compare(close - 3, 3, "...") == 0 ? ".+" : "[^.]+";
            i = close;
        } else if (std::string("[].\\^$|?*+(){}").find(c) != std::string::npos) {
            re += '\\';
            re += c;
        } else {
            re += c;
        }
    }
    return std::regex(re);
}

const char* KERNEL_X86_64 = R"({"mmemu_scenario": 1, "name": "k64",
 "machine": {"arch": "x86_64", "memory": "256MiB", "cpus": 2, "numa": {"nodes": 2}},
 "events": [
  {"op": "alloc_pages", "id": "p", "order": 2, "count": 4},
  {"op": "kmem_cache_create", "cache": "rz", "size": 100, "flags": "SLAB_RED_ZONE"},
  {"op": "kmem_cache_alloc", "cache": "rz", "id": "o"},
  {"op": "write_object", "id": "o", "offset": 104, "length": 1, "byte": 0},
  {"op": "kmem_cache_free", "id": "o"},
  {"op": "kmalloc", "id": "huge", "size": 8388608, "count": 3},
  {"op": "kmem_cache_destroy", "cache": "rz"},
  {"op": "kmem_cache_create", "cache": "left", "size": 64},
  {"op": "kmem_cache_alloc", "cache": "left", "id": "x"},
  {"op": "kmem_cache_destroy", "cache": "left"},
  {"op": "checkpoint", "name": "middle"},
  {"op": "free_pages", "id": "p"}
 ]})";

const char* KERNEL_I386 = R"({"mmemu_scenario": 1, "name": "k32",
 "machine": {"arch": "i386", "memory": "1GiB"},
 "events": [{"op": "alloc_pages", "id": "h", "gfp": "GFP_HIGHUSER_MOVABLE"}]})";

const char* KERNEL_BUG = R"({"mmemu_scenario": 1, "name": "bug",
 "machine": {"memory": "128MiB"}, "kernel": {"slab_debug": "off"},
 "events": [
  {"op": "kmem_cache_create", "cache": "c", "size": 64},
  {"op": "kmem_cache_alloc", "cache": "c", "id": "a"},
  {"op": "kmem_cache_alloc", "cache": "c", "id": "b", "count": 200},
  {"op": "kmem_cache_free", "id": "b"},
  {"op": "write_object", "id": "a", "offset": 0, "length": 65536, "byte": 7},
  {"op": "kmem_cache_alloc", "cache": "c", "id": "d", "count": 200}
 ]})";

// 4-level paging: la 0x1000 -> 0x200000 and 0x2000 -> 0x201000 (user, writable); 0x3000 is not
// mapped. A GDT of one null descriptor (limit 7).
// KSM: two pages merged, a refused knob write (EBUSY: KSM pages exist), prctl's GET.
const char* KSM = R"({"mmemu_scenario": 1, "name": "ksm",
  "machine": {"arch": "x86_64", "memory": "256MiB", "cpus": 2},
  "kernel": {"ksm": {"run": 1, "sleep_millisecs": 20}},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "a", "length": "8KiB"},
    {"op": "write", "process": "p", "region": "a", "key": "k"},
    {"op": "madvise", "process": "p", "region": "a", "advice": "MADV_MERGEABLE"},
    {"op": "ksm_wait", "full_scans": 2},
    {"op": "checkpoint", "name": "merged"},
    {"op": "ksm", "max_page_sharing": 10},
    {"op": "prctl", "process": "p", "option": "PR_GET_MEMORY_MERGE", "expect": 0},
    {"op": "exit", "process": "p"}
  ]})";

// ksmd with no sleep over a long run: it stops at its limit (lowered by the test).
const char* KSM_LIMIT = R"({"mmemu_scenario": 1, "name": "ksm-limit",
  "machine": {"arch": "x86_64", "memory": "256MiB"},
  "kernel": {"ksm": {"run": 1, "sleep_millisecs": 0}},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "a", "length": "8KiB"},
    {"op": "write", "process": "p", "region": "a", "byte": 1},
    {"op": "madvise", "process": "p", "region": "a", "advice": "MADV_MERGEABLE"},
    {"op": "run", "ms": 1000},
    {"op": "exit", "process": "p"}
  ]})";

const char* BARE = R"({"mmemu_scenario": 1, "mode": "bare", "name": "bare",
 "machine": {"arch": "x86_64", "memory": "64MiB"},
 "events": [
  {"op": "set_cr", "cr": 0, "value": "0x80000000"},
  {"op": "write_phys", "addr": "0x100000", "u64": ["0x101007"]},
  {"op": "write_phys", "addr": "0x101000", "u64": ["0x102007"]},
  {"op": "write_phys", "addr": "0x102000", "u64": ["0x103007"]},
  {"op": "write_phys", "addr": "0x103008", "u64": ["0x200007", "0x201007"]},
  {"op": "set_cr", "cr": 4, "value": "0x20"},
  {"op": "wrmsr", "msr": "IA32_EFER", "value": "0x100"},
  {"op": "set_cr", "cr": 3, "value": "0x100000"},
  {"op": "set_cr", "cr": 0, "value": "0x80000001"},
  {"op": "access", "type": "write", "la": "0x1ffc", "size": 8, "value": "0x1122334455667788"},
  {"op": "access", "type": "write", "la": "0x2ffc", "size": 8, "value": "0x1122334455667788"},
  {"op": "expect_phys", "addr": "0x201ffc", "bytes": "00000000"},
  {"op": "access", "type": "read", "la": "0x1ffc", "size": 4, "expect": {"value": "0x55667788"}},
  {"op": "access", "type": "read", "la": "0x1000", "size": 4, "expect": {"value": "0x1"}},
  {"op": "access", "type": "write", "la": "0x2f00", "size": 512, "fill": 255},
  {"op": "access", "type": "read", "seg": "ds", "offset": "0x1000", "cpl": 3},
  {"op": "lgdt", "base": "0x300000", "limit": 7},
  {"op": "load_segment", "reg": "ds", "selector": "0x0"},
  {"op": "load_segment", "reg": "ds", "selector": "0x10", "expect": {"fault": "#GP", "error_code": "0x10"}},
  {"op": "checkpoint", "name": "end"}
 ]})";

std::set<std::string> emitted_paths() {
    std::set<std::string> paths;
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/";
    for (const char* f :
         {"buddy-and-slab.json", "bare-x86_64-tlb.json", "bare-i386-seed003.json",
          "process-anon-faults.json", "oom-killer.json", "fork-server.json", "ksm-fleet.json"})
        collect(run_scenario(f, slurp(ex + f)), "", paths);
    for (const char* t : {KERNEL_X86_64, KERNEL_I386, KERNEL_BUG, BARE, KSM})
        collect(run_scenario("inline.json", t), "", paths);
    collect(run_scenario("inline.json", KSM_LIMIT,
                         [](Driver& d) { d.system().ksmd()->set_limits(1000, 1000); }),
            "", paths);
    return paths;
}

} // namespace

TEST_CASE("statistics: docs/statistics-format.md holds the generated reference",
          "[workloads][statistics]") {
    const std::string doc = slurp(std::string(MMEMU_SOURCE_DIR) + "/docs/statistics-format.md");
    const std::string begin = "<!-- BEGIN GENERATED (mmemu help statistics) -->\n";
    const std::string end = "<!-- END GENERATED -->";
    const size_t a = doc.find(begin), b = doc.find(end);
    REQUIRE(a != std::string::npos);
    REQUIRE(b != std::string::npos);
    INFO("run scripts/update-docs.sh after changing a statistics table");
    REQUIRE(trim_end(doc.substr(a + begin.size(), b - a - begin.size())) ==
            trim_end(statistics_reference_markdown()));
}

TEST_CASE("statistics: every written field is declared, every declared field is written",
          "[workloads][statistics]") {
    const std::set<std::string> paths = emitted_paths();
    // A group's own path (the object that holds its fields, such as one TLB array by name) is
    // declared by the group.
    std::vector<std::pair<std::string, std::regex>> declared, groups;
    for (const auto& g : statistics_reference()) {
        groups.emplace_back(g.path, pattern_of(g.path));
        for (const auto& s : g.stats) declared.emplace_back(s.path, pattern_of(s.path));
    }
    REQUIRE(declared.size() > 150);
    for (const auto& p : paths) {
        bool found = false;
        for (const auto& [name, re] : declared) found |= std::regex_match(p, re);
        for (const auto& [name, re] : groups) found |= std::regex_match(p, re);
        INFO("written but not declared: " << p);
        CHECK(found);
    }
    for (const auto& [name, re] : declared) {
        bool found = false;
        for (const auto& p : paths) found |= std::regex_match(p, re);
        INFO("declared but never written: " << name);
        CHECK(found);
    }
}

TEST_CASE("statistics: the results the runs above must show", "[workloads][statistics]") {
    // The count of 3 failing kmallocs is one aggregated row: tries 0 to 2.
    const ojson k = run_scenario("k64.json", KERNEL_X86_64);
    const ojson& f = k["results"]["failures"];
    REQUIRE(f.size() == 2);
    CHECK(f[0]["op"] == "kmalloc");
    CHECK(f[0]["count"] == 3);
    CHECK(f[0]["first"] == 0);
    CHECK(f[0]["last"] == 2);
    // kmem_cache_destroy() of a cache with an object left fails and keeps the cache.
    CHECK(f[1]["op"] == "kmem_cache_destroy");
    CHECK(f[1]["cache"] == "left");
    // The byte after the 100-byte object (rounded to 104) is red zone 2.
    REQUIRE(k["results"]["slab_errors"].size() >= 1);
    // The kernel BUG stops the run at event 5: events 0-4 ran, and no final audit.
    const ojson bug = run_scenario("bug.json", KERNEL_BUG);
    CHECK(bug["results"]["events_run"] == 5);
    CHECK(bug["results"]["kernel_bug"]["event"] == 5);
    CHECK(bug["results"]["kernel_bug"]["op"] == "kmem_cache_alloc");
    CHECK(bug["results"]["audits_passed"] == 0);
    // The register write with PG and not PE is #GP(0) (SDM Vol. 2 MOV CR0).
    const ojson bare = run_scenario("bare.json", BARE);
    CHECK(bare["results"]["faults"][0]["fault"] == "#GP");
    CHECK(bare["results"]["faults"][0]["event"] == 0);
    const ojson& acc = bare["results"]["accesses"];
    // 0x1ffc + 8 crosses onto 0x2000, mapped to 0x201000: split.
    CHECK(acc[0]["result"]["pa"] == "0x200ffc");
    CHECK(acc[0]["result"]["split_pa"] == "0x201000");
    // 0x2ffc + 8 crosses onto 0x3000, not mapped: #PF for 0x3000 (not present, write, user=0:
    // error code 0x2) and nothing written, checked by the expect_phys after it.
    CHECK(acc[1]["result"]["fault"] == "#PF");
    CHECK(acc[1]["result"]["cr2"] == "0x3000");
    CHECK(acc[1]["result"]["error_code"] == "0x2");
    CHECK(acc[2]["expectation"] == "met");
    CHECK(acc[3]["expectation"] == "met");                 // bytes 88 77 66 55 at 0x1ffc
    CHECK(bare["results"]["expectations"]["failed"] == 1); // 0x1000 holds 0, not 1
    // The 512-byte fill from 0x2f00 moves the 256 bytes before 0x3000, then faults.
    CHECK(acc[5]["done"] == 256);
    CHECK(acc[5]["result"]["cr2"] == "0x3000");
    // Selector 0x10 is beyond the GDT's limit of 7: #GP(0x10).
    CHECK(acc[8]["result"]["error_code"] == "0x10");
}

TEST_CASE("statistics: the process example's numbers, worked by hand", "[workloads][process]") {
    const ojson d =
        run_scenario("process-anon-faults.json",
                     slurp(std::string(MMEMU_SOURCE_DIR) + "/examples/process-anon-faults.json"));
    const ojson& before = d["checkpoints"][0]["state"];
    const ojson& server = before["processes"][0];
    // server: text 16 pages, data + bss 20, stack 33, heap 1024 of which 256 unmapped: 837
    // pages (VmPeak had the 1093 before the munmap).
    CHECK(server["VmSize"] == 837 * 4);
    CHECK(server["VmPeak"] == 1093 * 4);
    CHECK(server["VmData"] == (20 + 768) * 4);
    CHECK(server["VmStk"] == 33 * 4);
    CHECK(server["VmExe"] == 64);
    // Resident: text 16 + data 4 + the stack's top page, 256 written heap pages, 16 touched
    // ones copied from the zero page (the 256 only read map the zero page: no RSS).
    CHECK(server["RssAnon"] == (21 + 256 + 16) * 4);
    CHECK(server["VmRSS"] == server["RssAnon"]);
    // Faults: 256 writes, 256 zero-page reads, 16 write-protect faults; loading at spawn
    // faults nothing.
    CHECK(server["minflt"] == 528);
    CHECK(server["map_count"] == 5); // text, data, heap split in two, stack
    // Page tables: text and data under one PUD/PMD/PTE chain; heap and stack share a PUD and a
    // PMD (the same 1 GiB) and have a PTE table each: 7 pages.
    CHECK(server["VmPTE"] == 28);
    const ojson& crasher = before["processes"][1];
    CHECK(crasher["VmSize"] == (2 + 33 + 4) * 4);
    CHECK(crasher["RssAnon"] == 3 * 4);
    CHECK(crasher["minflt"] == 4);
    CHECK(before["mmemu_faults"]["cow_copy"] == 16);
    CHECK(before["mmemu_faults"]["zero_page"] == 256 + 4);
    // The write to the read-only region: a protection fault (P|W|U) on its first page, which
    // maps the zero page read-only, then SIGSEGV with SEGV_ACCERR; the touch after it skipped.
    const ojson& sig = d["results"]["signals"];
    REQUIRE(sig.size() == 1);
    CHECK(sig[0]["process"] == "crasher");
    CHECK(sig[0]["si_code"] == "SEGV_ACCERR");
    CHECK(sig[0]["addr"] == "0x7ffff7ffb000"); // mmap_base - 16 KiB
    CHECK(sig[0]["error_code"] == "0x7");
    const ojson& f = d["results"]["failures"];
    REQUIRE(f.size() == 1);
    CHECK(f[0]["op"] == "touch");
    CHECK(d["results"]["expectations"]["checked"] == 2);
    CHECK(d["results"]["expectations"]["failed"] == 0);
    // Both gone at the end: every anonymous page and page table returned.
    CHECK(d["final"]["processes"][1]["state"] == "exited");
    CHECK(d["final"]["vmstat"]["nr_anon_pages"] == 0);
    CHECK(d["final"]["vmstat"]["nr_page_table_pages"] == 0);
    CHECK(d["final"]["vmstat"]["pgfault"] == 532 + 16); // and the 16 heap pages
    // mprotect of the heap's first MiB read-only: the lower heap VMA splits in two (6 VMAs),
    // and 256 pages leave VmData. Then brk makes a 16-page heap after the bss (a 7th VMA,
    // data), all written.
    const ojson& prot = d["checkpoints"][2]["state"]["processes"][0];
    CHECK(prot["map_count"] == 7);
    CHECK(prot["VmData"] == (788 - 256 + 16) * 4);
    CHECK(prot["VmSize"] == (837 + 16) * 4);
    CHECK(prot["RssAnon"] == (293 + 16) * 4);
    // The same as /proc/PID/maps: text, data+bss, the heap from brk right after the bss, the
    // mmap heap's read-only first MiB and its two writable pieces around the munmap hole, and
    // the stack; a named line padded to column 73 as the kernel pads it, the others ending in a
    // space.
    const ojson& maps = d["checkpoints"][2]["maps"]["server"];
    REQUIRE(maps.size() == 7);
    CHECK(maps[0] == "00400000-00410000 r-xp 00000000 00:00 0 ");
    CHECK(maps[2] == "00424000-00434000 rw-p 00000000 00:00 0" + std::string(34, ' ') + "[heap]");
    CHECK(maps[3] == "7ffff7a00000-7ffff7b00000 r--p 00000000 00:00 0 ");
    CHECK(maps[5] == "7ffff7d00000-7ffff7e00000 rw-p 00000000 00:00 0 ");
    CHECK(maps[6] ==
          "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0" + std::string(26, ' ') + "[stack]");
    CHECK(!d["checkpoints"][0].contains("maps"));
}

TEST_CASE("statistics: the fork example's numbers, worked by hand", "[workloads][process][fork]") {
    const ojson d = run_scenario(
        "fork-server.json", slurp(std::string(MMEMU_SOURCE_DIR) + "/examples/fork-server.json"));
    CHECK(d["results"]["expectations"]["checked"] == 4);
    CHECK(d["results"]["expectations"]["failed"] == 0);
    CHECK(d["results"]["signals"].empty());
    // After the forks: the server's 4177 pages (text 64, data 16, stack top 1, heap 4096) are
    // mapped by all four; each process has 14 page tables (text/data: PUD, PMD, PTE; heap and
    // stack in one 1 GiB: PUD, PMD, 8 heap PTE tables for 16 aligned MiB, 1 stack PTE table)
    // and a PGD. One TLB flush of the parent per fork.
    const ojson& forked = d["checkpoints"][0]["state"];
    for (const auto& p : forked["processes"]) {
        CHECK(p["RssAnon"] == 4177 * 4);
        CHECK(p["VmPTE"] == 14 * 4);
    }
    CHECK(forked["processes"][1]["minflt"] == 0);
    // smaps_rollup: every page mapped four times: Pss a quarter of Rss; the text pages are
    // clean (loaded, never written through the PTE), the rest dirty.
    for (const auto& p : forked["processes"]) {
        CHECK(p["Rss"] == 4177 * 4);
        CHECK(p["Pss"] == 4177);
        CHECK(p["Shared_Clean"] == 64 * 4);
        CHECK(p["Shared_Dirty"] == (4177 - 64) * 4);
        CHECK(p["Private_Dirty"] == 0);
    }
    CHECK(forked["vmstat"]["nr_anon_pages"] == 4177);
    CHECK(forked["vmstat"]["nr_page_table_pages"] == 4 * 15);
    CHECK(forked["mmemu_faults"]["tlb_flushes"] == 3);
    // Each worker copies its quarter: 1024 write-protect faults, 1024 copies each; reading the
    // rest faults nothing. RSS is unchanged (a page swapped for a copy).
    const ojson& written = d["checkpoints"][1]["state"];
    CHECK(written["mmemu_faults"]["cow_copy"] == 3072);
    CHECK(written["vmstat"]["nr_anon_pages"] == 4177 + 3072);
    for (int w = 1; w <= 3; w++) {
        CHECK(written["processes"][w]["minflt"] == 1024);
        CHECK(written["processes"][w]["RssAnon"] == 4177 * 4);
        // Its own quarter private (4096 kB); the two quarters other workers copied are mapped
        // three times (2048 pages * 4/3 kB); the last quarter and text/data/stack four times
        // (1105 pages * 1 kB). Pss sums 2^12-fixed-point shares and truncates: 7931.
        CHECK(written["processes"][w]["Private_Dirty"] == 4096);
        CHECK(written["processes"][w]["Pss"] == 7931);
    }
    // The server: three quarters mapped three times, the rest four: 4096 + 1105 kB, less the
    // truncation of 3072 thirds: 5200.
    CHECK(written["processes"][0]["Pss"] == 5200);
    // With the workers gone, the server alone maps the first quarter: 1024 reuses, no copy.
    const ojson& reused = d["checkpoints"][2]["state"];
    CHECK(reused["vmstat"]["pgreuse"] == 1024);
    CHECK(reused["mmemu_faults"]["cow_copy"] == 3072);
    CHECK(reused["vmstat"]["nr_anon_pages"] == 4177);
    CHECK(reused["processes"][0]["minflt"] == 4096 + 1024);
    CHECK(reused["processes"][0]["Pss"] == 4177 * 4); // all private again
    CHECK(reused["processes"][0]["Private_Clean"] == 64 * 4);
    CHECK(d["final"]["vmstat"]["nr_anon_pages"] == 0);
    CHECK(d["final"]["vmstat"]["nr_page_table_pages"] == 0);
    // pagemap after the writes: w0's first quarter is its own copies (present, mapped once);
    // its second quarter is the server's pages, which the server and w2 map too (mapcount 3:
    // bit 56 clear), with the server's PFNs.
    const ojson& pm = d["results"]["pagemaps"];
    REQUIRE(pm.size() == 2);
    CHECK(pm[0]["present"] == 2048);
    CHECK(pm[0]["exclusive"] == 1024);
    CHECK(pm[1]["present"] == 1024);
    CHECK(pm[1]["exclusive"] == 0);
    for (int i = 0; i < 1024; i += 97) {
        const uint64_t w = std::stoull(pm[0]["entries"][1024 + i].get<std::string>(), nullptr, 16);
        const uint64_t s = std::stoull(pm[1]["entries"][i].get<std::string>(), nullptr, 16);
        CHECK(w == s);
        CHECK((w >> 63) == 1);
        CHECK(((w >> 56) & 1) == 0);
    }
}

TEST_CASE("statistics: the i386 highmem example's numbers, worked by hand",
          "[workloads][process][i386]") {
    const ojson d = run_scenario(
        "i386-highmem.json", slurp(std::string(MMEMU_SOURCE_DIR) + "/examples/i386-highmem.json"));
    CHECK(d["results"]["expectations"]["checked"] == 2);
    CHECK(d["results"]["expectations"]["failed"] == 0);
    // The 3G split: lowmem is 4 GiB - 3 GiB - 128 MiB of vmalloc reserve = 896 MiB, pfn 229376;
    // the other 1152 MiB are highmem. 2-level page tables, PAGE_OFFSET 0xc0000000.
    CHECK(d["boot"]["max_low_pfn"] == 229376);
    CHECK(d["boot"]["paging"] == "2-level");
    CHECK(d["boot"]["page_offset"] == "0x00000000c0000000");
    // After the fork: db's pages are text 16 (64 KiB), data 4 (16 KiB), the stack's top page 1
    // and the cache 16384 (64 MiB): 16405, each from ZONE_HIGHMEM (GFP_HIGHUSER_MOVABLE), none
    // from lowmem but the page tables and slabs. Each demand-zero page was cleared through one
    // kmap_local; the 21 loaded pages took a second one for their contents: 16405 + 21.
    const ojson& forked = d["checkpoints"][0]["state"];
    CHECK(forked["vmstat"]["pgalloc_high"] == 16405);
    CHECK(forked["vmstat"]["nr_anon_pages"] == 16405);
    CHECK(forked["mmemu_faults"]["kmap_local"] == 16426);
    // 2-level: one PTE table maps 4 MiB. Text and data share the table at 0x08000000, the cache
    // [0xb4000000, 0xb8000000) takes 16, the stack below 0xc0000000 one: 18 tables, 72 kB; each
    // mm also has its PGD: 2 * 19 page-table pages.
    CHECK(forked["vmstat"]["nr_page_table_pages"] == 38);
    for (const auto& p : forked["processes"]) {
        CHECK(p["VmRSS"] == 16405 * 4);
        CHECK(p["VmPTE"] == 72);
        CHECK(p["Pss"] == 16405 * 4 / 2);   // every page mapped by both
        CHECK(p["Shared_Clean"] == 16 * 4); // the text, never written through a PTE
    }
    // The maps: text at 0x08048000 (the i386 non-PIE default), the cache top-down from
    // mmap_base = 0xc0000000 - 128 MiB, the stack ending at TASK_SIZE = PAGE_OFFSET.
    const auto& maps = d["checkpoints"][0]["maps"]["db"];
    CHECK(maps[0].get<std::string>().rfind("08048000-08058000 r-xp", 0) == 0);
    CHECK(maps[2].get<std::string>().rfind("b4000000-b8000000 rw-p", 0) == 0);
    CHECK(maps[3].get<std::string>().rfind("bffdf000-c0000000 rw-p", 0) == 0);
    // The reader's 4 MiB write: 1024 COW copies, again from highmem, each copy_user_highpage
    // mapping both frames (2048 kmap_local); both now hold 1024 private pages and share
    // 15381: Pss = 4096 + 15381 * 4 / 2 = 34858 kB.
    const ojson& copied = d["checkpoints"][1]["state"];
    CHECK(copied["mmemu_faults"]["cow_copy"] == 1024);
    CHECK(copied["vmstat"]["pgalloc_high"] == 16405 + 1024);
    CHECK(copied["mmemu_faults"]["kmap_local"] == 16426 + 2048);
    for (const auto& p : copied["processes"]) {
        CHECK(p["Private_Dirty"] == 4096);
        CHECK(p["Pss"] == 34858);
    }
    // No PCID on 32-bit: every switch to a process flushed. CPU 1 ran the reader's copies: two
    // INVLPGs per copy for the kmap slots and one for the old PTE (ptep_clear_flush).
    const ojson& cpu1 = d["final"]["percpu"][1];
    CHECK(cpu1["cr3_noflush"] == 0);
    CHECK(cpu1["invlpg"] == 3 * 1024);
    CHECK(d["final"]["vmstat"]["nr_page_table_pages"] == 0);
    CHECK(d["final"]["vmstat"]["nr_anon_pages"] == 0);
}

TEST_CASE("statistics: the OOM example's victims and points, worked by hand",
          "[workloads][process][oom]") {
    const ojson d = run_scenario(
        "oom-killer.json", slurp(std::string(MMEMU_SOURCE_DIR) + "/examples/oom-killer.json"));
    // totalpages = totalram_pages (no swap) = MemTotal / 4 kB.
    const int64_t totalpages = d["final"]["meminfo"]["MemTotal"].get<int64_t>() / 4;
    // Before leak starts: cache holds its 96 MiB (24576 pages) and the stack's top page; its
    // heap ends THP-aligned at 0x7ffff7e00000 and starts at 0x7ffff1e00000, in the same 1 GiB as
    // the stack: 48 + 1 PTE tables, a PMD, a PUD = 51 pages (204 kB). batch: 512 + 1 pages and
    // 1 + 1 PTE tables, PMD, PUD = 4 pages (16 kB).
    const ojson& before = d["checkpoints"][0]["state"]["processes"];
    CHECK(before[1]["VmRSS"] == 24577 * 4);
    CHECK(before[1]["VmPTE"] == 51 * 4);
    CHECK(before[2]["VmRSS"] == 513 * 4);
    CHECK(before[2]["VmPTE"] == 4 * 4);
    const int64_t cache = 24577 + 51, batch = 513 + 4 + 1000 * (totalpages / 1000);
    // /proc/PID/oom_score = (1000 + points * 1000 / totalpages) * 2 / 3; db's -1000 gives 0.
    CHECK(before[0]["oom_score"] == 0);
    CHECK(before[1]["oom_score"] == (1000 + cache * 1000 / totalpages) * 2 / 3);
    CHECK(before[2]["oom_score"] == (1000 + batch * 1000 / totalpages) * 2 / 3);
    // During leak's write (event 12): batch first (oom_score_adj 1000 adds 1000 * totalpages /
    // 1000 points), then cache (24628 points, more than leak has by then), then leak itself.
    const ojson& kills = d["results"]["oom_kills"];
    REQUIRE(kills.size() == 3);
    CHECK(kills[0]["victim"] == "batch");
    CHECK(kills[0]["points"] == batch);
    CHECK(kills[1]["victim"] == "cache");
    CHECK(kills[1]["points"] == cache);
    CHECK(kills[2]["victim"] == "leak");
    for (const auto& k : kills) {
        CHECK(k["event"] == 12);
        CHECK(k["invoked_by"] == "leak");
        CHECK(k["gfp_mask"] == "GFP_HIGHUSER_MOVABLE|__GFP_ZERO");
    }
    CHECK(kills[1]["message"] == "Out of memory: Killed process 2 (cache) total-vm:98436kB, "
                                 "anon-rss:98308kB, file-rss:0kB, shmem-rss:0kB, UID:1000 "
                                 "pgtables:204kB oom_score_adj:0");
    // Three SIGKILLs, db untouched: its bytes read back, and it is the one process left.
    CHECK(d["results"]["signals"].size() == 3);
    for (const auto& s : d["results"]["signals"]) CHECK(s["signal"] == "SIGKILL");
    CHECK(d["results"]["expectations"]["failed"] == 0);
    CHECK(d["results"]["expectations"]["checked"] == 1);
    const ojson& after = d["checkpoints"][1]["state"];
    CHECK(after["vmstat"]["oom_kill"] == 3);
    CHECK(after["processes"][0]["state"] == "running");
    for (int i = 1; i <= 3; i++) CHECK(after["processes"][i]["exit"] == "SIGKILL (the OOM killer)");
    CHECK(d["final"]["vmstat"]["nr_anon_pages"] == 0);
}

TEST_CASE("statistics: the kernel paths' cycle costs and virtual time, worked by hand",
          "[workloads][process][time]") {
    // The MMU's own costs are zeroed so that only the kernel paths count, each a distinct power
    // of ten (with pte_copy 3), on a 1000 MHz clock.
    const char* sc = R"({"mmemu_scenario": 1,
      "machine": {"arch": "x86_64", "memory": "256MiB", "cpus": 2, "cpu_mhz": 1000,
        "mmu": {"costs": {"l1_tlb_hit": 0, "stlb_hit": 0, "walk_mem_ref": 0, "psc_hit": 0,
          "ad_writeback": 0, "fault_delivery": 0, "invlpg": 0, "invpcid": 0, "mov_cr3": 0,
          "mov_cr4": 0, "mov_cr0": 0, "syscall": 1, "fault_handling": 10, "clear_page": 100,
          "copy_page": 1000, "context_switch": 10000, "ipi_send": 100000,
          "ipi_receive": 1000000, "pte_copy": 3}}},
      "events": [
        {"op": "spawn", "process": "p"},
        {"op": "mmap", "process": "p", "region": "r", "length": "16KiB"},
        {"op": "write", "process": "p", "region": "r", "byte": 1},
        {"op": "fork", "process": "p", "child": "c", "cpu": 1},
        {"op": "write", "process": "c", "region": "r", "length": "4KiB", "byte": 2},
        {"op": "clone_thread", "process": "p", "thread": "t", "cpu": 1},
        {"op": "read", "process": "t", "region": "r", "offset": "4KiB", "length": "4KiB"},
        {"op": "munmap", "process": "p", "region": "r", "offset": "4KiB", "length": "4KiB"},
        {"op": "checkpoint", "name": "before"},
        {"op": "run", "ms": 1},
        {"op": "checkpoint", "name": "after"}
      ]})";
    const ojson d = run_scenario("time.json", sc);
    // CPU 0: spawn loads the stack's top page (a fault 10, zeroed 100, the file bytes copied
    // 1000); mmap switches to p (10000) and is a syscall (1); 4 write faults (4 x 110); fork is
    // a syscall and copies 5 PTEs (1 + 15); clone is a syscall (1); munmap is a syscall (1) and
    // sends one IPI to CPU 1, where the thread runs the mm (100000).
    // CPU 1: the child made current (10000) and its COW fault (10 + 1000); the thread made
    // current (10000), its read hits a present page; the IPI received (1000000).
    const ojson& before = d["checkpoints"][0]["state"]["percpu"];
    CHECK(before[0]["cycles"] == 1110 + 10001 + 440 + 16 + 1 + 100001);
    CHECK(before[1]["cycles"] == 10000 + 1010 + 10000 + 1000000);
    CHECK(before[1]["tlb_shootdowns"] == 1);
    // run 1 ms: both CPUs to the later one's clock plus 1 000 000 cycles; time = cycles / MHz.
    const ojson& after = d["checkpoints"][1]["state"]["percpu"];
    const uint64_t t = 10000 + 1010 + 10000 + 1000000 + 1000000;
    CHECK(after[0]["cycles"] == t);
    CHECK(after[1]["cycles"] == t);
    CHECK(after[0]["time_ns"] == t);
}

// The content generators, fill and copy, checked through reads with expectations (each read
// passes or fails as worked out by hand below).
TEST_CASE("content: keys, distinct variants, fill and an overlapping copy",
          "[workloads][content]") {
    const std::string text = R"({
  "mmemu_scenario": 1,
  "machine": {"memory": "256MiB"},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "spawn", "process": "q"},
    {"op": "mmap", "process": "p", "region": "a", "length": "16KiB"},
    {"op": "mmap", "process": "q", "region": "b", "length": "16KiB"},
    {"op": "write", "process": "p", "region": "a", "key": "K"},
    {"op": "write", "process": "q", "region": "b", "key": "K", "distinct": 2},
    {"op": "read", "process": "q", "region": "b", "length": "4KiB", "key": "K"},
    {"op": "read", "process": "q", "region": "b", "offset": "4KiB", "length": "4KiB", "key": "K"},
    {"op": "read", "process": "q", "region": "b", "offset": "8KiB", "length": "4KiB", "key": "K"},
    {"op": "read", "process": "p", "region": "a", "key": "L"},
    {"op": "mmap", "process": "p", "region": "m", "length": "12KiB"},
    {"op": "fill", "process": "p", "region": "m", "length": "4KiB", "byte": 1},
    {"op": "fill", "process": "p", "region": "m", "offset": "4KiB", "length": "4KiB", "byte": 2},
    {"op": "copy", "process": "p", "region": "m", "offset": 2048, "length": "8KiB", "from": "m"},
    {"op": "read", "process": "p", "region": "m", "length": 6144, "byte": 1},
    {"op": "read", "process": "p", "region": "m", "offset": 6144, "length": "4KiB", "byte": 2},
    {"op": "read", "process": "p", "region": "m", "offset": 10240, "length": 2048, "byte": 0},
    {"op": "copy", "process": "p", "region": "a", "offset": "8KiB", "length": "4KiB", "from": "m",
     "from_offset": 6144},
    {"op": "read", "process": "p", "region": "a", "offset": "8KiB", "length": "4KiB", "byte": 2}
  ]
})";
    const ojson d = run_scenario("content.json", text);
    // Reads 6, 7, 8: q's pages 0 and 2 hold variant 0 of K, which is the page p's every page
    // holds (a key without distinct is its variant 0); page 1 holds variant 1: a mismatch.
    // Read 9: key L differs from K. Reads 14-16: memmove semantics — m was 1s then 2s then 0s;
    // copying [0, 8192) to [2048, 10240) gives 1s up to 6144, 2s up to 10240, 0s after. Read 18:
    // a 4 KiB copy of m's 2s into p's region a.
    const ojson& e = d["results"]["expectations"];
    CHECK(e["checked"] == 8);
    CHECK(e["failed"] == 2);
    REQUIRE(e["failures"].size() == 2);
    CHECK(e["failures"][0]["event"] == 7);
    CHECK(e["failures"][1]["event"] == 9);
    CHECK(d["results"]["failures"].empty());
}

TEST_CASE("repeat: a block run count times, as if written out", "[workloads][repeat]") {
    // Three rounds of: fork a child, which writes 16 pages of the parent's 16-page region (16 COW
    // copies) and exits. The parent never writes again, so its pages stay shared with nobody
    // once each child is gone.
    const std::string text = R"({
  "mmemu_scenario": 1,
  "machine": {"memory": "256MiB"},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "r", "length": "64KiB"},
    {"op": "write", "process": "p", "region": "r", "byte": 7},
    {"op": "repeat", "count": 3, "events": [
      {"op": "fork", "process": "p", "child": "c"},
      {"op": "repeat", "count": 2, "events": [
        {"op": "write", "process": "c", "region": "r", "length": "32KiB", "byte": 9}]},
      {"op": "read", "process": "c", "region": "r", "length": "32KiB", "byte": 9},
      {"op": "exit", "process": "c"}]},
    {"op": "read", "process": "p", "region": "r", "byte": 7},
    {"op": "checkpoint", "name": "end"}
  ]
})";
    const ojson d = run_scenario("repeat.json", text);
    const ojson& st = d["checkpoints"][0]["state"];
    // Each child copies its 8 written pages once (the inner repeat's second write finds them
    // its own): 3 * 8 copies; three children then the parent: pids 1 to 4.
    CHECK(st["mmemu_faults"]["cow_copy"] == 24);
    CHECK(d["results"]["expectations"]["checked"] == 4);
    CHECK(d["results"]["expectations"]["failed"] == 0);
    REQUIRE(st["processes"].size() == 4);
    CHECK(st["processes"][3]["pid"] == 4);
    CHECK(d["checkpoints"][0]["event"] == 5);
}

TEST_CASE("below: a touch under the stack grows it", "[workloads][stack]") {
    // The spawned stack is 132 KiB below STACK_TOP (VM_GROWSDOWN); touching the two pages under
    // it grows the VMA by 8 KiB: VmStk from 132 to 140 kB, and RSS by 2 pages. STACK_TOP is
    // TASK_SIZE_LOW on x86_64 (2^47 - 4096) and TASK_SIZE = PAGE_OFFSET on i386 and PAE
    // (0xc0000000 with the default 3G split), so the region "stack" is there.
    struct Arch {
        const char* name;
        const char* stack_line; // the maps line of the grown stack: [top - 140 KiB, top)
    };
    const Arch arch =
        GENERATE(Arch{"x86_64", "7ffffffdc000-7ffffffff000 rw-p"},
                 Arch{"i386", "bffdd000-c0000000 rw-p"}, Arch{"pae", "bffdd000-c0000000 rw-p"});
    const std::string text = std::string(R"({
  "mmemu_scenario": 1,
  "machine": {"memory": "256MiB", "arch": ")") +
                             arch.name + R"("},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "checkpoint", "name": "before"},
    {"op": "touch", "process": "p", "region": "stack", "below": "8KiB", "length": "8KiB"},
    {"op": "write", "process": "p", "region": "stack", "below": 100, "length": 10, "seed": 3},
    {"op": "read", "process": "p", "region": "stack", "below": 100, "length": 10, "seed": 3},
    {"op": "checkpoint", "name": "after", "maps": true}
  ]
})";
    INFO(arch.name);
    const ojson d = run_scenario("stack.json", text);
    const ojson& before = d["checkpoints"][0]["state"]["processes"][0];
    const ojson& after = d["checkpoints"][1]["state"]["processes"][0];
    CHECK(before["VmStk"] == 132);
    CHECK(after["VmStk"] == 140);
    CHECK(after["VmRSS"] == before["VmRSS"].get<uint64_t>() + 8);
    CHECK(d["results"]["expectations"]["failed"] == 0);
    CHECK(d["results"]["signals"].empty());
    bool found = false;
    for (const auto& line : d["checkpoints"][1]["maps"]["p"])
        found |= line.get<std::string>().rfind(arch.stack_line, 0) == 0;
    INFO(d["checkpoints"][1]["maps"].dump());
    CHECK(found);
}

TEST_CASE("run busy: time slices switch the tasks of a CPU round robin, with the ASID rules",
          "[workloads][sched]") {
    // n processes on CPU 0 spin for 40 ms: 2 CPUs give a base slice of 0.70 ms * (1 + ilog2 2)
    // = 1.4 ms, preempted at the next 4 ms tick (HZ 250): the idle CPU takes p0, then 10
    // switches follow, 11 in all. Each mm's first switch takes a new ASID slot (a flush). With 6
    // processes every one then keeps its slot (TLB_NR_DYN_ASIDS = 6): 6 flushes; with 7 the
    // slots are taken round robin (1, 2, 3, 4, 5, 0, 1, ...) and each switch finds its mm's
    // slot gone: 11 flushes.
    auto run = [](int n) {
        std::string events;
        for (int i = 0; i < n; i++)
            events += R"({"op": "spawn", "process": "p)" + std::to_string(i) + R"("},)";
        const std::string text = R"({"mmemu_scenario": 1, "machine": {"memory": "256MiB",
          "cpus": 2}, "events": [)" +
                                 events +
                                 R"({"op": "checkpoint", "name": "a"},
          {"op": "run", "ms": 40, "busy": true}, {"op": "checkpoint", "name": "b"}]})";
        return run_scenario("sched.json", text);
    };
    for (int n : {6, 7}) {
        INFO("processes: " << n);
        const ojson d = run(n);
        const ojson& a = d["checkpoints"][0]["state"]["percpu"][0];
        const ojson& b = d["checkpoints"][1]["state"]["percpu"][0];
        CHECK(b["context_switches"].get<uint64_t>() - a["context_switches"].get<uint64_t>() == 11);
        CHECK(b["switch_flushes"].get<uint64_t>() - a["switch_flushes"].get<uint64_t>() ==
              (n == 6 ? 6u : 11u));
        // CPU 1 had nothing to run.
        CHECK(d["checkpoints"][1]["state"]["percpu"][1]["context_switches"] == 0);
        // The clocks agree 40 ms after the latest one.
        CHECK(b["time_ns"].get<uint64_t>() - a["time_ns"].get<uint64_t>() >= 40000000);
    }
}
