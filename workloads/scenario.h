// The scenario language, format v1: a versioned JSON document (machine, kernel, events) that is
// validated with every problem reported by JSON path, then compiled into a compact op list so
// that no JSON is touched while the scenario runs. docs/scenario-format.md documents it and
// docs/scenario.schema.json is its JSON Schema.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emulator/machine.h"
#include "mmcore/gfp.h"
#include "mmcore/kernel_config.h"

namespace mmemu {

inline constexpr int SCENARIO_FORMAT_VERSION = 1;

enum class OpKind : uint8_t {
    alloc_pages,
    free_pages,
    kmem_cache_create,
    kmem_cache_alloc,
    kmem_cache_free,
    kmem_cache_shrink,
    kmem_cache_destroy,
    kmalloc,
    kfree,
    write_object,
    drain_pages,
    checkpoint,
    // bare-machine events
    set_cr,
    wrmsr,
    set_rflags,
    wrpkru,
    write_phys,
    expect_phys,
    access,
    invlpg,
    invpcid,
    load_gdt,
    lgdt,
    load_segment,
};

// What an access event expects (any part may be absent).
struct AccessExpect {
    bool fault = false; // a fault is expected (vector below)
    uint8_t vector = 0;
    std::optional<uint32_t> error_code;
    std::optional<uint64_t> pa;
    std::optional<unsigned> page_size; // bytes
    std::optional<uint64_t> value;     // the data a read returns
};

// One compiled event. Names are resolved to small integer slots at compile time.
struct Op {
    OpKind kind;
    uint16_t cpu = 0;
    int16_t node = -1;     // alloc_pages: preferred node, -1 = the CPU's node
    uint8_t order = 0;     // alloc_pages
    uint8_t fill = 0;      // write_object byte
    bool has_ctor = false; // kmem_cache_create
    gfp_t gfp = 0;
    uint32_t handle = 0; // allocation slot (id)
    uint32_t cache = 0;  // cache slot
    uint32_t count = 1;  // allocations per event
    uint32_t flags = 0;  // kmem_cache_create SLAB_* flags
    uint64_t size = 0;   // kmalloc / kmem_cache_create object size / write_object length
    uint64_t align = 0;  // kmem_cache_create
    uint64_t offset = 0; // write_object
    uint32_t event = 0;  // index in the scenario's events array
    uint32_t name = 0;   // checkpoint: index in Scenario::checkpoint_names
    // bare-machine events
    uint8_t reg = 0;       // set_cr: the control register; invpcid: the type
    uint8_t access = 0;    // AccessType
    bool user = false;     // CPL 3
    bool implicit = false; // implicit supervisor access
    uint64_t value = 0;    // set_cr/wrmsr/set_rflags/wrpkru value; write data; invpcid PCID
    uint64_t la = 0;       // access/invlpg/invpcid linear address; write/expect_phys address
    uint32_t blob = 0;     // write_phys/expect_phys: index in Scenario::blobs
    int32_t expect = -1;   // access: index in Scenario::expects
    uint8_t cpl = 0;       // access/load_segment: the privilege level
    int8_t seg = -1;       // access: the segment register (SegReg), -1 = la is linear
};

struct Scenario {
    std::string file;
    bool bare = false; // "mode": "bare": no kernel; events drive the CPUs' MMUs directly
    std::string name;
    std::string description;
    uint64_t seed = 0;
    MachineConfig machine;
    KernelConfig kernel;
    std::vector<Op> ops;
    std::vector<std::string> handle_names;     // slot -> id
    std::vector<std::string> cache_names;      // slot -> cache name
    std::vector<std::string> checkpoint_names; // index -> name
    std::vector<std::vector<uint8_t>> blobs;   // bytes of write_phys / expect_phys
    std::vector<AccessExpect> expects;         // access expectations
};

struct Diagnostic {
    std::string path;    // JSON pointer, "" for the document
    std::string message; // what was expected and what was found
};

struct CompileResult {
    std::optional<Scenario> scenario; // set when there are no diagnostics
    std::vector<Diagnostic> errors;
};

// Parses and validates `text` (the contents of `file`); `overrides` are "a.b.c=value" strings
// applied to the JSON before validation (value parsed as JSON, else taken as a string).
CompileResult compile_scenario(const std::string& file, const std::string& text,
                               const std::vector<std::string>& overrides = {});

// "FILE: /events/3/order: expected ..." lines.
std::string format_diagnostic(const std::string& file, const Diagnostic& d);

// Sizes: an integer number of bytes, or a string with a unit: B, KiB, MiB, GiB, TiB (binary),
// K, M, G, T (binary, as the kernel command line), kB, MB, GB, TB (decimal).
std::optional<uint64_t> parse_size(const std::string& text, std::string& error);

} // namespace mmemu
