// Ops: what a scenario's events compile to. Each op family (the machine/CPU ops of bare
// scenarios, the kernel allocator ops, the run ops such as checkpoint; later processes and KSM)
// lives in one file that declares, for each op, its name, its fields, how they are parsed and
// validated, and what the op does when it runs, side by side (an OpSpec). The compiled op is a
// small typed record per op kind, with no JSON in it; the driver runs the list in order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "workloads/json_checker.h"

namespace mmemu {

class System;
struct MachineConfig;
struct Results;
struct KernelRunState;
struct KernelNames;
struct ProcessNames;
struct ProcessRunState;
class ShadowMemory;

// Which scenarios an op belongs to: a bare machine (no kernel booted), a kernel scenario, or
// both.
enum class OpMode : uint8_t { any, kernel, bare };

// The JSON types a field accepts, for the parser, the docs and the schema check.
enum class FieldKind : uint8_t {
    integer,     // a JSON integer within [min, max]
    number,      // a 64-bit number: a non-negative integer or a string "0x1000" / "4096"
    size,        // bytes: an integer or a string with a unit ("4KiB")
    string,      // any string (a name, an id)
    enumeration, // one of the strings in `choices`
    boolean,     // true or false
    gfp,         // GFP flags: "A | B" or a list of names
    slab_flags,  // SLAB flags: "A | B" or a list of names
    bytes,       // a hex string or an array of bytes
    numbers,     // an array of numbers (u32 / u64 data)
    object,      // an object (an op's expectations)
};

struct FieldSpec {
    const char* name;
    FieldKind kind;
    bool required = false;
    int64_t min = 0, max = 0;         // integer: the range
    std::vector<const char*> choices; // enumeration: the accepted strings
    const char* doc = "";             // one line for the docs
};

// The state a run keeps across ops, and where results go.
struct RunContext {
    System& sys;
    Results& results;
    KernelRunState* kernel = nullptr; // the kernel family's slots and caches (kernel scenarios)
    ProcessRunState* procs = nullptr; // the process family's tasks and regions
    bool audit = true;                // check the frame invariant at each checkpoint
    ShadowMemory* shadow = nullptr;   // with processes and the audit: every byte checked
    int on_cpu = -1; // the concurrent mode: the CPU whose thread runs the event, -1 if alone
};

struct Op {
    uint32_t event = 0; // the index of its event in the scenario's events array
    // The concurrent mode: the CPU whose thread runs it (its process's), or -1: it runs alone,
    // every vCPU thread stopped at a barrier before it (docs/scenario-format.md).
    int16_t run_cpu = -1;
    virtual ~Op() = default;
    // An op of one process that its CPU's thread may run beside other CPUs' ops.
    virtual bool runs_on_its_cpu() const { return false; }
    virtual const char* name() const = 0;
    virtual void run(RunContext& cx) const = 0;
    // A checkpoint's name (the driver can stop after one); nullptr for other ops.
    virtual const std::string* checkpoint_name() const { return nullptr; }
};

// The most ops a scenario compiles to, repeat blocks expanded.
inline constexpr uint64_t MAX_COMPILED_OPS = 1000000;

// The state one compile keeps across events: names an op family tracks (ids, caches,
// checkpoints) and what the machine is.
inline constexpr unsigned MAX_TEMPLATE_DEPTH = 8;

struct CompileState {
    const MachineConfig* machine = nullptr;
    bool bare = false;
    uint64_t seed = 0;                           // the scenario's seed (content generators' keys)
    std::shared_ptr<KernelNames> kernel_names;   // the kernel family's ids and caches
    std::shared_ptr<ProcessNames> process_names; // the process family's processes and regions
    std::vector<std::string> checkpoint_names;
    uint64_t total_allocations = 0; // the sum of every allocating op's count (bounded)
    uint64_t compiled_ops =
        0; // ops compiled so far, repeat blocks and templates expanded (bounded)
    bool ops_limit_reported = false;     // the error for going past MAX_COMPILED_OPS was given
    uint64_t busy_runs = 0, busy_ms = 0; // busy `run` events and their time (bounded)
    uint64_t expects = 0;                // expect events (bounded)
    // The ops a block event (repeat, template) compiled, which compile_events() takes in its
    // place.
    std::vector<std::unique_ptr<Op>> block_ops;
    // The scenario's "templates" (null: none), and how deep template uses nest now.
    const json* templates = nullptr;
    unsigned template_depth = 0;
};

struct OpSpec;

// Reads one event's fields for its op's parse function: every read must name a field the spec
// declares (the parser and the declaration cannot drift), and fields the event has that the
// spec does not declare are errors.
class OpParser {
public:
    OpParser(Checker& ck, const json& event, std::string path, const OpSpec& spec, CompileState& st,
             uint32_t index);
    Checker& ck;
    const json& event;
    const std::string path;
    const OpSpec& spec;
    CompileState& state;
    const uint32_t index;
    int run_cpu = -1; // the CPU of the process the event names (process_ref)

    bool has(const char* field) const;
    std::optional<int64_t> integer(const char* field, std::optional<int64_t> dflt);
    std::optional<uint64_t> number(const char* field, std::optional<uint64_t> dflt);
    std::optional<uint64_t> size(const char* field, std::optional<uint64_t> dflt);
    std::optional<std::string> string(const char* field, std::optional<std::string> dflt);
    // An enumeration field: the index of the value in the field's choices.
    std::optional<unsigned> choice(const char* field, std::optional<unsigned> dflt);
    std::optional<bool> boolean(const char* field, bool dflt);
    std::optional<gfp_t> gfp(const char* field, const char* dflt);
    const json* raw(const char* field); // object / bytes / numbers fields, parsed by the family
    std::string field_path(const char* field) const { return path + "/" + field; }
    void error(const char* field, std::string msg) { ck.error(field_path(field), std::move(msg)); }
    // The CPU an op runs on ("cpu", default 0, below the machine's CPU count).
    uint16_t cpu();

private:
    const FieldSpec& field(const char* name) const;
};

using ParseFn = std::unique_ptr<Op> (*)(OpParser& p);

struct OpSpec {
    const char* name;
    OpMode mode;
    std::vector<FieldSpec> fields; // besides "op"
    ParseFn parse;
    const char* doc; // what it does, one line
};

struct OpFamily {
    const char* name; // "machine", "kernel", "run"
    const std::vector<OpSpec>* ops;
};

} // namespace mmemu
