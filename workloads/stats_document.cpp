// The statistics document around the states: format version, scenario, machine, boot, the
// checkpoints, the results of the run and the host block (docs/statistics-format.md). Each group
// is one table; the reference in the docs is generated from all of them.
#include <sstream>

#include "mmcore/kernel.h"
#include "mmemu_version.h"
#include "system/system.h"
#include "workloads/ops_kernel.h"
#include "workloads/results.h"
#include "workloads/scenario.h"
#include "workloads/statistics.h"

namespace mmemu {

const char* unit_name(Unit u) {
    switch (u) {
    case Unit::none: return "";
    case Unit::pages: return "pages";
    case Unit::kB: return "kB";
    case Unit::bytes: return "bytes";
    case Unit::blocks: return "blocks";
    case Unit::objects: return "objects";
    case Unit::slabs: return "slabs";
    case Unit::entries: return "entries";
    case Unit::count: return "count";
    case Unit::cycles: return "cycles";
    case Unit::ns: return "ns";
    case Unit::pfn: return "pfn";
    case Unit::event: return "event index";
    case Unit::text: return "text";
    case Unit::hex: return "hex string";
    case Unit::milli: return "index text";
    case Unit::flag: return "true/false";
    case Unit::seconds: return "seconds";
    }
    return "";
}

namespace {

// Kernel virtual addresses exceed 2^53, so they are written as hex strings of 16 digits (a JSON
// number would lose precision in most readers).
std::string kernel_address(uint64_t a) {
    return hex_digits(a, 16);
}

// The format the kernel gives processes ("" before the process side is up).
std::string paging_name(const AddressSpaces& s) {
    if (!s.ready()) return "";
    switch (s.format().kind) {
    case PgtableFormat::two_level: return "2-level";
    case PgtableFormat::pae: return "PAE";
    case PgtableFormat::four_level: return "4-level";
    case PgtableFormat::five_level: return "5-level";
    }
    return "";
}

// ---- the document -------------------------------------------------------------------------

const StatGroup<RunSummary> MANIFEST = {
    "manifest",
    "manifest",
    "What made this run: the mmemu that ran, the scenario's text and what the command line "
    "changed. `mmemu compare` skips it (and says so when the versions or scenario hashes of two "
    "runs differ).",
    {
        STAT("mmemu_version", text, "", "the mmemu that ran (mmemu --version)", MMEMU_VERSION),
        STAT("scenario_sha256", text, "",
             "SHA-256 of the scenario file's bytes, before any --set or --seed",
             r.scenario.source_sha256),
        STAT("seed", count, "", "the seed the run used (the scenario's, or --seed)",
             r.scenario.seed),
        STAT("overrides", text, "",
             "the --set overrides (and --seed as seed=N), in the order applied: an array of "
             "strings",
             r.scenario.overrides),
    }};

const StatGroup<RunSummary> SCENARIO = {
    "scenario",
    "scenario",
    "Copied from the scenario.",
    {
        STAT("name", text, "", "its name", r.scenario.name),
        STAT("seed", count, "", "its seed", r.scenario.seed),
        STAT("mode", text, "", "kernel or bare", r.scenario.bare ? "bare" : "kernel"),
        STAT("concurrent", flag, "",
             "run in the concurrent mode (--concurrent): its numbers move from run to run",
             r.results.concurrent),
    }};

const StatGroup<NumaNodeRange> NODES = {
    "machine.nodes[]",
    "machine nodes",
    "The NUMA nodes.",
    {
        STAT("start", bytes, "", "its first byte", r.start),
        STAT("end", bytes, "", "the byte after its last", r.end),
    }};

const StatGroup<RunSummary> MACHINE = {
    "machine",
    "machine",
    "The machine that ran.",
    {
        STAT("arch", text, "", "i386, pae or x86_64", arch_name(r.system.machine().arch())),
        STAT("memory_bytes", bytes, "", "RAM", r.system.machine().config().memory_bytes),
        STAT("cpus", count, "", "CPUs", r.system.machine().nr_cpus()),
        {"nodes", Unit::none, "", "the NUMA nodes (below)",
         [](ojson& o, const RunSummary& r) {
             o["nodes"] = NODES.rows(r.system.machine().nodes());
         }},
        STAT("maxphyaddr", count, "", "the CPUs' physical-address width",
             r.system.machine().config().maxphyaddr),
        STAT("la57", flag, "", "the CPUs support 5-level paging", r.system.machine().config().la57),
    }};

const StatGroup<E820Entry> E820 = {
    "boot.e820[]",
    "boot e820",
    "The firmware memory map the kernel booted with.",
    {
        STAT("addr", bytes, "/sys/firmware/memmap", "start", r.addr),
        STAT("size", bytes, "/sys/firmware/memmap", "length", r.size),
        STAT("type", text, "/sys/firmware/memmap", "usable or reserved", e820_type_name(r.type)),
    }};

const StatGroup<memblock_region> RESERVED = {
    "boot.memblock_reserved[]",
    "boot reservations",
    "memblock.reserved at the end of boot.",
    {
        STAT("base", bytes, "/sys/kernel/debug/memblock/reserved", "start", r.base),
        STAT("size", bytes, "/sys/kernel/debug/memblock/reserved", "length", r.size),
        STAT("name", text, "", "what it holds", r.name),
    }};

const StatGroup<Kernel> BOOT = {
    "boot",
    "boot",
    "Kernel scenarios: what boot decided.",
    {
        STAT("max_pfn", pfn, "", "the first pfn above RAM", r.layout.max_pfn),
        STAT("max_low_pfn", pfn, "", "the end of lowmem (max_pfn on x86_64)", r.layout.max_low_pfn),
        STAT("paging", text, "",
             "the page-table format processes get: 2-level (i386), PAE, 4-level or 5-level "
             "(x86_64 on a CPU with LA57)",
             paging_name(r.spaces)),
        STAT("page_offset", hex, "", "PAGE_OFFSET: where the direct map of lowmem starts",
             kernel_address(r.spaces.page_offset())),
        STAT("totalram_pages", pages, "", "managed pages of every zone", r.layout.totalram_pages),
        STAT("min_free_kbytes", kB, "/proc/sys/vm/min_free_kbytes", "vm.min_free_kbytes",
             r.tuning.min_free_kbytes),
        STAT("totalreserve_pages", pages, "", "calculate_totalreserve_pages()",
             r.tuning.totalreserve_pages),
        {"e820", Unit::none, "", "the e820 table (below)",
         [](ojson& o, const Kernel& k) { o["e820"] = E820.rows(k.machine.e820()); }},
        {"memblock_reserved", Unit::none, "", "the boot reservations (below)",
         [](ojson& o, const Kernel& k) {
             o["memblock_reserved"] = RESERVED.rows(k.memblock.reserved());
         }},
    }};

const StatGroup<CheckpointRecord> CHECKPOINTS = {
    "checkpoints[]",
    "checkpoints",
    "One per checkpoint event; `final` is the state after the last event.",
    {
        STAT("name", text, "", "the checkpoint's name", r.name),
        STAT("event", event, "", "its index in events", r.event),
        {"state", Unit::none, "", "the state then (the state groups above)",
         [](ojson& o, const CheckpointRecord& r) { o["state"] = r.state; }},
        {"maps", Unit::none, "/proc/PID/maps",
         "with \"maps\": true, an object of the live processes by name (below)",
         [](ojson& o, const CheckpointRecord& r) {
             if (!r.maps.is_null()) o["maps"] = r.maps;
         }},
        {"maps.<process>", Unit::text, "/proc/PID/maps",
         "the process's VMAs, one /proc/PID/maps line each",
         [](ojson&, const CheckpointRecord&) {}},
        {"numa_maps", Unit::none, "/proc/PID/numa_maps",
         "with \"maps\": true, an object of the live processes by name (below)",
         [](ojson& o, const CheckpointRecord& r) {
             if (!r.numa_maps.is_null()) o["numa_maps"] = r.numa_maps;
         }},
        {"numa_maps.<process>", Unit::text, "/proc/PID/numa_maps",
         "the process's VMAs, one /proc/PID/numa_maps line each: the start, the policy "
         "(\"default\": no memory policies yet), heap, stack or file=, then anon=, dirty=, "
         "mapped=, mapmax=, active= and N<node>= page counts as the kernel prints them",
         [](ojson&, const CheckpointRecord&) {}},
    }};

// ---- results ------------------------------------------------------------------------------

const StatGroup<FailureRecord> FAILURES = {
    "results.failures[]",
    "failures",
    "Emulated failures: an allocation that could not be met, a cache that could not be created "
    "or destroyed, a write through an id whose allocation failed, a system call's error (by "
    "errno name), an event skipped because its process had died (ESRCH). Identical failures of "
    "one event are one row.",
    {
        STAT("event", event, "", "the event", r.event),
        STAT("op", text, "", "its op", r.op),
        {"id", Unit::text, "", "the id (allocations)",
         [](ojson& o, const FailureRecord& r) {
             if (!r.is_cache && !r.is_process && !r.is_file) o["id"] = r.subject;
         }},
        {"process", Unit::text, "", "the process (process events)",
         [](ojson& o, const FailureRecord& r) {
             if (r.is_process) o["process"] = r.subject;
         }},
        {"cache", Unit::text, "", "the cache (cache events)",
         [](ojson& o, const FailureRecord& r) {
             if (r.is_cache) o["cache"] = r.subject;
         }},
        {"file", Unit::text, "", "the /sys file (knob writes)",
         [](ojson& o, const FailureRecord& r) {
             if (r.is_file) o["file"] = r.subject;
         }},
        STAT("reason", text, "", "why, in the kernel's terms", r.reason),
        STAT("count", count, "", "how many tries of the event failed so", r.count),
        STAT("first", count, "", "the index of the first of them in the event's count", r.first),
        STAT("last", count, "", "the index of the last", r.last),
    }};

const StatGroup<SlabReport> SLAB_ERRORS = {
    "results.slab_errors[]",
    "slab errors",
    "What SLAB's debug checks reported (poison, red zones, destroy with objects left).",
    {
        STAT("cache", text, "", "the cache", r.cache),
        STAT("object", hex, "",
             "the object's kernel virtual address (16 hex digits; zeros for cache-wide reports)",
             kernel_address(r.object)),
        STAT("message", text, "", "the kernel's message", r.message),
    }};

const StatGroup<Kernel> PAGE_ALLOCATOR = {
    "results.page_allocator",
    "page allocator",
    "mmemu's own counters of the page allocator (not in /proc).",
    {
        STAT("alloc_success", count, "", "allocations met", r.buddy.stats().alloc_success),
        STAT("alloc_fail", count, "", "allocations failed", r.buddy.stats().alloc_fail),
        STAT("alloc_fail_costly", count, "", "of those, order above 3",
             r.buddy.stats().alloc_fail_costly),
        STAT("slowpath", count, "", "allocations that missed the low-watermark fast path",
             r.buddy.stats().slowpath),
        STAT("extfrag_events", count, "mm_page_alloc_extfrag tracepoint",
             "fallbacks to another migratetype", r.buddy.stats().extfrag_events),
        STAT("pageblock_steals", count, "", "of those, whole pageblocks claimed",
             r.buddy.stats().pageblock_steals),
        STAT("pcp_refills", count, "", "rmqueue_bulk() calls", r.buddy.stats().pcp_refills),
        STAT("pcp_bulk_frees", count, "", "free_pcppages_bulk() calls",
             r.buddy.stats().pcp_bulk_frees),
        STAT("pcp_pages", pages, "", "pages on pcp lists now", r.buddy.nr_pcp_pages()),
        STAT("highatomic_reserved", count, "", "pageblocks reserved as highatomic",
             r.buddy.stats().highatomic_reserved),
    }};

const StatGroup<KernelBugRecord> KERNEL_BUG = {
    "results.kernel_bug",
    "kernel BUG",
    "Present when the run stopped because the emulated kernel's checks found its state "
    "corrupted by the scenario (where Linux would BUG()): `mmemu run` exits 4.",
    {
        STAT("event", event, "", "the event that hit it", r.event),
        STAT("op", text, "", "its op", r.op),
        STAT("message", text, "", "the kernel's message", r.message),
    }};

const StatGroup<KernelBugRecord> LIMIT_REACHED = {
    "results.limit_reached",
    "limit reached",
    "Present when the run stopped at one of mmemu's limits (docs/scenario-format.md, "
    "\"Limits\"), such as ksmd's work in one run: `mmemu run` exits 5.",
    {
        STAT("event", event, "", "the event after which it was reached", r.event),
        STAT("op", text, "", "its op", r.op),
        STAT("message", text, "", "which limit", r.message),
    }};

const StatGroup<Fault> FAULT = {
    "results.faults[]",
    "faults",
    "Bare machines: faults of register writes and INVPCID, and (under results.accesses[].result) "
    "of accesses and segment loads.",
    {
        STAT("fault", text, "", "#PF, #GP, #SS or #NP", vector_name(r.vector)),
        STAT("error_code", hex, "", "the error code", hex(r.error_code)),
        {"cr2", Unit::hex, "", "#PF: the faulting linear address",
         [](ojson& o, const Fault& f) {
             if (f.vector == VEC_PF) o["cr2"] = to_string(f.cr2);
         }},
        {"level", Unit::count, "", "#PF: the level of the entry that decided (5 PML5E .. 1 PTE)",
         [](ojson& o, const Fault& f) {
             if (f.level) o["level"] = f.level;
         }},
        {"bit", Unit::count, "", "the bit of that entry or descriptor that decided",
         [](ojson& o, const Fault& f) {
             if (f.bit >= 0) o["bit"] = f.bit;
         }},
        STAT("rule", text, "", "the SDM rule and the values it compared", fault_message(r)),
    }};

ojson fault_json(const Fault& f, uint32_t event, bool with_event) {
    ojson o = FAULT.object(f);
    if (!with_event) return o;
    ojson r;
    r["event"] = event;
    for (auto it = o.begin(); it != o.end(); ++it) r[it.key()] = it.value();
    return r;
}

const char* source_name(TlbLevel s) {
    switch (s) {
    case TlbLevel::l1: return "l1_tlb";
    case TlbLevel::stlb: return "stlb";
    case TlbLevel::walk: return "walk";
    case TlbLevel::none: break;
    }
    return "no_paging";
}

const StatGroup<AccessRecord> ACCESS_RESULT = {
    "results.accesses[].result",
    "access results",
    "An access that succeeded (a failed one has the fault fields instead).",
    {
        STAT("pa", hex, "", "the physical address of its first byte",
             to_string(r.outcome.first.pa)),
        STAT("page_size", bytes, "", "the page that maps it",
             uint64_t{1} << r.outcome.first.page_shift),
        STAT("source", text, "", "l1_tlb, stlb, walk or no_paging",
             source_name(r.outcome.first.source)),
        STAT("cycles", cycles, "", "translation cycles (docs/cpu-model.md)", r.outcome.cycles),
        {"split_pa", Unit::hex, "",
         "an operand across a page boundary: its first byte on the "
         "second page",
         [](ojson& o, const AccessRecord& r) {
             if (r.outcome.split) o["split_pa"] = to_string(r.outcome.second_pa);
         }},
        {"value", Unit::hex, "", "an operand read or fetch: what it returned",
         [](ojson& o, const AccessRecord& r) {
             if (r.type != AccessType::write && r.size <= 8) o["value"] = hex(r.value);
         }},
    }};

const char* type_text(AccessType t) {
    return t == AccessType::read ? "read" : t == AccessType::write ? "write" : "fetch";
}

std::string seg_text(unsigned reg) {
    return reg == FAULT_SEG_LDTR ? "LDTR" : std::string(seg_reg_name(SegReg(reg)));
}

void put_expectation(ojson& o, const Expectation& e) {
    if (e.checked) o["expectation"] = e.failure.empty() ? "met" : "FAILED: " + e.failure;
}

// Access, expect_phys and load_segment records share one array, in event order.
const StatGroup<AccessLikeRecord> ACCESSES = {
    "results.accesses[]",
    "accesses",
    "Bare machines: each access, expect_phys and load_segment, in event order.",
    {
        {"event", Unit::event, "", "the event",
         [](ojson& o, const AccessLikeRecord& r) {
             std::visit([&](const auto& x) { o["event"] = x.event; }, r);
         }},
        {"cpu", Unit::count, "", "accesses and loads: the CPU",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* a = std::get_if<AccessRecord>(&r)) o["cpu"] = a->cpu;
             if (auto* l = std::get_if<SegmentLoadRecord>(&r)) o["cpu"] = l->cpu;
         }},
        {"op", Unit::text, "", "expect_phys and load_segment: the op",
         [](ojson& o, const AccessLikeRecord& r) {
             if (std::holds_alternative<PhysCheckRecord>(r)) o["op"] = "expect_phys";
             if (std::holds_alternative<SegmentLoadRecord>(r)) o["op"] = "load_segment";
         }},
        {"type", Unit::text, "", "accesses: read, write or fetch",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* a = std::get_if<AccessRecord>(&r)) o["type"] = type_text(a->type);
         }},
        {"seg", Unit::text, "", "segmented accesses: the segment register",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* a = std::get_if<AccessRecord>(&r); a && a->seg >= 0)
                 o["seg"] = seg_text(unsigned(a->seg));
         }},
        {"offset", Unit::hex, "", "segmented accesses: the offset",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* a = std::get_if<AccessRecord>(&r); a && a->seg >= 0)
                 o["offset"] = hex(a->offset);
         }},
        {"la", Unit::hex, "", "accesses: the linear address (when segmentation gave one)",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* a = std::get_if<AccessRecord>(&r); a && a->has_la)
                 o["la"] = to_string(a->la);
         }},
        {"size", Unit::bytes, "", "accesses: the size",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* a = std::get_if<AccessRecord>(&r)) o["size"] = a->size;
         }},
        {"done", Unit::bytes, "",
         "string accesses (size above 8): the bytes moved, all of them or those before a fault",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* a = std::get_if<AccessRecord>(&r); a && a->size > 8)
                 o["done"] = a->outcome.done;
         }},
        {"addr", Unit::hex, "", "expect_phys: the physical address",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* p = std::get_if<PhysCheckRecord>(&r)) o["addr"] = to_string(p->addr);
         }},
        {"reg", Unit::text, "", "load_segment: the register (LDTR for LLDT)",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* l = std::get_if<SegmentLoadRecord>(&r)) o["reg"] = seg_text(l->reg);
         }},
        {"selector", Unit::hex, "", "load_segment: the selector",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* l = std::get_if<SegmentLoadRecord>(&r)) o["selector"] = hex(l->selector);
         }},
        {"result", Unit::text, "",
         "accesses and loads: the outcome, an object (below, or the fault fields) or, for a "
         "segment load that succeeded, \"loaded\"",
         [](ojson& o, const AccessLikeRecord& r) {
             if (auto* a = std::get_if<AccessRecord>(&r))
                 o["result"] = a->outcome.ok() ? ACCESS_RESULT.object(*a)
                                               : fault_json(a->outcome.fault, 0, false);
             if (auto* l = std::get_if<SegmentLoadRecord>(&r))
                 o["result"] = l->fault.raised() ? fault_json(l->fault, 0, false) : ojson("loaded");
         }},
        {"expectation", Unit::text, "", "met, or FAILED: and why (when the event expects)",
         [](ojson& o, const AccessLikeRecord& r) {
             std::visit([&](const auto& x) { put_expectation(o, x.expect); }, r);
         }},
    }};

const StatGroup<std::pair<uint32_t, std::string>> EXPECTATION_FAILURES = {
    "results.expectations.failures[]",
    "expectation failures",
    "Each expectation that did not hold.",
    {
        STAT("event", event, "", "the event", r.first),
        STAT("message", text, "", "what differed", r.second),
    }};

const StatGroup<Results> EXPECTATIONS = {
    "results.expectations",
    "expectations",
    "Bare machines: what the scenario expected; a failure makes `mmemu run` exit 1.",
    {
        STAT("checked", count, "", "expectations checked", r.expectations_checked),
        STAT("failed", count, "", "of those, failed", r.expectations_failed()),
        {"failures", Unit::none, "", "the failures (below)",
         [](ojson& o, const Results& r) {
             o["failures"] = EXPECTATION_FAILURES.rows(r.expectation_failures);
         }},
    }};

const StatGroup<SignalRecord> SIGNALS = {
    "results.signals[]",
    "fatal signals",
    "Kernel scenarios: each process the kernel killed while the scenario ran, where and why.",
    {
        STAT("event", event, "", "the event whose access was fatal", r.event),
        STAT("process", text, "", "the process's name", r.process),
        STAT("pid", count, "", "its pid", r.pid),
        STAT("signal", text, "",
             "SIGSEGV, SIGBUS (an access beyond a shmem object's end), or SIGKILL (the OOM "
             "killer's, or a fault that found no memory)",
             r.signal),
        STAT("si_code", text, "siginfo",
             "SEGV_MAPERR (no mapping), SEGV_ACCERR (not allowed), BUS_ADRERR (SIGBUS) or "
             "SI_KERNEL",
             r.si_code),
        STAT("addr", hex, "siginfo", "si_addr: the faulting address", hex(r.addr)),
        STAT("error_code", hex, "", "the page fault's error code", hex(r.error_code)),
        STAT("reason", text, "",
             "which check of arch/x86/mm/fault.c refused it; for a SIGKILL, who sent it and why",
             r.reason),
    }};

const StatGroup<PagemapRecord> PAGEMAPS = {
    "results.pagemaps[]",
    "pagemaps",
    "Kernel scenarios: each pagemap event's /proc/PID/pagemap entries, as a reader with "
    "CAP_SYS_ADMIN sees them (bit 63 present, 56 mapped exclusively, 61 file or shared, 0-54 the "
    "PFN; two pages with the same PFN share a frame).",
    {
        STAT("event", event, "", "the pagemap event", r.event),
        STAT("process", text, "", "the process", r.process),
        STAT("region", text, "", "the region", r.region),
        STAT("addr", hex, "", "the first page's address", hex(r.addr)),
        {"present", Unit::pages, "", "pages present (bit 63)",
         [](ojson& o, const PagemapRecord& r) {
             uint64_t n = 0;
             for (uint64_t e : r.entries) n += e >> 63;
             o["present"] = n;
         }},
        {"exclusive", Unit::pages, "", "present pages mapped once (bit 56)",
         [](ojson& o, const PagemapRecord& r) {
             uint64_t n = 0;
             for (uint64_t e : r.entries) n += (e >> 56) & 1;
             o["exclusive"] = n;
         }},
        {"entries", Unit::none, "/proc/PID/pagemap", "one 64-bit entry per page, in hex",
         [](ojson& o, const PagemapRecord& r) {
             ojson a = ojson::array();
             for (uint64_t e : r.entries) a.push_back(hex(e));
             o["entries"] = a;
         }},
    }};

// One OOM kill: the event it happened in and the kernel's record of it.
struct OomKillRow {
    uint32_t event;
    const OomKill& k;
};

const StatGroup<OomKillRow> OOM_KILLS = {
    "results.oom_kills[]",
    "OOM kills",
    "Kernel scenarios: each process the OOM killer chose, with what the kernel logs about it "
    "(the invoking allocation of dump_header() and the \"Out of memory: Killed process\" line). "
    "The victim's SIGKILL is in results.signals.",
    {
        STAT("event", event, "", "the event whose allocation invoked the OOM killer", r.event),
        STAT("invoked_by", text, "dmesg", "the allocating process (\"\" for none)", r.k.invoked_by),
        STAT("gfp_mask", text, "dmesg", "the allocation's GFP flags", gfp_to_string(r.k.gfp_mask)),
        STAT("order", count, "dmesg", "the allocation's order", r.k.order),
        STAT("victim", text, "dmesg", "the process killed", r.k.comm),
        STAT("pid", count, "dmesg", "its pid", r.k.pid),
        STAT("points", count, "",
             "oom_badness(): rss + swap entries + page-table pages, + oom_score_adj * "
             "totalpages / 1000",
             r.k.points),
        STAT("totalpages", pages, "",
             "the memory oom_score_adj is scaled by: RAM + swap, or under a memory-policy "
             "constraint the present pages of the policy's nodes",
             r.k.totalpages),
        STAT("constraint", text, "dmesg",
             "CONSTRAINT_NONE, or CONSTRAINT_MEMORY_POLICY when the allocation's memory policy "
             "(an MPOL_BIND) left out a node with memory: then only "
             "processes not bound (MPOL_BIND) wholly elsewhere are candidates",
             r.k.constraint),
        STAT("nodemask", text, "dmesg", "the constraining nodes (\"(null)\" without one)",
             r.k.nodemask),
        STAT("total_vm", kB, "dmesg", "the victim's total-vm", r.k.total_vm * 4),
        STAT("anon_rss", kB, "dmesg", "its anon-rss", r.k.anon_rss * 4),
        STAT("file_rss", kB, "dmesg", "its file-rss", r.k.file_rss * 4),
        STAT("shmem_rss", kB, "dmesg", "its shmem-rss", r.k.shmem_rss * 4),
        STAT("pgtables", kB, "dmesg", "its page tables", r.k.pgtables_bytes >> 10),
        STAT("oom_score_adj", count, "dmesg", "its oom_score_adj", r.k.oom_score_adj),
        STAT("message", text, "dmesg", "the kernel's log line", r.k.message()),
    }};

const StatGroup<RunSummary> RESULTS = {
    "results",
    "results",
    "What happened while the scenario ran.",
    {
        STAT("events_run", count, "", "events executed", r.results.events_run),
        {"audits_passed", Unit::count, "",
         "kernel scenarios: invariant checks passed (frames and shadow memory; every checkpoint "
         "and the end)",
         [](ojson& o, const RunSummary& r) {
             if (!r.system.bare()) o["audits_passed"] = r.results.audits_passed;
         }},
        {"failures", Unit::none, "", "kernel scenarios: emulated failures (below)",
         [](ojson& o, const RunSummary& r) {
             if (r.system.bare()) return;
             o["failures"] = FAILURES.rows(r.results.failures);
         }},
        {"slab_errors", Unit::none, "", "kernel scenarios: SLAB debug reports (below)",
         [](ojson& o, const RunSummary& r) {
             if (!r.system.bare())
                 o["slab_errors"] = SLAB_ERRORS.rows(r.system.kernel().slab.reports());
         }},
        {"page_allocator", Unit::none, "", "kernel scenarios: page allocator counters (below)",
         [](ojson& o, const RunSummary& r) {
             if (!r.system.bare()) o["page_allocator"] = PAGE_ALLOCATOR.object(r.system.kernel());
         }},
        {"signals", Unit::none, "", "kernel scenarios: fatal signals (below)",
         [](ojson& o, const RunSummary& r) {
             if (!r.system.bare()) o["signals"] = SIGNALS.rows(r.results.signals);
         }},
        {"pagemaps", Unit::none, "", "kernel scenarios: pagemap events (below)",
         [](ojson& o, const RunSummary& r) {
             if (!r.system.bare()) o["pagemaps"] = PAGEMAPS.rows(r.results.pagemaps);
         }},
        {"oom_kills", Unit::none, "", "kernel scenarios: the OOM killer's kills (below)",
         [](ojson& o, const RunSummary& r) {
             if (r.system.bare()) return;
             std::vector<OomKillRow> rows;
             const auto& kills = r.system.kernel().spaces.oom_kills();
             for (size_t i = 0; i < kills.size(); i++)
                 rows.push_back(
                     {i < r.results.oom_kill_events.size() ? r.results.oom_kill_events[i] : 0,
                      kills[i]});
             o["oom_kills"] = OOM_KILLS.rows(rows);
         }},
        {"kernel_bug", Unit::none, "", "kernel scenarios stopped by a kernel BUG (below)",
         [](ojson& o, const RunSummary& r) {
             if (r.results.kernel_bug) o["kernel_bug"] = KERNEL_BUG.object(*r.results.kernel_bug);
         }},
        {"limit_reached", Unit::none, "", "runs stopped at a limit of mmemu's (below)",
         [](ojson& o, const RunSummary& r) {
             if (r.results.limit_reached)
                 o["limit_reached"] = LIMIT_REACHED.object(*r.results.limit_reached);
         }},
        {"faults", Unit::none, "", "bare machines: faults of register writes and INVPCID (below)",
         [](ojson& o, const RunSummary& r) {
             if (!r.system.bare()) return;
             ojson rows = ojson::array();
             for (const auto& f : r.results.faults)
                 rows.push_back(fault_json(f.fault, f.event, true));
             o["faults"] = rows;
         }},
        {"accesses", Unit::none, "", "bare machines: accesses and loads (below)",
         [](ojson& o, const RunSummary& r) {
             if (!r.system.bare()) return;
             o["accesses"] = ACCESSES.rows(r.results.accesses);
         }},
        {"expectations", Unit::none, "", "expectations of accesses and reads (below)",
         [](ojson& o, const RunSummary& r) { o["expectations"] = EXPECTATIONS.object(r.results); }},
    }};

const StatGroup<HostInfo> HOST = {
    "host",
    "host",
    "Depends on the host, so comparisons skip it.",
    {
        STAT("hostname", text, "", "the host", r.hostname),
        STAT("wall_seconds", seconds, "", "the run's wall-clock time", r.wall_seconds),
        STAT("rss_bytes", bytes, "", "mmemu's resident set at the end", r.rss_bytes),
    }};

// Documentation only: the section is made by the sampler (workloads/timeseries.cpp).
const StatGroup<RunSummary> TIMESERIES = {
    "timeseries",
    "time series",
    "Samples of chosen counters every every_ms of virtual time (docs/scenario-format.md, "
    "\"Time series\"). A sample at time t shows every event that started before t and ksmd's "
    "work before t.",
    {
        {"every_ms", Unit::count, "", "the period, in ms of virtual time", nullptr},
        {"counters", Unit::text, "", "the counter paths asked for (an array of strings)", nullptr},
        {"truncated", Unit::flag, "",
         "true when the run would have taken more than 100000 samples: the rest were not taken",
         nullptr},
        {"samples", Unit::none, "", "a row per sample (below)", nullptr},
    }};

const StatGroup<RunSummary> TIMESERIES_SAMPLES = {
    "timeseries.samples[]",
    "time series samples",
    "A row per sample, every every_ms from 0 to the end of the run.",
    {
        {"t_ms", Unit::count, "", "the sample's virtual time, in ms", nullptr},
        {"<path...>", Unit::none, "",
         "each number the counters cover, named by its path in the state (\"ksm.pages_sharing\", "
         "\"zoneinfo.1.nr_free_pages\"), in the unit the state gives it; a process or zone not "
         "there at that time has no member",
         nullptr},
    }};

const StatGroup<RunSummary> DOCUMENT = {
    "",
    "the document",
    "The top level. Everything but host is a pure function of the scenario (and its seed).",
    {
        STAT("mmemu_stats", count, "", "the format version: 1", STATS_FORMAT_VERSION),
        {"manifest", Unit::none, "", "what made the run (below)",
         [](ojson& o, const RunSummary& r) { o["manifest"] = MANIFEST.object(r); }},
        {"scenario", Unit::none, "", "the scenario (below)",
         [](ojson& o, const RunSummary& r) { o["scenario"] = SCENARIO.object(r); }},
        {"machine", Unit::none, "", "the machine (below)",
         [](ojson& o, const RunSummary& r) { o["machine"] = MACHINE.object(r); }},
        {"boot", Unit::none, "", "kernel scenarios: what boot decided (below)",
         [](ojson& o, const RunSummary& r) {
             if (!r.system.bare()) o["boot"] = BOOT.object(r.system.kernel());
         }},
        {"checkpoints", Unit::none, "", "a row per checkpoint event (below)",
         [](ojson& o, const RunSummary& r) {
             o["checkpoints"] = CHECKPOINTS.rows(r.results.checkpoints);
         }},
        {"timeseries", Unit::none, "",
         "the samples the scenario's \"timeseries\" asked for (below); absent when it asked for "
         "none",
         [](ojson& o, const RunSummary& r) {
             if (r.timeseries) o["timeseries"] = *r.timeseries;
         }},
        {"final", Unit::none, "",
         "the state after the last event (a state, below); null when a write_object's scribbles "
         "left the kernel's state unreadable (results.kernel_bug says so)",
         [](ojson& o, const RunSummary& r) {
             if (r.results.final_state) {
                 o["final"] = *r.results.final_state;
                 return;
             }
             try {
                 o["final"] = state_json(r.system);
             } catch (const std::exception&) {
                 // Only a state the scenario scribbled over may be unreadable.
                 if (!r.results.scribbled_at || !r.results.kernel_bug) throw;
                 o["final"] = nullptr;
             }
         }},
        {"results", Unit::none, "", "what happened while the scenario ran (below)",
         [](ojson& o, const RunSummary& r) { o["results"] = RESULTS.object(r); }},
        {"host", Unit::none, "", "the host that ran it (below); `mmemu run` adds it",
         [](ojson& o, const RunSummary& r) {
             if (r.host) o["host"] = HOST.object(*r.host);
         }},
    }};

// The doc entry of the fault fields under each place they appear; `only_gp` for register writes
// and INVPCID, which raise #GP(0) alone (no CR2, no paging level, no deciding bit).
StatGroupDoc fault_doc_at(const std::string& path, const char* title, bool only_gp) {
    StatGroupDoc d = FAULT.doc();
    d.path = path;
    d.title = title;
    std::vector<StatDoc> kept;
    if (only_gp) kept.push_back({path + ".event", Unit::event, "", "the event"});
    for (auto s : d.stats) {
        const std::string name = s.path.substr(s.path.rfind('.') + 1);
        if (only_gp && (name == "cr2" || name == "level" || name == "bit")) continue;
        s.path = path + "." + name;
        kept.push_back(s);
    }
    d.stats = std::move(kept);
    return d;
}

} // namespace

ojson statistics_json(const RunSummary& run) {
    return DOCUMENT.object(run);
}

std::vector<StatGroupDoc> statistics_reference() {
    std::vector<StatGroupDoc> out = {DOCUMENT.doc(), MANIFEST.doc(), SCENARIO.doc(),
                                     MACHINE.doc(),  NODES.doc(),    BOOT.doc(),
                                     E820.doc(),     RESERVED.doc(), CHECKPOINTS.doc()};
    out.push_back(TIMESERIES.doc());
    out.push_back(TIMESERIES_SAMPLES.doc());
    for (auto& g : state_reference()) out.push_back(std::move(g));
    for (const auto& g : {RESULTS.doc(), PAGE_ALLOCATOR.doc()}) out.push_back(g);
    out.push_back(FAILURES.doc());
    out.push_back(SLAB_ERRORS.doc());
    out.push_back(SIGNALS.doc());
    out.push_back(OOM_KILLS.doc());
    out.push_back(PAGEMAPS.doc());
    out.push_back(KERNEL_BUG.doc());
    out.push_back(LIMIT_REACHED.doc());
    out.push_back(fault_doc_at("results.faults[]", "faults", true));
    out.push_back(ACCESSES.doc());
    out.push_back(ACCESS_RESULT.doc());
    out.push_back(fault_doc_at("results.accesses[].result", "access and load faults", false));
    out.push_back(EXPECTATIONS.doc());
    out.push_back(EXPECTATION_FAILURES.doc());
    out.push_back(HOST.doc());
    return out;
}

std::string statistics_reference_markdown() {
    std::ostringstream o;
    o << "<!-- Generated from the statistics tables (workloads/stats_*.cpp) by `mmemu help "
         "statistics`; scripts/update-docs.sh rewrites it. -->\n";
    for (const auto& g : statistics_reference()) {
        o << "\n### " << (g.path.empty() ? "(top level)" : "`" + g.path + "`") << ": " << g.title
          << "\n\n"
          << g.about << "\n\n| field | unit | mirrors | meaning |\n| --- | --- | --- | --- |\n";
        for (const auto& s : g.stats) {
            const std::string name = s.path.substr(g.path.empty() ? 0 : g.path.size() + 1);
            o << "| `" << name << "` | " << unit_name(s.unit) << " | " << s.mirrors << " | "
              << s.meaning << " |\n";
        }
    }
    return o.str();
}

} // namespace mmemu
