// The mmemu command, run as a user runs it: every kind of bad input gets a message naming the
// file, the line and column, the JSON path and what was expected, exit code 2, and no statistics;
// good input runs and gives byte-identical statistics on a second run.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#ifndef MMEMU_BIN
#error "MMEMU_BIN must point at the mmemu executable"
#endif
#ifndef MMEMU_SOURCE_DIR
#error "MMEMU_SOURCE_DIR must point at the source tree"
#endif

namespace {

struct Result {
    int rc;
    std::string out, err;
};

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string temp_path(const std::string& stem) {
    return "/tmp/mmemu-cli-" + std::to_string(getpid()) + "-" + stem;
}

Result run(const std::string& args) {
    const std::string out = temp_path("out"), err = temp_path("err");
    const std::string cmd = std::string(MMEMU_BIN) + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    Result r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
    std::remove(out.c_str());
    std::remove(err.c_str());
    return r;
}

// Writes a scenario file and returns its path.
std::string scenario(const std::string& name, const std::string& text) {
    const std::string path = temp_path(name + ".json");
    std::ofstream(path) << text;
    return path;
}

const char* kMachine = R"("mmemu_scenario": 1, "machine": {"arch": "x86_64", "memory": "128MiB"})";

std::string with_events(const std::string& events) {
    return std::string("{") + kMachine + R"(, "events": [)" + events + "]}";
}

void require_bad(const Result& r, const std::string& path_and_message) {
    INFO("stderr: " << r.err);
    REQUIRE(r.rc == 2);
    REQUIRE(r.out.empty()); // no statistics written
    REQUIRE(r.err.find(path_and_message) != std::string::npos);
}

} // namespace

TEST_CASE("cli: malformed JSON names the line and column", "[cli]") {
    const auto f = scenario("malformed", "{\n  \"mmemu_scenario\": 1,\n  \"machine\": {,\n}\n");
    const Result r = run("validate " + f);
    // Line 3, column 15 is the stray comma inside "machine": {,
    require_bad(r, f + ":3:15: malformed JSON: expected a member name in double quotes, got ','");
}

TEST_CASE("cli: an unknown field is named by its JSON path", "[cli]") {
    const auto f =
        scenario("unknown-field", std::string("{") + kMachine + R"(, "evnets": [], "events": []})");
    // kMachine is 70 characters after the "{": ", " then "evnets" (8) and ": " put the value
    // at column 1 + 70 + 2 + 8 + 2 + 1 = 84.
    require_bad(run("validate " + f), f + ":1:84: /evnets: unknown field");
}

TEST_CASE("cli: an unknown event is rejected", "[cli]") {
    const auto f = scenario("unknown-op", with_events(R"({"op": "alloc_page", "id": "a"})"));
    require_bad(run("validate " + f), f + ":1:92: /events/0/op: unknown event \"alloc_page\"");
}

TEST_CASE("cli: a wrong type is rejected", "[cli]") {
    const auto f = scenario("wrong-type",
                            with_events(R"({"op": "alloc_pages", "id": "a", "order": "three"})"));
    require_bad(
        run("validate " + f),
        f + ":1:127: /events/0/order: expected an integer from 0 to 10, got the string \"three\"");
}

TEST_CASE("cli: an order above 10 is rejected", "[cli]") {
    const auto f =
        scenario("order", with_events(R"({"op": "alloc_pages", "id": "a", "order": 11})"));
    require_bad(run("validate " + f),
                f + ":1:127: /events/0/order: expected an integer from 0 to 10, got 11");
}

TEST_CASE("cli: memory of 0 is rejected", "[cli]") {
    const auto f =
        scenario("mem0", R"({"mmemu_scenario": 1, "machine": {"memory": 0}, "events": []})");
    require_bad(run("validate " + f),
                f + ":1:45: /machine/memory: expected at least 64MiB of memory, got 0 bytes");
}

TEST_CASE("cli: memory beyond what the arch addresses is rejected", "[cli]") {
    // i386 without PAE has 32-bit physical addresses: 4 GiB at most.
    const auto f = scenario(
        "mem-i386",
        R"({"mmemu_scenario": 1, "machine": {"arch": "i386", "memory": "8GiB"}, "events": []})");
    require_bad(run("validate " + f),
                f + ":1:61: /machine/memory: expected at most 4GiB for arch i386");
}

TEST_CASE("cli: a bad size unit is rejected", "[cli]") {
    const auto f = scenario(
        "unit", R"({"mmemu_scenario": 1, "machine": {"memory": "1 GB-ish"}, "events": []})");
    require_bad(run("validate " + f), f + ":1:45: /machine/memory: expected a size unit");
}

TEST_CASE("cli: an unknown GFP flag is rejected", "[cli]") {
    const auto f = scenario(
        "gfp",
        with_events(R"({"op": "alloc_pages", "id": "a", "gfp": "GFP_KERNEL | __GFP_SHINY"})"));
    require_bad(run("validate " + f), f + ":1:125: /events/0/gfp: expected GFP flags");
    REQUIRE(run("validate " + f).err.find("unknown GFP flag '__GFP_SHINY'") != std::string::npos);
}

TEST_CASE("cli: a free of something never allocated is rejected", "[cli]") {
    const auto f = scenario("never", with_events(R"({"op": "free_pages", "id": "ghost"})"));
    require_bad(run("validate " + f), f + ":1:112: /events/0/id: expected the id of an alloc_pages "
                                          "event, but \"ghost\" was never allocated");
}

TEST_CASE("cli: a double free is rejected", "[cli]") {
    const auto f = scenario("double", with_events(R"({"op": "kmalloc", "id": "k", "size": 64},
        {"op": "kfree", "id": "k"}, {"op": "kfree", "id": "k"})"));
    require_bad(run("validate " + f),
                f + ":2:59: /events/2/id: \"k\" was already freed (double free)");
}

TEST_CASE("cli: validate reports every error, not just the first", "[cli]") {
    const auto f = scenario("many", with_events(R"({"op": "alloc_pages", "id": "a", "order": 12},
        {"op": "free_pages", "id": "b"}, {"op": "teleport"})"));
    const Result r = run("validate " + f);
    REQUIRE(r.rc == 2);
    REQUIRE(r.err.find("/events/0/order") != std::string::npos);
    REQUIRE(r.err.find("/events/1/id") != std::string::npos);
    REQUIRE(r.err.find("/events/2/op") != std::string::npos);
    REQUIRE(r.err.find(": 3 errors") != std::string::npos);
}

TEST_CASE("cli: run writes no statistics file for bad input", "[cli]") {
    const auto f = scenario("nostats", with_events(R"({"op": "free_pages", "id": "x"})"));
    const std::string out = temp_path("stats.json");
    std::remove(out.c_str());
    const Result r = run("run " + f + " -o " + out);
    REQUIRE(r.rc == 2);
    std::ifstream probe(out);
    REQUIRE_FALSE(probe.good());
}

TEST_CASE("cli: a missing file and bad usage exit 2", "[cli]") {
    REQUIRE(run("run /nonexistent/scenario.json").rc == 2);
    REQUIRE(run("run").rc == 2);
    REQUIRE(run("frobnicate").rc == 2);
    REQUIRE(run("run --bogus-option x.json").rc == 2);
}

TEST_CASE("cli: --help and --version", "[cli]") {
    const Result v = run("--version");
    REQUIRE(v.rc == 0);
    REQUIRE(v.out.rfind("mmemu ", 0) == 0);
    REQUIRE(run("--help").out.find("validate SCENARIO") != std::string::npos);
    REQUIRE(run("run --help").out.find("--output") != std::string::npos);
    REQUIRE(run("validate --help").rc == 0);
}

TEST_CASE("cli: --set overrides a field before validation", "[cli]") {
    const auto f = scenario("set", with_events(""));
    const Result r = run("validate " + f + " --set machine.memory=0");
    require_bad(r, f + ": /machine/memory: expected at least 64MiB of memory, got 0 bytes (the "
                       "value given with --set)");
}

TEST_CASE("cli: the bundled example runs and is deterministic", "[cli]") {
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/buddy-and-slab.json";
    const Result a = run("run " + ex);
    const Result b = run("run " + ex);
    REQUIRE(a.rc == 0);
    auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
    REQUIRE(ja["mmemu_stats"] == 1);
    // The host block (wall time, host name) is allowed to differ; nothing else is.
    ja.erase("host");
    jb.erase("host");
    REQUIRE(ja.dump() == jb.dump());
    // The one over-sized kmalloc is a result, not a crash.
    REQUIRE(ja["results"]["failures"].size() == 1);
    REQUIRE(ja["results"]["failures"][0]["op"] == "kmalloc");
    // 1 GiB x86_64: min_free_kbytes = int_sqrt(16 * 4 * (3840 + 249856)) = int_sqrt(16236544) =
    // 4029.
    REQUIRE(ja["boot"]["min_free_kbytes"] == 4029);
}

TEST_CASE("cli: a slab object smaller than a word is rejected", "[cli]") {
    // x86_64: BYTES_PER_WORD is 8, and kmem_cache_create() refuses smaller objects.
    const auto f =
        scenario("tiny", with_events(R"({"op": "kmem_cache_create", "cache": "t", "size": 4})"));
    require_bad(run("validate " + f),
                f + ":1:135: /events/0/size: expected at least 8 bytes (a word: "
                    "kmem_cache_create() BUGs on smaller objects), got 4");
}

TEST_CASE("cli: a write past a red-zoned object is reported on free, not ignored", "[cli]") {
    // A 100-byte object rounds to 104 (a multiple of 8); red zone 2 is the 8 bytes after it, so
    // writing at offset 104 hits it. verify_redzone_free() then sees RED_ACTIVE in red zone 1
    // and a damaged red zone 2: "memory outside object was overwritten".
    const auto f = scenario("redzone", with_events(R"(
        {"op": "kmem_cache_create", "cache": "c", "size": 100, "flags": ["SLAB_POISON", "SLAB_RED_ZONE"]},
        {"op": "kmem_cache_alloc", "cache": "c", "id": "o"},
        {"op": "write_object", "id": "o", "offset": 104, "length": 4, "byte": 255},
        {"op": "kmem_cache_free", "id": "o"})"));
    const Result r = run("run " + f);
    REQUIRE(r.rc == 0);
    const auto j = nlohmann::json::parse(r.out);
    const auto& errs = j["results"]["slab_errors"];
    REQUIRE(errs.size() == 1);
    const std::string msg = errs[0]["message"];
    REQUIRE(msg.find("slab error in verify_redzone_free(): cache `c': memory outside object was "
                     "overwritten") == 0);
    // Red zone 2 read little-endian: the four 0xff bytes land in its low half.
    REQUIRE(msg.find("redzone 2:0xd84156c5ffffffff.") != std::string::npos);
}

TEST_CASE("cli: the bundled bare-machine examples meet every expectation", "[cli][bare]") {
    for (const char* name : {"bare-i386-seed003.json", "bare-x86_64-tlb.json"}) {
        const Result r = run("run " + std::string(MMEMU_SOURCE_DIR) + "/examples/" + name);
        INFO(name << ": " << r.err);
        REQUIRE(r.rc == 0);
        const auto j = nlohmann::json::parse(r.out);
        REQUIRE(j["scenario"]["mode"] == "bare");
        REQUIRE(j["results"]["expectations"]["failed"] == 0);
        REQUIRE(j["results"]["expectations"]["checked"].get<int>() > 5);
    }
}

// The KSM examples check their own counts (expect events, worked out in their descriptions).
TEST_CASE("cli: the bundled KSM examples meet every expectation", "[cli][ksm]") {
    for (const char* name : {"ksm-fleet.json", "ksm-zero-pages.json", "ksm-numa.json"}) {
        const Result r = run("run " + std::string(MMEMU_SOURCE_DIR) + "/examples/" + name);
        INFO(name << ": " << r.err);
        REQUIRE(r.rc == 0);
        const auto j = nlohmann::json::parse(r.out);
        REQUIRE(j["results"]["expectations"]["failed"] == 0);
        REQUIRE(j["results"]["expectations"]["checked"].get<int>() >= 4);
        REQUIRE(j["final"]["ksm"]["full_scans"].get<int>() >= 2);
    }
}

TEST_CASE("cli: a failed expectation is reported and exits 1", "[cli][bare]") {
    // Paging is off on a fresh bare machine, so linear 0x5000 is physical 0x5000, not 0x6000.
    const auto f = scenario("expect-fail", R"({"mmemu_scenario": 1, "mode": "bare",
        "machine": {"arch": "x86_64", "memory": "64MiB"},
        "events": [{"op": "access", "type": "read", "la": "0x5000", "expect": {"pa": "0x6000"}}]})");
    const Result r = run("run " + f);
    REQUIRE(r.rc == 1);
    const auto j = nlohmann::json::parse(r.out);
    REQUIRE(j["results"]["expectations"]["failed"] == 1);
    REQUIRE(j["results"]["expectations"]["failures"][0]["message"] ==
            "expected pa 0x6000, got 0x5000");
}

TEST_CASE("cli: bare-machine input errors", "[cli][bare]") {
    const std::string head =
        R"({"mmemu_scenario": 1, "mode": "bare", "machine": {"memory": "64MiB"}, "events": [)";
    require_bad(run("validate " + scenario("bare-kernel-op",
                                           head + R"({"op": "kmalloc", "id": "k", "size": 8}]})")),
                "/events/0/op: unknown bare-machine event \"kmalloc\"");
    require_bad(run("validate " +
                    scenario("bare-cr2", head + R"({"op": "set_cr", "cr": 2, "value": 0}]})")),
                "/events/0/cr: expected 0, 3 or 4");
    require_bad(run("validate " +
                    scenario("bare-phys",
                             head + R"({"op": "write_phys", "addr": "0x4000000", "u32": [1]}]})")),
                "/events/0/addr: expected an address inside the machine's 67108864 bytes of RAM");
    require_bad(
        run("validate " +
            scenario(
                "bare-kernel",
                R"({"mmemu_scenario": 1, "mode": "bare", "machine": {"memory": "64MiB"}, "kernel": {}, "events": []})")),
        "/kernel: a bare-machine scenario has no kernel");
}

TEST_CASE("cli: explain reads 0x08048568 as seed 003 does", "[cli][explain]") {
    const Result r = run("explain 0x08048568 --arch i386");
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    // 0x08048568 >> 22 = 0x20 = 32; (0x08048568 >> 12) & 0x3ff = 0x48 = 72; & 0xfff = 0x568.
    REQUIRE(r.out.find("bits 31:22 = 0x20    (32)  page-directory (PGD) index") !=
            std::string::npos);
    REQUIRE(r.out.find("bits 21:12 = 0x48    (72)  page-table index") != std::string::npos);
    REQUIRE(r.out.find("bits 11:0  = 0x568") != std::string::npos);
    // Two entries (PDE, PTE) and the data itself.
    REQUIRE(r.out.find("Memory references: 3 (2 paging-structure entries, then the data)") !=
            std::string::npos);
    REQUIRE(r.out.find("Physical address 0x00200568") != std::string::npos);
}

TEST_CASE("cli: explain on a scenario's tables at a checkpoint, and its errors", "[cli][explain]") {
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/bare-i386-seed003.json";
    const Result r = run("explain 0x08049000 --scenario " + ex + " --checkpoint end --type write");
    REQUIRE(r.rc == 0);
    // PTE 73 maps 0x301000 read-only (0x00301005): a user write faults with P|W|U = 0x7.
    REQUIRE(r.out.find("Fault: #PF, error code 0x7") != std::string::npos);
    REQUIRE(r.out.find("user-mode write to a read-only page") != std::string::npos);
    REQUIRE(run("explain 0x08049000 --scenario " + ex + " --checkpoint nope").rc == 2);
    REQUIRE(run("explain 0x800000000000 --arch x86_64").rc == 2); // not canonical
    REQUIRE(run("explain 0x100000000 --arch i386").rc == 2);      // beyond 32 bits
    REQUIRE(run("explain banana").rc == 2);
    REQUIRE(run("explain 0x1000 --arch vax").rc == 2);
}

TEST_CASE("cli: LLDT and a segment load through the LDT", "[cli][bare]") {
    // GDT entry 1 (selector 0x8): an LDT descriptor, base 0x3000, limit 0x17 (three entries):
    // 0x0000820030000017 = limit 0x17, base 0x3000, type 2 (LDT), P=1. LDT entry 0 is a flat
    // DPL-3 data segment; selector 0x7 (index 0, TI=1, RPL 3) loads it. Entry 1 is empty, so
    // selector 0xf faults #GP with error code 0xc (the selector without its RPL bits).
    const auto f = scenario(
        "ldt",
        R"({"mmemu_scenario": 1, "mode": "bare", "machine": {"arch": "i386", "memory": "64MiB"},
        "events": [
          {"op": "write_phys", "addr": "0x2000", "u64": ["0", "0x0000820030000017"]},
          {"op": "lgdt", "base": "0x2000", "limit": 15},
          {"op": "load_segment", "reg": "ldtr", "selector": "0x8", "cpl": 0, "expect": {}},
          {"op": "write_phys", "addr": "0x3000", "u64": ["0x00cff2000000ffff"]},
          {"op": "load_segment", "reg": "ds", "selector": "0x7", "cpl": 3, "expect": {}},
          {"op": "load_segment", "reg": "ds", "selector": "0xf", "cpl": 3, "expect": {"fault": "#GP", "error_code": "0xc"}}]})");
    const Result r = run("run " + f);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    REQUIRE(nlohmann::json::parse(r.out)["results"]["expectations"]["checked"] == 3);
}

// ---- Hostile input, class by class: each through the real command -----------------------------

TEST_CASE("cli: a number a double cannot hold is an error in run, validate and explain",
          "[cli][hostile]") {
    // `{"mmemu_scenario": 1, "machine": {"memory": ` is 44 characters: 1e400 is at column 45.
    const auto f =
        scenario("e400", R"({"mmemu_scenario": 1, "machine": {"memory": 1e400}, "events": []})");
    for (const std::string& cmd : {"run " + f, "validate " + f, "explain 0x1000 --scenario " + f})
        require_bad(run(cmd), f + ":1:45: malformed JSON: expected a number a double can hold, got "
                                  "1e400");
    // Anywhere: deep inside an event too.
    const auto g =
        scenario("e400b", with_events(R"({"op": "kmalloc", "id": "k", "size": -2e999})"));
    REQUIRE(run("validate " + g).rc == 2);
}

TEST_CASE("cli: a key given twice is an error naming both places", "[cli][hostile]") {
    const auto f = scenario("dupkey", "{\"mmemu_scenario\": 1,\n \"machine\": {\"memory\": "
                                      "\"128MiB\", \"cpus\": 1, \"cpus\": 2},\n \"events\": []}");
    // Line 2 is ` "machine": {"memory": "128MiB", "cpus": 1, "cpus": 2},`: a space, "machine"
    // (9), ": {" (3), "memory" (8), ": " (2), "128MiB" (8), ", " (2) put the first "cpus" at
    // column 1 + 9 + 3 + 8 + 2 + 8 + 2 + 1 = 34; "cpus": 1, (10 more) the second at 45.
    require_bad(run("validate " + f), f + ":2:45: malformed JSON: expected each key once per "
                                          "object, but \"cpus\" appears again (first at line 2, "
                                          "column 34)");
}

TEST_CASE("cli: a scenario must be a regular file of bounded size", "[cli][hostile]") {
    require_bad(run("run /dev/zero"), "/dev/zero: the scenario is not a regular file (it is a "
                                      "character device)");
    require_bad(run("validate /tmp"), "/tmp: the scenario is not a regular file (it is a "
                                      "directory)");
    const std::string fifo = temp_path("fifo.json");
    std::remove(fifo.c_str());
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    require_bad(run("run " + fifo), "the scenario is not a regular file (it is a pipe)");
    std::remove(fifo.c_str());
    // 16 MiB is the limit: one byte more is refused before it is read.
    const std::string big = temp_path("big.json");
    {
        std::ofstream out(big);
        out << std::string((16u << 20) + 1, ' ');
    }
    require_bad(run("validate " + big), "mmemu reads scenario files of at most 16 MiB");
    std::remove(big.c_str());
}

TEST_CASE("cli: what validate accepts, run runs", "[cli][hostile]") {
    // Four nodes on 64 MiB: 16 MiB each; each node's mem_map that does not fit falls back to
    // any node's memory (memblock_alloc_try_nid), and the machine boots.
    const auto f = scenario("numa4", R"({"mmemu_scenario": 1, "machine": {"memory": "64MiB",
        "numa": {"nodes": 4}}, "events": [{"op": "alloc_pages", "id": "a", "count": 10}]})");
    REQUIRE(run("validate " + f).rc == 0);
    Result r = run("run " + f);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    REQUIRE(nlohmann::json::parse(r.out)["machine"]["nodes"].size() == 4);
    // min_free_kbytes above RAM (the sysctl has no upper bound): every zone's min watermark is
    // above its managed pages, so allocations fail, as results.
    const auto g = scenario("minfree", R"({"mmemu_scenario": 1, "machine": {"memory": "128MiB"},
        "kernel": {"min_free_kbytes": 1000000},
        "events": [{"op": "alloc_pages", "id": "a", "count": 10}]})");
    REQUIRE(run("validate " + g).rc == 0);
    r = run("run " + g);
    REQUIRE(r.rc == 0);
    const auto st = nlohmann::json::parse(r.out);
    REQUIRE(st["boot"]["min_free_kbytes"] == 1000000);
    REQUIRE(st["results"]["failures"].size() == 1);
    REQUIRE(st["results"]["failures"][0]["count"] == 10);
}

TEST_CASE("cli: a write that corrupts a slab's free list stops the run with exit 4",
          "[cli][hostile]") {
    // 201 objects of 64 bytes make four slabs of 59; freeing 200 puts them back (free_block()
    // rewrites their kmem_bufctl_t chains); 64 KiB of 0x07 from the first object then overwrites
    // the on-slab management of the slabs after it, so the next refill reads
    // kmem_bufctl_t = 0x07070707, beyond the 59 objects: SLAB's check_slabp() would BUG().
    const auto f = scenario("corrupt", R"({"mmemu_scenario": 1, "machine": {"memory": "128MiB"},
      "kernel": {"slab_debug": "off"}, "events": [
       {"op": "kmem_cache_create", "cache": "c", "size": 64},
       {"op": "kmem_cache_alloc", "cache": "c", "id": "a"},
       {"op": "kmem_cache_alloc", "cache": "c", "id": "b", "count": 200},
       {"op": "kmem_cache_free", "id": "b"},
       {"op": "write_object", "id": "a", "offset": 0, "length": 65536, "byte": 7},
       {"op": "kmem_cache_alloc", "cache": "c", "id": "d", "count": 200},
       {"op": "checkpoint", "name": "never"}]})");
    const Result r = run("run " + f);
    INFO(r.err);
    REQUIRE(r.rc == 4);
    REQUIRE(r.err.find("the emulated kernel hit a BUG at event 5 (kmem_cache_alloc)") !=
            std::string::npos);
    const auto st = nlohmann::json::parse(r.out); // the statistics are still written
    REQUIRE(st["results"]["events_run"] == 5);
    REQUIRE(st["results"]["kernel_bug"]["event"] == 5);
    REQUIRE(st["results"]["kernel_bug"]["message"].get<std::string>().find(
                "slab: Internal list corruption detected in cache 'c'(59)") == 0);
    REQUIRE(st["checkpoints"].empty()); // the run stopped before it
}

TEST_CASE("cli: identical failures of one event are one row", "[cli][hostile]") {
    // 128 MiB cannot hold 100000 blocks of 4 MiB: the first ones succeed, the rest fail for the
    // same reason and make one row, not 99975.
    const auto f = scenario("agg", with_events(R"({"op": "alloc_pages", "id": "a", "order": 10,
                                                   "count": 100000})"));
    const Result r = run("run --compact " + f);
    REQUIRE(r.rc == 0);
    REQUIRE(r.out.size() < 100000);
    const auto st = nlohmann::json::parse(r.out);
    const auto& fl = st["results"]["failures"];
    REQUIRE(fl.size() == 1);
    const uint64_t n = fl[0]["count"], first = fl[0]["first"], last = fl[0]["last"];
    REQUIRE(last == 99999);
    REQUIRE(n == last - first + 1);
    REQUIRE(st["results"]["page_allocator"]["alloc_fail"] == n);
    REQUIRE(st["results"]["page_allocator"]["alloc_success"].get<uint64_t>() >= first);
}

TEST_CASE("cli: write_object through a failed or zero-size kmalloc", "[cli][hostile]") {
    // kmalloc(0) returns ZERO_SIZE_PTR: a write through it would oops, so it is an input error.
    const auto f = scenario("zero", with_events(R"({"op": "kmalloc", "id": "z", "size": 0},
        {"op": "write_object", "id": "z", "length": 1, "byte": 1})"));
    require_bad(run("validate " + f), "/events/1/id: the id holds ZERO_SIZE_PTR");
    // A kmalloc that fails at run time (above KMALLOC_MAX_SIZE) leaves nothing to write through:
    // a failure row of the write, after the kmalloc's own.
    const auto g = scenario("failed", with_events(R"({"op": "kmalloc", "id": "h", "size": 8388608},
        {"op": "write_object", "id": "h", "length": 1, "byte": 1})"));
    const Result r = run("run " + g);
    REQUIRE(r.rc == 0);
    const auto fl = nlohmann::json::parse(r.out)["results"]["failures"];
    REQUIRE(fl.size() == 2);
    REQUIRE(fl[1]["op"] == "write_object");
    REQUIRE(fl[1]["reason"].get<std::string>().find("its allocation failed") != std::string::npos);
}

TEST_CASE("cli: -o must name another file", "[cli][hostile]") {
    const auto f = scenario("outself", with_events(""));
    const std::string before = slurp(f);
    require_bad(run("run " + f + " -o ''"), "-o/--output needs a file name");
    require_bad(run("run " + f + " -o " + f), "that is the scenario file");
    REQUIRE(slurp(f) == before);
    REQUIRE(run("run " + f + " -o /dev/null").rc == 0); // a device is a fine output
}

TEST_CASE("cli: help topics and explain's arguments", "[cli][hostile]") {
    Result r = run("help explain");
    REQUIRE(r.rc == 0);
    REQUIRE(r.out.find("--checkpoint") != std::string::npos);
    REQUIRE(run("help run").out.find("--no-audit") != std::string::npos);
    REQUIRE(run("help statistics").out.find("### `state.meminfo`") != std::string::npos);
    r = run("help foo");
    REQUIRE(r.rc == 2);
    REQUIRE(r.err.find("no help on \"foo\"") != std::string::npos);
    // Numbers on the command line read as in scenarios: 010 is ten, not octal eight.
    r = run("explain 010 --arch i386");
    REQUIRE(r.rc == 0);
    REQUIRE(r.out.find("Linear address 0x0000000a") != std::string::npos);
    require_bad(run("explain 0x1000 --checkpoint end"), "--checkpoint needs --scenario");
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/bare-i386-seed003.json";
    require_bad(run("explain 0x1000 --scenario " + ex + " --cpu -1"),
                "--cpu expects a CPU of the scenario's machine (0 to 0), got \"-1\"");
    require_bad(run("explain 0x1000 --scenario " + ex + " --cpu 1"), "got \"1\"");
}

TEST_CASE("cli: an operand across a page boundary is translated on both pages first",
          "[cli][bare]") {
    // i386 paging, one page table: la 0x1000 -> 0x5000 and 0x2000 -> 0x9000, 0x3000 absent.
    // A 4-byte write at 0x1ffe lands 2 bytes at 0x5ffe and 2 at 0x9000; one at 0x2ffe faults
    // on 0x3000 (#PF, not present, write: error code 0x2) and writes nothing at 0x9ffe.
    const auto f = scenario("split", R"({"mmemu_scenario": 1, "mode": "bare",
      "machine": {"arch": "i386", "memory": "64MiB"}, "events": [
        {"op": "write_phys", "addr": "0x100000", "u32": ["0x101003"]},
        {"op": "write_phys", "addr": "0x101004", "u32": ["0x5003", "0x9003"]},
        {"op": "set_cr", "cr": 3, "value": "0x100000"},
        {"op": "set_cr", "cr": 0, "value": "0x80000001"},
        {"op": "access", "type": "write", "la": "0x1ffe", "size": 4, "value": "0xaabbccdd",
         "expect": {"pa": "0x5ffe"}},
        {"op": "expect_phys", "addr": "0x5ffe", "bytes": "ddcc"},
        {"op": "expect_phys", "addr": "0x9000", "bytes": "bbaa"},
        {"op": "access", "type": "write", "la": "0x2ffe", "size": 4, "value": "0x11223344",
         "expect": {"fault": "#PF", "error_code": "0x2"}},
        {"op": "expect_phys", "addr": "0x9ffe", "bytes": "0000"}]})");
    const Result r = run("run " + f);
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    const auto st = nlohmann::json::parse(r.out);
    REQUIRE(st["results"]["expectations"]["checked"] == 5);
    REQUIRE(st["results"]["accesses"][0]["result"]["split_pa"] == "0x9000");
}

// The concurrent mode (--concurrent): a thread per vCPU and ksmd beside them. The numbers move
// from run to run; what must hold is what the invariant checker and the reads check.
TEST_CASE("cli: the concurrent mode's stress scenario keeps every byte and every frame",
          "[cli][concurrent]") {
    const std::string f =
        std::string(MMEMU_SOURCE_DIR) + "/tests/scenarios/concurrent/ksm-stress.json";
    const Result r = run("run --concurrent " + f);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    const auto j = nlohmann::json::parse(r.out);
    const auto& res = j["results"];
    // 4 spawns, 2 prctls, 4 mmaps, 2 madvises, 12 rounds of 32 events, then 1 + 1 + 4 + 4.
    CHECK(res["events_run"] == 4 + 2 + 4 + 2 + 12 * 32 + 10);
    CHECK(res["failures"].empty());
    CHECK(res["signals"].empty());
    // Every read with a generator is an expectation: 4 + 1 + 1 + 1 + 1 + 2 per round, 4 at the
    // end; the audit at the checkpoint and at the end.
    CHECK(res["expectations"]["checked"] == 12 * 10 + 4);
    CHECK(res["expectations"]["failed"] == 0);
    CHECK(res["audits_passed"] == 2);
    // ksmd ran beside the processes: it finished passes and merged pages.
    const auto& ksm = j["checkpoints"][0]["state"]["ksm"];
    CHECK(ksm["full_scans"].get<int>() >= 2);
    CHECK(ksm["pages_shared"].get<int>() > 0);
}

// One process's four threads on four CPUs (tests/scenarios/concurrent/threads-stress.json).
// At its end t2 and t3 both write where the process may only read. In the deterministic mode
// t2's write comes first: its SIGSEGV ends the process, and its 13 later events (t3's write of
// that round, then 4 writes in each of 3 rounds) find it killed. In the concurrent mode the
// first CPU to fault wins: one SIGSEGV, from t2 or t3 (a second fatal fault finds the process
// exiting), and every failure is an event of the killed process.
TEST_CASE("cli: a process's threads on different CPUs, and the SIGSEGV that ends them",
          "[cli][concurrent]") {
    const std::string f =
        std::string(MMEMU_SOURCE_DIR) + "/tests/scenarios/concurrent/threads-stress.json";
    for (const bool concurrent : {false, true}) {
        CAPTURE(concurrent);
        const Result r = run(std::string("run ") + (concurrent ? "--concurrent " : "") + f);
        INFO(r.err);
        REQUIRE(r.rc == 0);
        const auto res = nlohmann::json::parse(r.out)["results"];
        CHECK(res["expectations"]["failed"] == 0);
        CHECK(res["audits_passed"] == 3); // the two checkpoints and the end
        REQUIRE(res["signals"].size() == 1);
        CHECK(res["signals"][0]["signal"] == "SIGSEGV");
        CHECK(res["signals"][0]["si_code"] == "SEGV_ACCERR");
        for (const auto& fl : res["failures"])
            CHECK(fl["reason"] == "ESRCH: the process was killed (SIGSEGV)");
        if (!concurrent) {
            CHECK(res["signals"][0]["process"] == "t2");
            CHECK(res["failures"].size() == 13);
        } else {
            const std::string who = res["signals"][0]["process"];
            CHECK((who == "t2" || who == "t3"));
        }
    }
}

TEST_CASE("cli: the concurrent mode's errors", "[cli][concurrent]") {
    const auto bare = scenario("concurrent-bare", R"({"mmemu_scenario": 1, "mode": "bare",
        "machine": {"arch": "x86_64", "memory": "64MiB"}, "events": []})");
    require_bad(run("run --concurrent " + bare), "--concurrent needs a kernel scenario");
    // ksm_wait with ksmd stopped says so at once, as in the deterministic mode.
    const auto idle = scenario("concurrent-idle", with_events(R"(
        {"op": "spawn", "process": "p"},
        {"op": "prctl", "process": "p", "option": "PR_SET_MEMORY_MERGE", "arg2": 1},
        {"op": "ksm_wait", "full_scans": 1},
        {"op": "exit", "process": "p"})"));
    const Result r = run("run --concurrent " + idle);
    REQUIRE(r.rc == 0);
    const auto j = nlohmann::json::parse(r.out);
    REQUIRE(j["results"]["failures"].size() == 1);
    CHECK(j["results"]["failures"][0]["reason"] ==
          "full_scans did not go up by 1: ksmd is waiting: run is 0");
}

TEST_CASE("cli: a write_object that scribbles over other kernel memory stops the run with exit 4",
          "[cli][hostile]") {
    // 64 KiB from a 64-byte object runs far past its slab, over whatever the buddy allocator
    // put next to it, here p's page tables among it: the next walk of them finds an entry
    // beyond RAM. Linux would crash somewhere after such a write; mmemu stops where it finds
    // the damage and names the write, as a kernel BUG (exit 4), not as a bug of its own (70).
    const auto f = scenario("scribble", R"({"mmemu_scenario": 1,
      "machine": {"memory": "128MiB", "cpus": 2}, "kernel": {"slab_debug": "off"}, "events": [
       {"op": "spawn", "process": "p", "cpu": 1},
       {"op": "mmap", "process": "p", "region": "h", "length": "8MiB"},
       {"op": "write", "process": "p", "region": "h", "byte": 3},
       {"op": "kmem_cache_create", "cache": "c", "size": 64},
       {"op": "kmem_cache_alloc", "cache": "c", "id": "a"},
       {"op": "kmem_cache_alloc", "cache": "c", "id": "b", "count": 200},
       {"op": "kmem_cache_free", "id": "b"},
       {"op": "write_object", "id": "a", "offset": 0, "length": 65536, "byte": 7},
       {"op": "write", "process": "p", "region": "h", "byte": 4},
       {"op": "kmem_cache_alloc", "cache": "c", "id": "d", "count": 200},
       {"op": "write", "process": "p", "region": "h", "byte": 5},
       {"op": "checkpoint", "name": "never"}]})");
    for (const char* mode : {"", "--concurrent "}) {
        const Result r = run(std::string("run ") + mode + f);
        INFO(mode << r.err);
        REQUIRE(r.rc == 4);
        const auto st = nlohmann::json::parse(r.out);
        CHECK(st["results"]["kernel_bug"]["message"].get<std::string>().find(
                  "the kernel's state is corrupt: the write_object of event 7 wrote past its "
                  "slab") == 0);
        CHECK(st["checkpoints"].empty());
    }
}

TEST_CASE("cli: the manifest, --seed and --sections", "[cli][compare]") {
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/buddy-and-slab.json";
    const Result r = run("run " + ex + " --seed 0x10 --set kernel.min_free_kbytes=8000");
    REQUIRE(r.rc == 0);
    const auto j = nlohmann::json::parse(r.out);
    const auto& m = j["manifest"];
    REQUIRE(m["mmemu_version"].is_string());
    CHECK(m["seed"] == 16);
    CHECK(j["scenario"]["seed"] == 16);
    // --set first, then --seed, as given.
    CHECK(m["overrides"] == nlohmann::json({"kernel.min_free_kbytes=8000", "seed=16"}));
    CHECK(j["boot"]["min_free_kbytes"] == 8000);
    // The hash is of the file's bytes, as coreutils computes it.
    const Result sum = [&] {
        const std::string out = temp_path("sum");
        std::system(("sha256sum " + ex + " >" + out).c_str());
        Result s{0, slurp(out), ""};
        std::remove(out.c_str());
        return s;
    }();
    REQUIRE(sum.out.size() > 64);
    CHECK(m["scenario_sha256"] == sum.out.substr(0, 64));
    CHECK_FALSE(j["host"].contains("mmemu_version")); // the host block holds host facts only

    // --sections keeps what it names, or leaves out what it names with '-'.
    const auto keys = [](const std::string& out) {
        std::vector<std::string> k;
        const auto doc = nlohmann::ordered_json::parse(out);
        for (const auto& [key, v] : doc.items()) k.push_back(key);
        return k;
    };
    const Result some = run("run " + ex + " --sections results,final --compact");
    REQUIRE(some.rc == 0);
    CHECK(keys(some.out) == std::vector<std::string>{"mmemu_stats", "final", "results"});
    const Result most = run("run " + ex + " --sections -host,-checkpoints,-boot --compact");
    REQUIRE(most.rc == 0);
    CHECK(keys(most.out) == std::vector<std::string>{"mmemu_stats", "manifest", "scenario",
                                                     "machine", "final", "results"});
    require_bad(run("run " + ex + " --sections final,-host"), "not both");
    require_bad(run("run " + ex + " --sections finale"), "unknown section \"finale\"");
    require_bad(run("run " + ex + " --sections ''"), "unknown section \"\"");
    require_bad(run("run " + ex + " --seed -1"), "--seed expects a non-negative integer");
    // A --set value must be UTF-8 text, as every JSON string is (the fuzzer found this).
    require_bad(run("validate " + ex + " --set \"name=$(printf 'a\\247')\""),
                "--set expects UTF-8 text");
    require_bad(run("validate " + ex + " --seed 18446744073709551616"),
                "--seed expects a non-negative integer");
}

TEST_CASE("cli: compare two runs: 0 when equal, 1 with a table of differences, 2 on bad input",
          "[cli][compare]") {
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/buddy-and-slab.json";
    const std::string a = temp_path("a.json"), b = temp_path("b.json"), c = temp_path("c.json");
    REQUIRE(run("run " + ex + " -o " + a).rc == 0);
    REQUIRE(run("run " + ex + " -o " + b).rc == 0); // another host block: skipped
    REQUIRE(run("run " + ex + " -o " + c + " --set kernel.min_free_kbytes=8000").rc == 0);
    Result r = run("compare " + a + " " + b);
    INFO(r.out << r.err);
    CHECK(r.rc == 0);
    CHECK(r.out.find("no differences") == 0);
    r = run("compare " + a + " " + c);
    CHECK(r.rc == 1);
    // 4029 (1 GiB x86_64, by the kernel's formula) against the 8000 given.
    CHECK(r.out.find("boot.min_free_kbytes") != std::string::npos);
    CHECK(r.out.find("+3971 (+98.56%)") != std::string::npos);
    CHECK(r.out.find("note: the runs' seeds or --set overrides differ") != std::string::npos);
    // Ignoring everything that moved leaves nothing.
    r = run("compare " + a + " " + c +
            " --ignore boot --ignore '**.zoneinfo' --ignore "
            "'**.meminfo.MemAvailable' --format json");
    const auto j = nlohmann::json::parse(r.out);
    CHECK(r.rc == (j["ok"] == true ? 0 : 1));
    CHECK(j["differences"].size() < 1000);

    // Bad input: exit 2 and a message.
    require_bad(run("compare " + a), "compare needs two statistics files");
    require_bad(run("compare " + a + " /nonexistent.json"), "cannot open the statistics file");
    require_bad(run("compare " + a + " /tmp"), "not a regular file");
    require_bad(run("compare " + a + " /dev/zero"), "a character device");
    require_bad(run("compare " + a + " " + ex), "not mmemu statistics");
    const auto bad = scenario("badstats", "{\"mmemu_stats\": 1,\n  \"final\": [1,}\n");
    require_bad(run("compare " + a + " " + bad), bad + ":2:15: malformed JSON");
    const auto v2 = scenario("v2", "{\"mmemu_stats\": 2}");
    require_bad(run("compare " + a + " " + v2), "different statistics format versions (1 and 2)");
    require_bad(run("compare " + a + " " + b + " --tolerance final=rel:-1"),
                "expected a non-negative decimal number");
    require_bad(run("compare " + a + " " + b + " --tolerance final"), "expected PATH=rel:FRACTION");
    require_bad(run("compare " + a + " " + b + " --ignore a..b"), "an empty component");
    require_bad(run("compare " + a + " " + b + " --format yaml"), "--format expects text or json");
    for (const auto& f : {a, b, c}) std::remove(f.c_str());
}

TEST_CASE("cli: every bundled scenario run twice gives byte-identical statistics",
          "[cli][determinism]") {
    std::vector<std::string> examples;
    for (const auto& e :
         std::filesystem::directory_iterator(std::string(MMEMU_SOURCE_DIR) + "/examples"))
        if (e.is_regular_file() && e.path().extension() == ".json")
            examples.push_back(e.path().string());
    REQUIRE(examples.size() >= 10);
    for (const auto& ex : examples) {
        INFO(ex);
        const Result a = run("run " + ex + " --sections -host");
        const Result b = run("run " + ex + " --sections -host");
        REQUIRE(a.rc == 0);
        REQUIRE(b.rc == 0);
        CHECK(a.out.size() > 1000);
        CHECK(a.out == b.out);
    }
}

TEST_CASE("cli: show prints a run's state as /proc files; its errors exit 2", "[cli][show]") {
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/buddy-and-slab.json";
    const std::string a = temp_path("show.json");
    REQUIRE(run("run " + ex + " -o " + a).rc == 0);
    Result r = run("show " + a + " buddyinfo slabinfo");
    INFO(r.err);
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("## buddyinfo\nNode 0, zone      DMA ") == 0);
    CHECK(r.out.find("\n## slabinfo\nslabinfo - version: 2.1\n") != std::string::npos);
    r = run("show " + a + " meminfo");
    CHECK(r.out.find("MemTotal:") == 0);
    CHECK(r.out.find(" kB\n") == 24); // "MemTotal:" padded to 16, the value in 8 columns
    require_bad(run("show"), "show needs a statistics file");
    require_bad(run("show " + a + " slabinf"), "unknown section \"slabinf\"");
    require_bad(run("show " + a + " --checkpoint nowhere"), "no checkpoint named \"nowhere\"");
    require_bad(run("show " + ex), "not mmemu statistics");
    require_bad(run("show /dev/null"), "not a regular file");
    std::remove(a.c_str());
}

TEST_CASE("cli: the statistics keep each /proc-style row on one line", "[cli][show]") {
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/buddy-and-slab.json";
    const Result pretty = run("run " + ex + " --sections final");
    const Result compact = run("run " + ex + " --sections final --compact");
    REQUIRE(pretty.rc == 0);
    CHECK(nlohmann::json::parse(pretty.out) == nlohmann::json::parse(compact.out));
    const auto j = nlohmann::json::parse(compact.out);
    // Each slabinfo row is one line: its name and its last field on the same line.
    REQUIRE(j["final"]["slabinfo"].size() > 20);
    for (const auto& row : j["final"]["slabinfo"]) {
        const std::string name = "{\"name\": " + row["name"].dump() + ", ";
        const size_t at = pretty.out.find(name);
        REQUIRE(at != std::string::npos);
        const size_t eol = pretty.out.find('\n', at);
        CHECK(pretty.out.substr(at, eol - at).find("\"sharedavail\": ") != std::string::npos);
    }
    CHECK(pretty.out.find(R"({"node": 0, "zone": "DMA", "nr_free": [)") != std::string::npos);
}

TEST_CASE("cli: a progress line on a terminal only, and none with --quiet", "[cli][progress]") {
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/buddy-and-slab.json";
    // Not a terminal: nothing on stderr.
    const Result plain = run("run " + ex + " -o /dev/null");
    REQUIRE(plain.rc == 0);
    CHECK(plain.err.empty());
    // A terminal (script(1) runs it on a pseudo-terminal and records what it printed).
    const auto on_tty = [&](const std::string& extra) {
        const std::string log = temp_path("typescript");
        const std::string cmd = "script -qec '" + std::string(MMEMU_BIN) + " run " + ex +
                                " -o /dev/null" + extra + "' " + log + " >/dev/null 2>&1";
        REQUIRE(std::system(cmd.c_str()) == 0);
        const std::string text = slurp(log);
        std::remove(log.c_str());
        return text;
    };
    const std::string shown = on_tty("");
    // The first event draws the line; the last redraws it (the ETA then 0) and it is erased.
    CHECK(shown.find("\rmmemu: event 1/") != std::string::npos);
    CHECK(shown.find("(100%), virtual ") != std::string::npos);
    CHECK(shown.find("ETA 0.0 s") != std::string::npos);
    CHECK(shown.find("\r\033[K") != std::string::npos);
    CHECK(on_tty(" --quiet").find("mmemu: event") == std::string::npos);
}

TEST_CASE("cli: sweep runs a grid, and emits it for GNU parallel and Slurm", "[cli][sweep]") {
    const std::string ex = std::string(MMEMU_SOURCE_DIR) + "/examples/buddy-and-slab.json";
    const std::string dir = temp_path("sweep");
    std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str());
    const std::string grid = dir + "/grid.json";
    std::ofstream(grid) << R"({"mmemu_sweep": 1, "scenario": ")" + ex + R"(",
      "parameters": {"kernel.min_free_kbytes": [4096, 8192]}, "seeds": [1, 2],
      "summary": ["boot.min_free_kbytes", "manifest.seed", "manifest.overrides"]})";
    Result r = run("sweep " + grid + " -o " + dir + "/out --jobs 2");
    INFO(r.out << r.err);
    REQUIRE(r.rc == 0);
    // The points in order (the first parameter slowest, then the seeds), each value what was
    // asked for; the overrides column is a JSON array (quoted for CSV).
    const std::string expected =
        "point,kernel.min_free_kbytes,seed,exit,boot.min_free_kbytes,manifest.seed,manifest."
        "overrides\n"
        "0,4096,1,0,4096,1,\n1,4096,2,0,4096,2,\n2,8192,1,0,8192,1,\n3,8192,2,0,8192,2,\n";
    CHECK(slurp(dir + "/out/summary.csv") == expected);
    // A point's statistics are those of the same run made by hand.
    REQUIRE(run("run " + ex + " --set kernel.min_free_kbytes=8192 --seed 1 --sections -host -o " +
                dir + "/by-hand.json")
                .rc == 0);
    CHECK(slurp(dir + "/out/points/0002.json") == slurp(dir + "/by-hand.json"));

    // GNU parallel runs the emitted commands; --summarize then makes the same summary.
    r = run("sweep " + grid + " -o " + dir + "/par --emit parallel");
    REQUIRE(r.rc == 0);
    REQUIRE(std::system(("parallel --will-cite -j 2 < " + dir + "/par/jobs.txt").c_str()) == 0);
    r = run("sweep " + grid + " -o " + dir + "/par --summarize");
    REQUIRE(r.rc == 0);
    for (int i = 0; i < 4; ++i) {
        const std::string f = "/points/000" + std::to_string(i) + ".json";
        CHECK(slurp(dir + "/par" + f) == slurp(dir + "/out" + f));
    }
    // (The exit column is empty: --summarize did not run them.)
    CHECK(slurp(dir + "/par/summary.csv").find("\n2,8192,1,,8192,1,\n") != std::string::npos);
    r = run("sweep " + grid + " -o " + dir + "/slurm --emit slurm");
    REQUIRE(r.rc == 0);
    const std::string sbatch = slurp(dir + "/slurm/sweep.sbatch");
    CHECK(sbatch.find("#SBATCH --array=0-3\n") != std::string::npos);
    CHECK(sbatch.find("SLURM_ARRAY_TASK_ID") != std::string::npos);

    // Bad input: exit 2 before anything runs.
    require_bad(run("sweep " + grid), "sweep needs -o DIR");
    const std::string bad = dir + "/bad.json";
    std::ofstream(bad) << R"({"mmemu_sweep": 1, "scenario": ")" + ex +
                              R"(", "parameter": {"machine.cpus": [1]}})";
    require_bad(run("sweep " + bad + " -o " + dir + "/x"), "did you mean \"parameters\"?");
    std::ofstream(bad) << R"({"mmemu_sweep": 1, "scenario": ")" + ex +
                              R"(", "parameters": {"machine.memory": ["1GiB", "0"]}})";
    require_bad(run("sweep " + bad + " -o " + dir + "/x"), "point 1 is not a valid scenario");
    require_bad(run("sweep " + grid + " -o " + dir + "/x --emit pbs"),
                "--emit expects parallel or slurm");
    std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("cli: --trace's errors exit 2 (3 for a file it cannot write), before anything runs",
          "[cli][trace]") {
    const auto f = scenario("trace-errors", with_events(R"({"op": "spawn", "process": "p"},
        {"op": "exit", "process": "p"})"));
    const std::string before = slurp(f);
    const std::string tr = temp_path("trace.json");
    require_bad(run("run " + f + " --trace " + f), "that is the scenario file");
    REQUIRE(slurp(f) == before);
    require_bad(run("run " + f + " --trace ''"), "--trace needs a file name");
    require_bad(run("run " + f + " -o " + tr + " --trace " + tr), "the statistics go there too");
    require_bad(run("run " + f + " --trace-limit 5"), "--trace-limit goes with --trace FILE");
    for (const char* bad : {"0", "-1", "x", "18446744073709551616", "1e3", "''"})
        require_bad(run("run " + f + " --trace " + tr + " --trace-limit " + bad),
                    "--trace-limit expects a number of events");
    require_bad(run("run --concurrent " + f + " --trace " + tr), "--trace needs the deterministic");
    // A folder, or a folder that does not exist: the file cannot be opened (exit 3, no run).
    Result r = run("run " + f + " --trace /tmp");
    CHECK(r.rc == 3);
    CHECK(r.out.empty());
    CHECK(r.err.find("--trace /tmp: cannot open it for writing") != std::string::npos);
    r = run("run " + f + " --trace /nonexistent/dir/t.json");
    CHECK(r.rc == 3);
    // A full disk: the run's statistics are written, the trace's failure exits 3.
    r = run("run " + f + " --trace /dev/full");
    CHECK(r.rc == 3);
    CHECK(r.err.find("cannot write the trace") != std::string::npos);
    // A good run writes a whole trace, which parses.
    r = run("run " + f + " --trace " + tr);
    REQUIRE(r.rc == 0);
    const auto j = nlohmann::json::parse(slurp(tr));
    CHECK(j["otherData"]["events_dropped"] == 0);
    CHECK(j["traceEvents"].size() > 4);
    std::remove(tr.c_str());
}

// The suffix of a numa_maps line after its start address.
std::string after_address(const nlohmann::json& line) {
    const std::string s = line.get<std::string>();
    return s.substr(s.find(' ') + 1);
}

TEST_CASE("cli: numa_maps lines, numa_pages and numastat as the kernel counts them",
          "[cli][numa]") {
    // The bundled example, by hand (its description): the buffer's lines and the stack's.
    Result r = run("run " + std::string(MMEMU_SOURCE_DIR) + "/examples/numa-first-touch.json");
    REQUIRE(r.rc == 0);
    auto j = nlohmann::json::parse(r.out);
    const auto& nm = j["checkpoints"][0]["numa_maps"];
    REQUIRE(nm["server"].size() == 2);
    CHECK(after_address(nm["server"][0]) ==
          "default anon=256 dirty=256 mapmax=3 active=0 N0=256 kernelpagesize_kB=4");
    CHECK(after_address(nm["writer"][0]) ==
          "default anon=256 dirty=256 mapmax=3 active=0 N0=192 N1=64 kernelpagesize_kB=4");
    CHECK(after_address(nm["server"][1]) ==
          "default stack anon=1 dirty=1 mapmax=3 active=0 N0=1 kernelpagesize_kB=4");
    CHECK(j["final"]["numastat"].size() == 2);
    // The other kinds of line, as this machine's 6.18 prints them: a shared anonymous page
    // (file=, not anon, every page dirty: no mapped=), a VMA with only the zero page (nothing
    // after the policy), an mlocked VMA (unevictable: no active=).
    const auto f = scenario("numa-maps", with_events(R"(
        {"op": "spawn", "process": "p"},
        {"op": "mmap", "process": "p", "region": "shm", "length": "8KiB",
         "flags": "MAP_SHARED|MAP_ANONYMOUS"},
        {"op": "write", "process": "p", "region": "shm", "length": "4KiB", "byte": 1},
        {"op": "mmap", "process": "p", "region": "zero", "length": "4KiB", "prot": "PROT_READ"},
        {"op": "read", "process": "p", "region": "zero"},
        {"op": "mmap", "process": "p", "region": "locked", "length": "8KiB",
         "flags": "MAP_PRIVATE|MAP_ANONYMOUS|MAP_LOCKED"},
        {"op": "checkpoint", "name": "c", "maps": true},
        {"op": "exit", "process": "p"})"));
    r = run("run " + f);
    REQUIRE(r.rc == 0);
    j = nlohmann::json::parse(r.out);
    std::vector<std::string> lines;
    for (const auto& l : j["checkpoints"][0]["numa_maps"]["p"]) lines.push_back(after_address(l));
    const auto has = [&](const std::string& want) {
        return std::find(lines.begin(), lines.end(), want) != lines.end();
    };
    CHECK(has("default file=/dev/zero\\040(deleted) dirty=1 active=0 N0=1 kernelpagesize_kB=4"));
    CHECK(has("default"));
    CHECK(has("default anon=2 dirty=2 N0=2 kernelpagesize_kB=4"));
    // The shmem page, the two locked pages and the stack page exec wrote.
    CHECK(j["checkpoints"][0]["state"]["processes"][0]["numa_pages"] == nlohmann::json::array({4}));
}

TEST_CASE("cli: an interleaving policy places a page by its address", "[cli][numa]") {
    // examples/numa-policies.json (by hand): the buffer's first page, at page number 0x7ffff7eff
    // (odd), goes to the second node of 0-1; the next page to the first. Node 0 holds the first
    // 256 MiB: pfns below 65536.
    const Result r = run("run " + std::string(MMEMU_SOURCE_DIR) + "/examples/numa-policies.json");
    REQUIRE(r.rc == 0);
    const auto j = nlohmann::json::parse(r.out);
    const auto& pm = j["results"]["pagemaps"][0];
    REQUIRE(pm["addr"] == "0x7ffff7eff000");
    const auto pfn = [&](size_t i) {
        return std::stoull(pm["entries"][i].get<std::string>(), nullptr, 16) & ((1ull << 55) - 1);
    };
    CHECK(pfn(0) >= 65536);
    CHECK(pfn(1) < 65536);
}

TEST_CASE("cli: an OOM under MPOL_BIND is constrained to the policy's nodes", "[cli][numa]") {
    // Two nodes of 256 MiB. "elsewhere" is bound to node 0 with 160 MiB; "hog", bound to node
    // 1 with oom_score_adj -500, writes 300 MiB: node 1 runs out (its allocations may not fall
    // back to node 0), and the OOM killer looks at node 1 only (totalpages: node 1's 65536
    // present pages). "elsewhere" is bound wholly to node 0, so it is no candidate, though its
    // 40960 pages outscore hog's (about 64000 - 500 * 65536 / 1000 = 31232): hog is killed.
    // Without the constraint it would be "elsewhere".
    const auto f = scenario("numa-oom", R"({"mmemu_scenario": 1,
        "machine": {"arch": "x86_64", "memory": "512MiB", "cpus": 2, "numa": {"nodes": 2}},
        "events": [
          {"op": "spawn", "process": "elsewhere", "cpu": 0},
          {"op": "set_mempolicy", "process": "elsewhere", "mode": "MPOL_BIND", "nodes": [0]},
          {"op": "mmap", "process": "elsewhere", "region": "r", "length": "160MiB"},
          {"op": "write", "process": "elsewhere", "region": "r", "byte": 1},
          {"op": "spawn", "process": "hog", "cpu": 0, "oom_score_adj": -500},
          {"op": "set_mempolicy", "process": "hog", "mode": "MPOL_BIND", "nodes": [1]},
          {"op": "mmap", "process": "hog", "region": "r", "length": "300MiB"},
          {"op": "write", "process": "hog", "region": "r", "byte": 2},
          {"op": "exit", "process": "elsewhere"}]})");
    const Result r = run("run " + f);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    const auto j = nlohmann::json::parse(r.out);
    const auto& kills = j["results"]["oom_kills"];
    REQUIRE(kills.size() == 1);
    CHECK(kills[0]["victim"] == "hog");
    CHECK(kills[0]["constraint"] == "CONSTRAINT_MEMORY_POLICY");
    CHECK(kills[0]["nodemask"] == "1");
    CHECK(kills[0]["totalpages"] == 65536);
    // Every page hog had was on node 1: node 0 never served it.
    CHECK(j["final"]["numastat"][0]["numa_miss"] == 0);
}
