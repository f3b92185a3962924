#include "workloads/op_table.h"

#include "workloads/ops_kernel.h"
#include "workloads/ops_ksm.h"
#include "workloads/ops_machine.h"
#include "workloads/ops_process.h"
#include "workloads/ops_run.h"

namespace mmemu {

const std::vector<OpFamily>& op_families() {
    static const std::vector<OpFamily> families = {
        {"run", &run_op_specs()},         {"kernel", &kernel_op_specs()},
        {"process", &process_op_specs()}, {"ksm", &ksm_op_specs()},
        {"machine", &machine_op_specs()},
    };
    return families;
}

const OpSpec* find_op_spec(const std::string& name) {
    for (const auto& fam : op_families())
        for (const auto& spec : *fam.ops)
            if (name == spec.name) return &spec;
    return nullptr;
}

namespace {
// "alloc_pages, free_pages, ... or checkpoint": the ops a scenario of this mode can use.
std::vector<std::string> op_names(bool bare) {
    std::vector<std::string> names;
    for (const auto& fam : op_families())
        for (const auto& spec : *fam.ops)
            if (spec.mode == OpMode::any || (spec.mode == OpMode::bare) == bare)
                names.push_back(spec.name);
    return names;
}

std::string op_list(bool bare) {
    const std::vector<std::string> names = op_names(bare);
    std::string s;
    for (size_t i = 0; i < names.size(); i++)
        s += std::string(i ? (i + 1 == names.size() ? " or " : ", ") : "") + names[i];
    return s;
}
} // namespace

void compile_events(Checker& ck, const json& events, CompileState& st,
                    std::vector<std::unique_ptr<Op>>& ops, const std::string& base,
                    std::optional<uint32_t> event) {
    if (!events.is_array()) {
        ck.error(base, "expected an array of events, got " + type_name(events));
        return;
    }
    for (size_t i = 0; i < events.size(); i++) {
        const std::string p = base + "/" + std::to_string(i);
        // Past the limit nothing more is compiled (templates using templates could otherwise
        // expand without bound); the block or template that went past it reports it.
        if (st.compiled_ops > MAX_COMPILED_OPS) return;
        if (ck.errors.size() >= MAX_DIAGNOSTICS) {
            if (ck.errors.size() == MAX_DIAGNOSTICS)
                ck.error(p, "stopped here after " + std::to_string(MAX_DIAGNOSTICS) + " errors");
            return;
        }
        const json& e = events[i];
        if (!e.is_object()) {
            ck.error(p, "expected an event object with an \"op\", got " + type_name(e));
            continue;
        }
        auto name = ck.string(e, p, "op", std::nullopt);
        if (!name) continue;
        const OpSpec* spec = find_op_spec(*name);
        if (!spec) {
            ck.error(p + "/op", std::string("unknown ") + (st.bare ? "bare-machine " : "") +
                                    "event \"" + *name + "\"" +
                                    did_you_mean_hint(*name, op_names(st.bare)) + " (expected " +
                                    op_list(st.bare) + ")");
            continue;
        }
        if (spec->mode == OpMode::bare && !st.bare) {
            ck.error(p + "/op",
                     "\"" + *name +
                         "\" is a bare-machine op (\"mode\": \"bare\"): in a "
                         "kernel scenario the kernel owns the control registers, the page "
                         "tables and physical memory");
            continue;
        }
        if (spec->mode == OpMode::kernel && st.bare) {
            ck.error(p + "/op", "unknown bare-machine event \"" + *name +
                                    "\": it needs a kernel "
                                    "(remove \"mode\": \"bare\"; expected " +
                                    op_list(true) + ")");
            continue;
        }
        const size_t before = ck.errors.size();
        const uint32_t index = event.value_or(uint32_t(i));
        OpParser parser(ck, e, p, *spec, st, index);
        std::unique_ptr<Op> op = spec->parse(parser);
        // A block (repeat) compiles its events into st.block_ops and returns no op of its own.
        std::vector<std::unique_ptr<Op>> block = std::move(st.block_ops);
        st.block_ops.clear();
        if (ck.errors.size() != before) continue;
        if (!op) {
            for (auto& b : block) ops.push_back(std::move(b));
            continue;
        }
        op->event = index;
        if (op->runs_on_its_cpu()) op->run_cpu = int16_t(parser.run_cpu);
        st.compiled_ops++;
        ops.push_back(std::move(op));
    }
}

} // namespace mmemu
