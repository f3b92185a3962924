// KSM through scenarios: ksmd in virtual time (its costs and its sleeps on the timer wheel),
// the knob writes and their wake-ups, ksm_wait, and the counters a merge and a COW break give,
// each worked out by hand from mm/ksm.c and the cost model (docs/cpu-model.md).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ksm/ksmd.h"
#include "run_helpers.h"

using namespace mmemu;
using mmemu::test::run_text;

namespace {

constexpr uint64_t MS = 1000000; // ns

// The tick a timed sleep of a level-0 timeout (under 63 jiffies) wakes on, from the end of a
// batch at t: jiffy floor(t / 4 ms) + msecs_to_jiffies + 1 (calc_index's +1).
uint64_t wake_level0(uint64_t t_ns, uint64_t sleep_ms) {
    return (t_ns / (4 * MS) + (sleep_ms + 3) / 4 + 1) * 4 * MS;
}

// One process with two pages of the same key, registered with MADV_MERGEABLE; ksmd at the
// defaults but run=1 (pages_to_scan 100, sleep_millisecs 20). One 3 GHz CPU.
std::string two_pages(const std::string& more_events) {
    return R"({"mmemu_scenario": 1, "name": "ksm-two",
  "machine": {"arch": "x86_64", "memory": "256MiB", "cpus": 1, "cpu_mhz": 3000},
  "kernel": {"ksm": {"run": 1}},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "a", "length": "8KiB"},
    {"op": "write", "process": "p", "region": "a", "key": "same"},
    {"op": "madvise", "process": "p", "region": "a", "advice": "MADV_MERGEABLE"},
    {"op": "checkpoint", "name": "registered"})" +
           more_events + R"(
  ]})";
}

const ojson& process(const ojson& state, const char* name) {
    for (const auto& p : state["processes"])
        if (p["name"] == name) return p;
    FAIL("no process " << name);
    return state;
}

const ojson& checkpoint(const ojson& st, const char* name) {
    for (const auto& c : st["checkpoints"])
        if (c["name"] == name) return c["state"];
    FAIL("no checkpoint " << name);
    return st;
}

} // namespace

// The timer wheel's rounding (kernel/time/timer.c calc_index, docs/dev/ksm-facts.md 11d), by
// hand: level 0 fires one jiffy after the expiry; level 1 (63..503 jiffies) at the next multiple
// of 8 above it; level 2 at the next multiple of 64 of the absolute jiffies, which start at
// INITIAL_JIFFIES = 0xFFFEDB08 (8 mod 64).
TEST_CASE("ksmd: a sleep ends on the timer wheel's tick", "[workloads][ksm]") {
    CHECK(Ksmd::sleep_until_ns(0, 20) == 24 * MS);              // jiffy 0 + 5 + 1
    CHECK(Ksmd::sleep_until_ns(3999999, 20) == 24 * MS);        // still jiffy 0
    CHECK(Ksmd::sleep_until_ns(4 * MS, 20) == 28 * MS);         // jiffy 1
    CHECK(Ksmd::sleep_until_ns(0, 1) == 8 * MS);                // 1 ms is a whole jiffy
    CHECK(Ksmd::sleep_until_ns(0, 10) == 16 * MS);              // 10 ms: 3 jiffies
    CHECK(Ksmd::sleep_until_ns(0, 248) == (62 + 1) * 4 * MS);   // 62 jiffies: still level 0
    CHECK(Ksmd::sleep_until_ns(0, 252) == 64 * 4 * MS);         // 63 jiffies: level 1
    CHECK(Ksmd::sleep_until_ns(0, 1000) == 256 * 4 * MS);       // 250 -> 256
    CHECK(Ksmd::sleep_until_ns(24 * MS, 1000) == 264 * 4 * MS); // jiffy 6: 256 -> 264
    CHECK(Ksmd::sleep_until_ns(0, 3000) == 760 * 4 * MS);       // 750 -> 768 - 8
    // The largest sleeps: 2^31 - 1 ms is 536870912 jiffies, level 8 (granularity 2^24); from
    // 2^31 ms msecs_to_jiffies() gives MAX_JIFFY_OFFSET, and the wheel clamps it to clk +
    // WHEEL_TIMEOUT_MAX = 63 * 2^24 - 2^24 = 1040187392 jiffies, then rounds up at level 8.
    const uint64_t init = 0xFFFEDB08, g8 = uint64_t{1} << 24;
    CHECK(Ksmd::sleep_until_ns(0, 2147483647u) ==
          (((init + 536870912) / g8 + 1) * g8 - init) * 4 * MS);
    CHECK(Ksmd::sleep_until_ns(0, 2147483648u) ==
          (((init + 1040187392) / g8 + 1) * g8 - init) * 4 * MS);
    CHECK(Ksmd::sleep_until_ns(0, 4294967295u) == Ksmd::sleep_until_ns(0, 2147483648u));
    CHECK(Ksmd::sleep_until_ns(0, 2012) == 504 * 4 * MS); // 503 jiffies: level 1
    CHECK(Ksmd::sleep_until_ns(0, 2016) == 568 * 4 * MS); // 504: level 2: (INIT + 504) / 64 + 1
}

// Registration wakes ksmd (the first mm), which runs pass 1 at once: two pages visited and
// checksummed, nothing compared or merged: 2000 + 2 * 1000 + 2 * 1500 = 7000 cycles, 2333 ns at
// 3 GHz. Then it sleeps 20 ms, to jiffy floor(end / 4 ms) + 6. Pass 2 (ksm_wait 1) merges: the
// first page goes into the unstable tree, the second matches it (a memcmp), the two-page merge
// write-protects both and replaces the second's PTE after comparing them again (two merges, two
// compares): 2000 + 2000 + 3000 + 600 + 12000 = 19600 cycles, 6533 ns. The wait ends when that
// batch does.
TEST_CASE("ksmd: batches cost their work and sleep in jiffies", "[workloads][ksm]") {
    const ojson st = run_text("t.json", two_pages(R"(,
    {"op": "ksm_wait", "full_scans": 1},
    {"op": "checkpoint", "name": "merged"},
    {"op": "exit", "process": "p"})"));
    const ojson& reg = checkpoint(st, "registered");
    const uint64_t t0 = reg["percpu"][0]["time_ns"];
    CHECK(reg["ksmd"]["batches"] == 1);
    CHECK(reg["ksmd"]["cputime_ns"] == 2333);
    CHECK(reg["ksmd"]["state"] == "sleeping");
    const uint64_t wake = wake_level0(t0 + 2333, 20);
    CHECK(reg["ksmd"]["next_batch_ns"] == wake);
    CHECK(reg["ksm"]["full_scans"] == 1);
    CHECK(reg["ksm"]["pages_scanned"] == 2);
    CHECK(reg["ksm"]["pages_volatile"] == 2); // checksummed once: in no tree yet
    CHECK(reg["ksm"]["pages_shared"] == 0);

    const ojson& m = checkpoint(st, "merged");
    CHECK(m["percpu"][0]["time_ns"] == wake + 6533);
    CHECK(m["ksmd"]["batches"] == 2);
    CHECK(m["ksmd"]["cputime_ns"] == 2333 + 6533);
    CHECK(m["ksmd"]["next_batch_ns"] == wake_level0(wake + 6533, 20));
    CHECK(m["ksm"]["full_scans"] == 2);
    CHECK(m["ksm"]["pages_shared"] == 1);
    CHECK(m["ksm"]["pages_sharing"] == 1);
    CHECK(m["ksm"]["pages_unshared"] == 0);
    CHECK(m["ksm"]["pages_volatile"] == 0);
    // One page saved, two 64-byte rmap_items spent.
    CHECK(m["ksm"]["general_profit"] == 4096 - 2 * 64);
    const ojson& p = process(m, "p");
    CHECK(p["ksm_rmap_items"] == 2);
    CHECK(p["ksm_merging_pages"] == 2);
    CHECK(p["ksm_process_profit"] == 2 * 4096 - 2 * 64);
    CHECK(p["ksm_mergeable"] == true);
    CHECK(p["ksm_merge_any"] == false);
    // The KSM page: mapped twice, dirty (folio_mark_dirty at the merge), so 8 KiB Shared_Dirty,
    // 4 KiB of Pss; the stack's argument page is the other 4 KiB.
    CHECK(p["KSM"] == 8);
    CHECK(p["Shared_Dirty"] == 8);
    CHECK(p["Rss"] == 12);
    CHECK(p["Pss"] == 8);
    // slabinfo: the rmap_items' cache, its objects the kernel's size (SLAB counts the objects
    // of the CPU's array cache as active, so at least the two).
    bool items = false;
    for (const auto& row : m["slabinfo"])
        if (row["name"] == "ksm_rmap_item") {
            items = true;
            CHECK(row["active_objs"] >= 2);
            CHECK(row["objsize"] == 64);
        }
    CHECK(items);
}

// A write to the merged page breaks the sharing at once for the process (a copy: cow_ksm) but
// KSM's counters move only when ksmd next visits the item: the written page's rmap_item leaves
// the stable node (pages_sharing 0), its new contents give a new checksum (volatile), and a pass
// later, unchanged, it goes into the unstable tree (unshared). The KSM page keeps its one mapping
// (pages_shared 1).
TEST_CASE("ksm: a COW break, counted at ksmd's next visit", "[workloads][ksm]") {
    const ojson st = run_text("t.json", two_pages(R"(,
    {"op": "ksm_wait", "full_scans": 1},
    {"op": "write", "process": "p", "region": "a", "length": 4096, "byte": 1},
    {"op": "checkpoint", "name": "written"},
    {"op": "ksm_wait", "full_scans": 1},
    {"op": "checkpoint", "name": "visited"},
    {"op": "ksm_wait", "full_scans": 1},
    {"op": "read", "process": "p", "region": "a", "length": 4096, "byte": 1},
    {"op": "read", "process": "p", "region": "a", "offset": 4096, "key": "same"},
    {"op": "exit", "process": "p"})"));
    const ojson& w = checkpoint(st, "written");
    CHECK(w["vmstat"]["cow_ksm"] == 1);
    CHECK(w["ksm"]["pages_shared"] == 1);
    CHECK(w["ksm"]["pages_sharing"] == 1);
    CHECK(process(w, "p")["ksm_merging_pages"] == 2);
    const ojson& v = checkpoint(st, "visited");
    CHECK(v["ksm"]["pages_shared"] == 1);
    CHECK(v["ksm"]["pages_sharing"] == 0);
    CHECK(v["ksm"]["pages_volatile"] == 1);
    CHECK(v["ksm"]["pages_unshared"] == 0);
    CHECK(process(v, "p")["ksm_merging_pages"] == 1);
    const ojson& f = st["final"];
    CHECK(f["ksm"]["pages_unshared"] == 1);
    CHECK(f["ksm"]["pages_volatile"] == 0);
    CHECK(st["results"]["expectations"]["failed"] == 0);
}

// Writes wake ksmd as the kernel's stores do: sleep_millisecs ends a sleep only with a new
// value (ksm_iter_wait), run=1 wakes an idle ksmd only once a process is registered
// (ksm_thread_wait), and registering the first mm wakes it too.
TEST_CASE("ksmd: which writes wake it", "[workloads][ksm]") {
    const ojson st = run_text("t.json", R"({"mmemu_scenario": 1, "name": "wake",
  "machine": {"arch": "x86_64", "memory": "256MiB", "cpus": 1},
  "events": [
    {"op": "ksm", "run": 1},
    {"op": "checkpoint", "name": "nothing registered"},
    {"op": "ksm", "run": 0},
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "a", "length": "8KiB"},
    {"op": "write", "process": "p", "region": "a", "key": "same"},
    {"op": "madvise", "process": "p", "region": "a", "advice": "MADV_MERGEABLE"},
    {"op": "checkpoint", "name": "registered with run 0"},
    {"op": "ksm", "run": 1},
    {"op": "checkpoint", "name": "run"},
    {"op": "ksm", "sleep_millisecs": 20},
    {"op": "checkpoint", "name": "same sleep"},
    {"op": "ksm", "sleep_millisecs": 1000},
    {"op": "checkpoint", "name": "new sleep"},
    {"op": "exit", "process": "p"}
  ]})");
    CHECK(checkpoint(st, "nothing registered")["ksmd"]["state"] == "idle");
    CHECK(checkpoint(st, "nothing registered")["ksmd"]["batches"] == 0);
    // Registration wakes ksmd, which finds run 0 and waits again without a batch of work.
    const ojson& r0 = checkpoint(st, "registered with run 0");
    CHECK(r0["ksmd"]["state"] == "idle");
    CHECK(r0["ksm"]["pages_scanned"] == 0);
    const ojson& r = checkpoint(st, "run");
    CHECK(r["ksm"]["pages_scanned"] == 2);
    CHECK(r["ksm"]["full_scans"] == 1);
    const uint64_t batches = r["ksmd"]["batches"];
    const uint64_t next = r["ksmd"]["next_batch_ns"];
    CHECK(checkpoint(st, "same sleep")["ksmd"]["batches"] == batches);
    CHECK(checkpoint(st, "same sleep")["ksmd"]["next_batch_ns"] == next);
    const ojson& n = checkpoint(st, "new sleep");
    CHECK(n["ksmd"]["batches"] == batches + 1);
    CHECK(n["ksm"]["full_scans"] == 2);
    CHECK(n["ksmd"]["next_batch_ns"].get<uint64_t>() > next);
}

// ksm_wait cannot make ksmd work when nothing would wake it: a failure, and no time passes.
TEST_CASE("ksm_wait: ksmd stopped, or scanning nothing", "[workloads][ksm]") {
    const ojson st = run_text("t.json", R"({"mmemu_scenario": 1, "name": "wait",
  "machine": {"arch": "x86_64", "memory": "256MiB", "cpus": 1},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "a", "length": "8KiB"},
    {"op": "madvise", "process": "p", "region": "a", "advice": "MADV_MERGEABLE"},
    {"op": "ksm_wait"},
    {"op": "ksm", "pages_to_scan": 0, "run": 1},
    {"op": "ksm_wait"},
    {"op": "ksm", "pages_to_scan": 100, "max_page_sharing": 1, "run": 3},
    {"op": "ksm_wait", "full_scans": 2, "timeout_ms": 10},
    {"op": "exit", "process": "p"}
  ]})");
    const ojson& f = st["results"]["failures"];
    REQUIRE(f.size() == 5);
    CHECK(f[0]["op"] == "ksm_wait");
    CHECK(f[0]["reason"] == "full_scans did not go up by 1: ksmd is waiting: run is 0");
    CHECK(f[1]["reason"] ==
          "full_scans did not go up by 1: ksmd scans nothing: pages_to_scan is 0");
    CHECK(f[2]["file"] == "/sys/kernel/mm/ksm/max_page_sharing");
    CHECK(f[2]["reason"] == "EINVAL");
    CHECK(f[3]["file"] == "/sys/kernel/mm/ksm/run");
    CHECK(f[3]["reason"] == "EINVAL");
    // 20 ms sleeps: two passes (one batch each) take more than 10 ms.
    CHECK(f[4]["reason"] == "full_scans did not go up by 2: the deadline passed first");
}

// ksmd with no sleep over a long run does one batch after another; past the limit on its work
// (lowered here to 1000 batches) the run stops after that event, with the statistics written.
TEST_CASE("ksmd: the limit on its work stops the run", "[workloads][ksm]") {
    const ojson st = run_text("t.json", R"({"mmemu_scenario": 1, "name": "limit",
  "machine": {"arch": "x86_64", "memory": "256MiB"},
  "kernel": {"ksm": {"run": 1, "sleep_millisecs": 0}},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "a", "length": "8KiB"},
    {"op": "write", "process": "p", "region": "a", "byte": 1},
    {"op": "madvise", "process": "p", "region": "a", "advice": "MADV_MERGEABLE"},
    {"op": "run", "ms": 1000},
    {"op": "exit", "process": "p"}
  ]})",
                              [](Driver& d) { d.system().ksmd()->set_limits(1000000, 1000); });
    REQUIRE(st["results"].contains("limit_reached"));
    CHECK(st["results"]["limit_reached"]["event"] == 4);
    CHECK(st["results"]["limit_reached"]["op"] == "run");
    CHECK(st["results"]["events_run"] == 4);
    // Each batch is one full scan of the two pages here.
    CHECK(st["final"]["ksm"]["full_scans"] == 1001);
}

// The kernel's KSM selftests and LTP's, as scenarios (tests/scenarios/ksm/README.md): every
// expectation holds, with no failure row and no signal.
TEST_CASE("ksm selftests: every scenario of tests/scenarios/ksm passes", "[workloads][ksm]") {
    const std::filesystem::path dir =
        std::filesystem::path(MMEMU_SOURCE_DIR) / "tests/scenarios/ksm";
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() >= 20);
    for (const auto& f : files) {
        INFO(f.filename().string());
        std::ifstream in(f);
        std::stringstream text;
        text << in.rdbuf();
        const ojson st = run_text(f.filename().string(), text.str());
        std::string failed;
        for (const auto& e : st["results"]["expectations"]["failures"])
            failed += "event " + e["event"].dump() + ": " + e["message"].get<std::string>() + "\n";
        INFO(failed);
        CHECK(st["results"]["expectations"]["checked"].get<uint64_t>() > 0);
        CHECK(st["results"]["expectations"]["failed"] == 0);
        CHECK(st["results"]["failures"].dump() == "[]");
        CHECK(st["results"]["signals"].dump() == "[]");
    }
}

// Linux 6.18's count of a child's KSM zero pages: fork copies the parent's per-mm count whole
// and ksm_fork() adds it to the global one, even for pages the child does not get (here the
// first 8 of 16, MADV_DONTFORK). Each PTE unmapped later takes one off both. By hand: 16 in the
// parent; after the fork 16 in the child and 32 globally; the child's exit unmaps its 8 (24 left,
// 8 of them for good); the parent's exit unmaps its 16 (8). The frame audit at the checkpoint
// allows for the 8 the child counts without their PTEs.
TEST_CASE("ksm: a child's inherited zero-page count (MADV_DONTFORK)", "[workloads][ksm]") {
    const ojson st = run_text("t.json", R"({"mmemu_scenario": 1, "name": "zp-dontfork",
  "machine": {"arch": "x86_64", "memory": "256MiB", "cpus": 1},
  "kernel": {"ksm": {"use_zero_pages": 1, "pages_to_scan": 1000, "run": 1}},
  "events": [
    {"op": "spawn", "process": "p"},
    {"op": "mmap", "process": "p", "region": "a", "length": "64KiB"},
    {"op": "write", "process": "p", "region": "a", "byte": 0},
    {"op": "madvise", "process": "p", "region": "a", "advice": "MADV_MERGEABLE"},
    {"op": "ksm_wait", "full_scans": 2},
    {"op": "expect", "values": {"ksm.ksm_zero_pages": 16, "processes.p.ksm_zero_pages": 16}},
    {"op": "madvise", "process": "p", "region": "a", "length": "32KiB", "advice": "MADV_DONTFORK"},
    {"op": "fork", "process": "p", "child": "c"},
    {"op": "expect", "values": {"ksm.ksm_zero_pages": 32, "processes.c.ksm_zero_pages": 16}},
    {"op": "checkpoint", "name": "forked"},
    {"op": "exit", "process": "c"},
    {"op": "expect", "values": {"ksm.ksm_zero_pages": 24}},
    {"op": "exit", "process": "p"},
    {"op": "expect", "values": {"ksm.ksm_zero_pages": 8}}
  ]})");
    CHECK(st["results"]["expectations"]["checked"] == 6);
    CHECK(st["results"]["audits_passed"].get<uint64_t>() >= 2); // the checkpoint's, the end's
    CHECK(st["results"]["expectations"]["failed"] == 0);
}

// The time series against the hand-worked times of the test above: ksmd's first batch runs at
// t0 (the registration's end), its second at `wake` (a jiffy, so a multiple of 4 ms). A sample
// at t shows the batches that started before t: full_scans is 0 up to t0, 1 up to and including
// wake (the sample at wake is taken before the batch that starts then), 2 after. Samples are
// every 4 ms from 0 to the end of the run, each with the counters asked for.
TEST_CASE("time series: samples every 4 ms show ksmd's batches that started before them",
          "[workloads][ksm][timeseries]") {
    std::string text = two_pages(R"(,
    {"op": "ksm_wait", "full_scans": 1},
    {"op": "checkpoint", "name": "merged"},
    {"op": "exit", "process": "p"})");
    const std::string kernel = R"("kernel": {"ksm": {"run": 1}},)";
    text.replace(text.find(kernel), kernel.size(),
                 kernel + R"( "timeseries": {"every_ms": 4, "counters": ["ksm.full_scans",
                 "ksm.pages_shared", "processes.*.Rss"]},)");
    const ojson st = run_text("t.json", text);
    const uint64_t t0 = checkpoint(st, "registered")["percpu"][0]["time_ns"];
    const uint64_t wake = wake_level0(t0 + 2333, 20);
    const uint64_t merged = checkpoint(st, "merged")["percpu"][0]["time_ns"];
    REQUIRE(merged == wake + 6533);
    const uint64_t end = st["final"]["percpu"][0]["time_ns"];
    const ojson& ts = st["timeseries"];
    CHECK(ts["every_ms"] == 4);
    CHECK(ts["truncated"] == false);
    const ojson& samples = ts["samples"];
    REQUIRE(samples.size() == end / (4 * MS) + 1);
    bool saw_wake = false;
    for (size_t i = 0; i < samples.size(); ++i) {
        const ojson& s = samples[i];
        const uint64_t t = uint64_t(s["t_ms"]) * MS;
        INFO("sample " << i << " at " << t << " ns; t0 " << t0 << ", wake " << wake);
        CHECK(t == i * 4 * MS);
        if (t > merged) continue;
        const int scans = t <= t0 ? 0 : t <= wake ? 1 : 2;
        CHECK(s["ksm.full_scans"] == scans);
        CHECK(s["ksm.pages_shared"] == (scans == 2 ? 1 : 0));
        saw_wake |= t == wake;
        // The process exists from the spawn (before t0): two pages written, the stack's page.
        if (t > t0) CHECK(s["processes.0.Rss"] == 12);
    }
    CHECK(saw_wake);
}
