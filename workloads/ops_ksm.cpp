// The KSM op family: for each op its fields, parse and validation, and what it does, side by
// side. Knob writes follow the kernel's *_store rules (ksm/ksm_knobs.cpp); ksm_wait lets ksmd
// (ksm/ksmd.h) run in virtual time while every CPU idles.
#include "workloads/ops_ksm.h"

#include <algorithm>
#include <limits>

#include "ksm/ksm_knobs.h"
#include "system/system.h"
#include "workloads/ops_process.h"
#include "workloads/ops_run.h"
#include "workloads/results.h"

namespace mmemu {

void advance_cpus_to(System& sys, uint64_t ns) {
    const uint64_t mhz = sys.machine().config().cpu_mhz;
    // ns -> cycles, rounded up so that now_ns() reaches ns.
    advance_cpus_to_cycles(sys, ns > UINT64_MAX / mhz ? UINT64_MAX : (ns * mhz + 999) / 1000);
}

namespace {

constexpr int64_t UINT_MAX_ = std::numeric_limits<uint32_t>::max();
constexpr int64_t INT_MIN_ = std::numeric_limits<int32_t>::min();
constexpr int64_t INT_MAX_ = std::numeric_limits<int32_t>::max();

// ksm: one event writes one or more knobs, in the order of KsmKnob (run last), each as
// `echo VALUE > /sys/kernel/mm/ksm/KNOB` does; a refused write is a result (its errno) and the
// others still happen.
struct KsmWrite final : Op {
    std::vector<std::pair<KsmKnob, int64_t>> writes;
    uint16_t cpu = 0;
    const char* name() const override { return "ksm"; }
    void run(RunContext& cx) const override {
        Ksm* ksm = cx.sys.ksm();
        for (const auto& [knob, value] : writes) {
            const std::string file =
                std::string("/sys/kernel/mm/ksm/") + ksm_knob_specs()[unsigned(knob)].name;
            if (!ksm) {
                cx.results.file_failure(event, name(), file,
                                        "ENOENT: this kernel has no KSM (it runs no processes)");
                continue;
            }
            if (const int e = ksm->store_knob(knob, value, cpu); e)
                cx.results.file_failure(event, name(), file, errno_name(e));
        }
    }
};

std::unique_ptr<Op> parse_ksm(OpParser& p) {
    auto op = std::make_unique<KsmWrite>();
    const bool is32 = arch_is_32bit(p.state.machine->arch);
    for (const KsmKnobSpec& k : ksm_knob_specs()) {
        if (!p.has(k.name)) continue;
        std::optional<int64_t> v;
        switch (k.parser) {
        case KnobParser::uint_:
        case KnobParser::int_:
        case KnobParser::bool_: v = p.integer(k.name, std::nullopt); break;
        case KnobParser::ulong_:
            if (auto n = p.number(k.name, std::nullopt)) {
                if (is32 && *n > uint64_t(UINT_MAX_))
                    p.error(k.name, "expected at most 4294967295 (an unsigned long on i386)");
                else
                    v = int64_t(*n); // the bits of the unsigned long
            }
            break;
        case KnobParser::mode:
            if (auto c = p.choice(k.name, std::nullopt)) v = *c;
            break;
        }
        if (v) op->writes.push_back({k.knob, *v});
    }
    op->cpu = p.cpu();
    bool any = false;
    for (auto it = p.event.begin(); it != p.event.end(); ++it)
        any |= it.key() != "op" && it.key() != "cpu";
    if (!any) p.ck.error(p.path, "expected at least one knob to write (run, pages_to_scan, ...)");
    return op;
}

// ksm_wait: every CPU idles while ksmd runs on until full_scans has gone up by `full_scans`
// (as the kernel's selftests poll /sys/kernel/mm/ksm/full_scans), or until `timeout_ms` of
// virtual time has passed. If ksmd cannot get there (it waits for a wake-up: run is not 1, or no
// process is registered; pages_to_scan is 0), the wait ends at once and is a failure.
struct KsmWait final : Op {
    uint64_t scans = 1;
    std::optional<uint64_t> timeout_ms;
    const char* name() const override { return "ksm_wait"; }
    void run(RunContext& cx) const override {
        Ksmd* ksmd = cx.sys.ksmd();
        if (!ksmd) {
            cx.results.file_failure(event, name(), "/sys/kernel/mm/ksm/full_scans",
                                    "ENOENT: this kernel has no KSM (it runs no processes)");
            return;
        }
        if (cx.sys.machine().smp().concurrent()) {
            // Every vCPU thread waits at this barrier while ksmd runs.
            std::string why;
            const uint64_t target = cx.sys.ksm()->scan_state().seqnr + scans;
            ksmd->wait_full_scans(target, timeout_ms.value_or(0), why);
            if (!why.empty())
                cx.results.file_failure(event, name(), "/sys/kernel/mm/ksm/full_scans",
                                        "full_scans did not go up by " + std::to_string(scans) +
                                            ": " + why);
            return;
        }
        const uint64_t now = cx.sys.now_ns();
        const uint64_t deadline = timeout_ms ? now + *timeout_ms * 1000000 : UINT64_MAX;
        std::string why;
        const uint64_t at =
            ksmd->run_until_full_scans(now, cx.sys.ksm()->seqnr() + scans, deadline, why);
        advance_cpus_to(cx.sys, at);
        if (!why.empty())
            cx.results.file_failure(event, name(), "/sys/kernel/mm/ksm/full_scans",
                                    "full_scans did not go up by " + std::to_string(scans) + ": " +
                                        why);
    }
};

std::unique_ptr<Op> parse_ksm_wait(OpParser& p) {
    auto op = std::make_unique<KsmWait>();
    op->scans = uint64_t(p.integer("full_scans", 1).value_or(1));
    if (p.has("timeout_ms"))
        if (auto t = p.integer("timeout_ms", std::nullopt)) op->timeout_ms = uint64_t(*t);
    return op;
}

} // namespace

std::unique_ptr<Op> parse_ksm_at_boot(OpParser& p) {
    auto op = parse_ksm(p);
    const bool is32 = arch_is_32bit(p.state.machine->arch);
    for (const auto& [knob, v] : static_cast<KsmWrite&>(*op).writes) {
        const char* f = ksm_knob_specs()[unsigned(knob)].name;
        if (knob == KsmKnob::run && v > 2)
            p.error(f, "expected 0, 1 or 2 (the kernel refuses others with EINVAL)");
        if (knob == KsmKnob::max_page_sharing && v < 2)
            p.error(f, "expected at least 2 (the kernel refuses less with EINVAL)");
        if (knob == KsmKnob::merge_across_nodes && v > 1)
            p.error(f, "expected 0 or 1 (the kernel refuses others with EINVAL)");
        if (knob == KsmKnob::merge_across_nodes && is32)
            p.error(f, "an i386 or PAE kernel has no CONFIG_NUMA, so no merge_across_nodes file");
        if (knob == KsmKnob::advisor_target_scan_time && v == 0)
            p.error(f, "expected at least 1 (the kernel refuses 0 with EINVAL)");
    }
    return op;
}

namespace {

FieldSpec knob_field(const KsmKnobSpec& k) {
    switch (k.parser) {
    case KnobParser::uint_: return {k.name, FieldKind::integer, false, 0, UINT_MAX_, {}, k.doc};
    case KnobParser::int_:
        return {k.name, FieldKind::integer, false, INT_MIN_, INT_MAX_, {}, k.doc};
    case KnobParser::bool_: return {k.name, FieldKind::integer, false, 0, 1, {}, k.doc};
    case KnobParser::ulong_: return {k.name, FieldKind::number, false, 0, 0, {}, k.doc};
    case KnobParser::mode:
        return {k.name, FieldKind::enumeration, false, 0, 0, {"none", "scan-time"}, k.doc};
    }
    return {k.name, FieldKind::integer, false, 0, 0, {}, k.doc};
}

std::vector<FieldSpec> ksm_fields() {
    std::vector<FieldSpec> f;
    for (const KsmKnobSpec& k : ksm_knob_specs()) f.push_back(knob_field(k));
    f.push_back({"cpu", FieldKind::integer, false, 0, 63, {}, "the CPU the write runs on (0)"});
    return f;
}

} // namespace

const std::vector<OpSpec>& ksm_op_specs() {
    static const std::vector<OpSpec> specs = {
        {"ksm", OpMode::kernel, ksm_fields(), parse_ksm,
         "writes to /sys/kernel/mm/ksm's knobs (run last); a refused write is a failure"},
        {"ksm_wait",
         OpMode::kernel,
         {{"full_scans",
           FieldKind::integer,
           false,
           1,
           1000,
           {},
           "how many more full scans to wait for (1)"},
          {"timeout_ms",
           FieldKind::integer,
           false,
           0,
           1000000000,
           {},
           "give up after this much virtual time (none)"}},
         parse_ksm_wait,
         "every CPU idles until ksmd has finished more full scans"},
    };
    return specs;
}

} // namespace mmemu
