// The run op family: checkpoint, the same in kernel and bare scenarios.
#include "workloads/ops_run.h"

#include <algorithm>
#include <map>

#include "mmcore/bug.h"
#include "mmcore/kernel.h"
#include "system/system.h"
#include "workloads/op_table.h"
#include "workloads/ops_kernel.h"
#include "workloads/results.h"
#include "workloads/shadow_memory.h"
#include "workloads/statistics.h"
#include "workloads/template_vars.h"

namespace mmemu {

void audit_frames(RunContext& cx, const std::string& where) {
    if (std::string e = cx.sys.kernel().audit(cx.kernel->held_blocks()); !e.empty())
        throw KernelBug("invariant check failed " + where + ": " + e);
    if (cx.shadow)
        if (std::string e = cx.shadow->check_frames(cx.sys.kernel().spaces, cx.sys.machine().ram());
            !e.empty())
            throw KernelBug("invariant check failed " + where + ": the shadow memory: " + e);
    cx.results.audits_passed++;
}

void advance_cpus_to_cycles(System& sys, uint64_t cycles) {
    Machine& m = sys.machine();
    for (unsigned c = 0; c < m.nr_cpus(); c++)
        if (m.mmu(c).cycles() < cycles) m.mmu(c).charge(cycles - m.mmu(c).cycles());
}

namespace {

// Busy runs, over the whole scenario: at most a million ms (250,000 switches per CPU) and 10,000
// runs (each visits every live task).
constexpr uint64_t MAX_BUSY_MS = 1000000, MAX_BUSY_RUNS = 10000;

// A statistics snapshot (after the frame audit, in kernel scenarios).
// barrier: in the concurrent mode every CPU finishes its earlier events before any later event
// starts (it runs alone, as every event that is not one process's does); in the deterministic
// mode events run in order anyway and it changes nothing.
struct Barrier final : Op {
    const char* name() const override { return "barrier"; }
    void run(RunContext&) const override {}
};
std::unique_ptr<Op> parse_barrier(OpParser&) {
    return std::make_unique<Barrier>();
}

struct Checkpoint final : Op {
    std::string label;
    bool maps = false;
    const char* name() const override { return "checkpoint"; }
    const std::string* checkpoint_name() const override { return &label; }
    void run(RunContext& cx) const override {
        if (cx.kernel && cx.audit) audit_frames(cx, "at checkpoint \"" + label + "\"");
        ojson m, numa;
        if (maps && !cx.sys.bare()) {
            m = ojson::object();
            numa = ojson::object();
            const AddressSpaces& as = cx.sys.kernel().spaces;
            for (const auto& t : as.tasks())
                if (t->mm) {
                    m[t->comm] = as.proc_maps(t->mm);
                    numa[t->comm] = as.numa_maps(t->mm, t->mempolicy).lines;
                }
        }
        cx.results.checkpoints.push_back({label, event, state_json(cx.sys), m, numa});
    }
};

std::unique_ptr<Op> parse_checkpoint(OpParser& p) {
    auto op = std::make_unique<Checkpoint>();
    // Each checkpoint keeps a whole state until the statistics are written (up to ~600 KB of
    // memory and ~50 KB of JSON on a 64-CPU, 8-node machine): bounded.
    if (p.state.checkpoint_names.size() >= MAX_CHECKPOINTS)
        p.error("op", "expected at most " + std::to_string(MAX_CHECKPOINTS) +
                          " checkpoints in a scenario");
    if (auto n = p.string("name", std::nullopt)) {
        for (const auto& seen : p.state.checkpoint_names)
            if (seen == *n) p.error("name", "checkpoint name \"" + *n + "\" is used twice");
        p.state.checkpoint_names.push_back(*n);
        op->label = *n;
    }
    op->maps = p.boolean("maps", false).value_or(false);
    if (op->maps && p.state.bare) p.error("maps", "a bare machine has no processes");
    return op;
}

// The scheduler's preemption period for CPU-bound tasks of equal weight (kernel/sched/fair.c,
// Linux 6.18): EEVDF gives each a request of sysctl_sched_base_slice = 0.70 ms * (1 +
// ilog2(min(CPUs, 8))) (SCHED_TUNABLESCALING_LOG), and a running task is preempted at the first
// scheduler tick after its slice is used up (HRTICK is off by default): with HZ 250 (Debian's
// CONFIG_HZ), every 4 ms for any CPU count up to 8 and more.
uint64_t preempt_period_ns(unsigned nr_cpus) {
    const unsigned cpus = std::min(nr_cpus, 8u);
    unsigned ilog2 = 0;
    while ((2u << ilog2) <= cpus) ilog2++;
    const uint64_t slice_ns = 700000ull * (1 + ilog2);
    const uint64_t tick_ns = 1000000000ull / 250;
    return (slice_ns + tick_ns - 1) / tick_ns * tick_ns;
}

// Virtual time passes: each CPU's clock moves to the latest CPU's clock plus the time given (so
// the CPUs agree afterwards). Every CPU is idle, or with `busy`, every live task spins in user
// mode on its CPU: a CPU with several switches between them round robin at each preemption
// (context switches and switch_mm with its ASID rules, costed), one with one task runs it.
// Tasks stay on their CPUs (no migration, no load balancing).
struct RunFor final : Op {
    uint64_t us = 0;
    bool busy = false;
    const char* name() const override { return "run"; }
    void run(RunContext& cx) const override {
        Machine& m = cx.sys.machine();
        uint64_t latest = 0;
        for (unsigned c = 0; c < m.nr_cpus(); c++) latest = std::max(latest, m.mmu(c).cycles());
        if (busy) schedule(cx);
        const uint64_t add = us * m.config().cpu_mhz; // at most 10^12 * 10^5
        advance_cpus_to_cycles(cx.sys, latest > UINT64_MAX - add ? UINT64_MAX : latest + add);
    }
    void schedule(RunContext& cx) const {
        Machine& m = cx.sys.machine();
        AddressSpaces& as = cx.sys.kernel().spaces;
        const uint64_t switches = us * 1000 / preempt_period_ns(m.nr_cpus());
        std::vector<std::vector<task_struct*>> on_cpu(m.nr_cpus()); // in pid order
        for (const auto& t : as.tasks())
            if (!t->exited && t->mm) on_cpu[t->cpu].push_back(t.get());
        for (unsigned c = 0; c < m.nr_cpus(); c++) {
            const std::vector<task_struct*>& runnable = on_cpu[c];
            if (runnable.empty()) continue;
            size_t at = 0;
            const auto cur = std::find(runnable.begin(), runnable.end(), as.current(c));
            if (cur != runnable.end()) at = size_t(cur - runnable.begin());
            as.set_current(c, runnable[at]);
            if (runnable.size() < 2) continue;
            for (uint64_t k = 0; k < switches; k++) {
                at = (at + 1) % runnable.size();
                as.set_current(c, runnable[at]);
            }
        }
    }
};

std::unique_ptr<Op> parse_run(OpParser& p) {
    auto op = std::make_unique<RunFor>();
    op->us = uint64_t(p.integer("ms", std::nullopt).value_or(0)) * 1000;
    op->busy = p.boolean("busy", false).value_or(false);
    if (op->busy && p.state.bare) p.error("busy", "a bare machine has no tasks to run");
    if (op->busy) {
        p.state.busy_ms += op->us / 1000;
        if (++p.state.busy_runs > MAX_BUSY_RUNS)
            p.error("busy", "expected at most " + std::to_string(MAX_BUSY_RUNS) +
                                " busy runs in a scenario, repeat blocks expanded");
        else if (p.state.busy_ms > MAX_BUSY_MS)
            p.error("ms", "busy runs last at most " + std::to_string(MAX_BUSY_MS) +
                              " ms in all in a scenario, repeat blocks expanded (each CPU "
                              "switches tasks every few ms)");
    }
    return op;
}

// expect: statistics of the state at this point, each named by its path in a state (as in
// checkpoints[].state: "ksm.pages_sharing", "vmstat.cow_ksm"); a segment after an array picks
// the row whose "name" (a process, a cache) or "zone" is that segment, or the row at that index
// ("processes.p.ksm_merging_pages", "buddyinfo.0.free"). Each value is expected exactly, or
// within {"min", "max"}. A difference, or a path the state does not have, is a failed
// expectation (`mmemu run` exits 1).
struct Expect final : Op {
    struct Check {
        std::string path;
        std::vector<std::string> segments;
        json exact; // null: min/max
        std::optional<double> min, max;
    };
    std::vector<Check> checks;
    const char* name() const override { return "expect"; }
    static const ojson* find(const ojson& state, const std::vector<std::string>& segs) {
        const ojson* v = &state;
        for (const std::string& s : segs) {
            if (v->is_object()) {
                if (!v->contains(s)) return nullptr;
                v = &(*v)[s];
            } else if (v->is_array()) {
                const ojson* row = nullptr;
                for (const auto& r : *v)
                    if (r.is_object() && ((r.contains("name") && r["name"] == s) ||
                                          (r.contains("zone") && r["zone"] == s))) {
                        row = &r;
                        break;
                    }
                if (!row && !s.empty() && s.size() < 10 &&
                    s.find_first_not_of("0123456789") == std::string::npos &&
                    std::stoul(s) < v->size())
                    row = &(*v)[std::stoul(s)];
                if (!row) return nullptr;
                v = row;
            } else {
                return nullptr;
            }
        }
        return v;
    }
    void run(RunContext& cx) const override {
        const ojson state = state_json(cx.sys);
        for (const Check& c : checks) {
            const ojson* v = find(state, c.segments);
            std::string failure;
            if (!v) {
                failure = c.path + ": no such statistic in this state";
            } else if (!c.exact.is_null()) {
                if (json::parse(v->dump()) != c.exact)
                    failure = c.path + " is " + v->dump() + ", expected " + c.exact.dump();
            } else if (!v->is_number()) {
                failure = c.path + " is " + v->dump() + ", expected a number";
            } else {
                const double x = v->get<double>();
                if ((c.min && x < *c.min) || (c.max && x > *c.max))
                    failure = c.path + " is " + v->dump() + ", expected " +
                              (c.min ? "at least " + json(*c.min).dump() : std::string()) +
                              (c.min && c.max ? " and " : "") +
                              (c.max ? "at most " + json(*c.max).dump() : std::string());
            }
            cx.results.expectation(event, failure);
        }
    }
};

// The most expect events in a scenario (each takes a whole state).
constexpr uint64_t MAX_EXPECTS = 10000;

std::unique_ptr<Op> parse_expect(OpParser& p) {
    auto op = std::make_unique<Expect>();
    if (++p.state.expects > MAX_EXPECTS)
        p.error("op", "expected at most " + std::to_string(MAX_EXPECTS) +
                          " expect events in a scenario, repeat blocks expanded");
    const json* values = p.raw("values");
    if (!values) return op;
    if (!values->is_object() || values->empty()) {
        p.error("values", "expected a non-empty object of {\"path\": value}");
        return op;
    }
    for (auto it = values->begin(); it != values->end(); ++it) {
        const std::string fp = json_pointer_append(p.field_path("values"), it.key());
        Expect::Check c;
        c.path = it.key();
        std::string cur;
        for (char ch : it.key() + ".") {
            if (ch != '.') {
                cur += ch;
                continue;
            }
            if (cur.empty()) {
                p.ck.error(fp, "expected a path such as \"ksm.pages_sharing\" (no empty part)");
                break;
            }
            c.segments.push_back(std::move(cur));
            cur.clear();
        }
        const json& v = it.value();
        if (v.is_object()) {
            p.ck.only(v, fp, {"min", "max"});
            for (const char* k : {"min", "max"})
                if (v.contains(k)) {
                    if (!v[k].is_number())
                        p.ck.error(json_pointer_append(fp, k),
                                   "expected a number, got " + type_name(v[k]));
                    else
                        (std::string_view(k) == "min" ? c.min : c.max) = v[k].get<double>();
                }
            if (v.empty()) p.ck.error(fp, "expected {\"min\": ..., \"max\": ...} (one or both)");
        } else if (v.is_number() || v.is_string() || v.is_boolean()) {
            c.exact = v;
        } else {
            p.ck.error(fp, "expected a number, string or boolean, or {\"min\", \"max\"}, got " +
                               type_name(v));
        }
        op->checks.push_back(std::move(c));
    }
    return op;
}

// repeat: the block's events `count` times in a row, compiled once per repetition (so each
// repetition is checked against the names the ones before it left: a process spawned in the
// block must exit in it, a checkpoint name cannot repeat). Its ops carry the repeat's event
// index; the whole scenario is bounded to MAX_COMPILED_OPS ops once blocks are expanded.
std::unique_ptr<Op> parse_repeat(OpParser& p) {
    const auto count = p.integer("count", std::nullopt);
    const json* body = p.raw("events");
    const auto var = p.string("as", std::string());
    if (!count || !body || !var) return nullptr;
    if (!var->empty() && !valid_var_name(*var)) {
        p.error("as", "expected a variable name (a letter or '_', then letters, digits or '_'), "
                      "got \"" +
                          *var + "\"");
        return nullptr;
    }
    if (!body->is_array() || body->empty()) {
        p.error("events", "expected a non-empty array of events, got " + type_name(*body));
        return nullptr;
    }
    std::vector<std::unique_ptr<Op>> all;
    for (int64_t k = 0; k < *count; k++) {
        const size_t before = p.ck.errors.size();
        std::vector<std::unique_ptr<Op>> got;
        // "as": the repetition's index (0, 1, ...) in the block's strings.
        json copy;
        const json* events = body;
        if (!var->empty()) {
            copy = *body;
            std::string error;
            if (!substitute_vars(copy, {{*var, json(k)}}, error)) {
                p.error("events", error);
                return nullptr;
            }
            events = &copy;
        }
        compile_events(p.ck, *events, p.state, got, p.field_path("events"), p.index);
        if (p.ck.errors.size() != before) {
            // Say which repetition went wrong where the first was fine.
            if (k)
                for (size_t e = before; e < p.ck.errors.size(); e++)
                    p.ck.errors[e].message += " (in repetition " + std::to_string(k + 1) + " of " +
                                              std::to_string(*count) + ")";
            return nullptr;
        }
        if (p.state.compiled_ops > MAX_COMPILED_OPS) {
            if (p.state.ops_limit_reported) return nullptr;
            p.state.ops_limit_reported = true;
            p.error("count", "expected at most " + std::to_string(MAX_COMPILED_OPS) +
                                 " events in the whole scenario once repeat blocks are expanded "
                                 "(this block reaches it in repetition " +
                                 std::to_string(k + 1) + ")");
            return nullptr;
        }
        for (auto& o : got) all.push_back(std::move(o));
    }
    p.state.block_ops = std::move(all);
    return nullptr;
}

// template: a named template's events (the scenario's "templates"), with its parameters
// substituted from `args`, compiled in this event's place.
std::unique_ptr<Op> parse_template(OpParser& p) {
    const auto name = p.string("name", std::nullopt);
    const json* args = p.has("args") ? p.raw("args") : nullptr;
    if (!name) return nullptr;
    // Past the limit of compiled events or errors (already reported), a template is not even
    // copied.
    if (p.state.compiled_ops > MAX_COMPILED_OPS || p.ck.errors.size() >= MAX_DIAGNOSTICS)
        return nullptr;
    const json* templates = p.state.templates;
    if (!templates || !templates->contains(*name)) {
        std::vector<std::string> names;
        if (templates)
            for (auto it = templates->begin(); it != templates->end(); ++it)
                names.push_back(it.key());
        p.error("name", "no template named \"" + *name + "\"" + did_you_mean_hint(*name, names) +
                            (names.empty() ? " (the scenario has no \"templates\")" : ""));
        return nullptr;
    }
    const json& t = (*templates)[*name];
    if (!t.is_object() || !t.contains("events")) return nullptr; // compile_scenario said why
    if (args && !args->is_object()) {
        p.error("args", "expected an object of the template's parameters, got " + type_name(*args));
        return nullptr;
    }
    std::map<std::string, json> vars;
    std::vector<std::string> params;
    if (t.contains("params") && t["params"].is_array())
        for (const auto& q : t["params"])
            if (q.is_string()) params.push_back(q.get<std::string>());
    for (const auto& q : params) {
        if (!args || !args->contains(q)) {
            p.error("args", "the template \"" + *name + "\" needs the argument \"" + q + "\"");
            return nullptr;
        }
        vars[q] = (*args)[q];
    }
    if (args)
        for (auto it = args->begin(); it != args->end(); ++it)
            if (!vars.count(it.key())) {
                p.ck.error(json_pointer_append(p.field_path("args"), it.key()),
                           "the template \"" + *name + "\" has no parameter \"" + it.key() + "\"" +
                               did_you_mean_hint(it.key(), params));
                return nullptr;
            }
    if (p.state.template_depth >= MAX_TEMPLATE_DEPTH) {
        p.error("name", "templates nest deeper than " + std::to_string(MAX_TEMPLATE_DEPTH) +
                            " (does \"" + *name + "\" use itself?)");
        return nullptr;
    }
    json events = t["events"];
    std::string error;
    if (!substitute_vars(events, vars, error)) {
        p.error("args", error);
        return nullptr;
    }
    const size_t before = p.ck.errors.size();
    std::vector<std::unique_ptr<Op>> got;
    p.state.template_depth++;
    compile_events(p.ck, events, p.state, got, json_pointer_append("/templates", *name) + "/events",
                   p.index);
    p.state.template_depth--;
    if (p.state.compiled_ops > MAX_COMPILED_OPS && !p.state.ops_limit_reported) {
        p.state.ops_limit_reported = true;
        p.error("name", "expected at most " + std::to_string(MAX_COMPILED_OPS) +
                            " events in the whole scenario once repeat blocks and templates are "
                            "expanded (this use of template \"" +
                            *name + "\" goes past it)");
        return nullptr;
    }
    if (p.ck.errors.size() != before) {
        for (size_t e = before; e < p.ck.errors.size(); e++)
            p.ck.errors[e].message += " (in template \"" + *name + "\", used by " + p.path + ")";
        return nullptr;
    }
    p.state.block_ops = std::move(got);
    return nullptr;
}

} // namespace

const std::vector<OpSpec>& run_op_specs() {
    static const std::vector<OpSpec> specs = {
        {"checkpoint",
         OpMode::any,
         {{"name", FieldKind::string, true, 0, 0, {}, "unique among the checkpoints"},
          {"maps",
           FieldKind::boolean,
           false,
           0,
           0,
           {},
           "add each process's /proc/PID/maps and /proc/PID/numa_maps"}},
         parse_checkpoint,
         "a statistics snapshot, in checkpoints"},
        {"barrier",
         OpMode::any,
         {},
         parse_barrier,
         "the concurrent mode: every CPU's earlier events finish before a later one starts"},
        {"run",
         OpMode::any,
         {{"ms", FieldKind::integer, true, 0, 1000000000, {}, "virtual milliseconds to pass"},
          {"busy", FieldKind::boolean, false, 0, 0, {}, "every live task spins (time slices)"}},
         parse_run,
         "virtual time passes, every CPU idle or (busy) its tasks taking turns"},
        {"expect",
         OpMode::any,
         {{"values",
           FieldKind::object,
           true,
           0,
           0,
           {},
           "{\"path\": value or {\"min\", \"max\"}}: statistics of the state now"}},
         parse_expect,
         "expectations on the statistics at this point (a failure makes the run exit 1)"},
        {"repeat",
         OpMode::any,
         {{"count",
           FieldKind::integer,
           true,
           1,
           100000,
           {},
           "how many times (nest blocks for more)"},
          {"events", FieldKind::object, true, 0, 0, {}, "the block: an array of events"},
          {"as",
           FieldKind::string,
           false,
           0,
           0,
           {},
           "a variable: the repetition's index (0, 1, ...) as ${NAME} in the block's strings"}},
         parse_repeat,
         "the block's events, count times in a row"},
        {"template",
         OpMode::any,
         {{"name", FieldKind::string, true, 0, 0, {}, "one of the scenario's templates"},
          {"args",
           FieldKind::object,
           false,
           0,
           0,
           {},
           "{\"PARAM\": value}: every parameter of the template"}},
         parse_template,
         "a named template's events, its parameters substituted"},
    };
    return specs;
}

} // namespace mmemu
