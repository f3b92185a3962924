// The scenario language, format v1: a versioned JSON document (machine, kernel, events) that is
// read strictly (workloads/json_reader.h), validated with every problem reported by file
// position and JSON path, then compiled into a list of typed ops (workloads/op.h) so that no JSON
// is touched while the scenario runs. docs/scenario-format.md documents it and
// docs/scenario.schema.json is its JSON Schema.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/machine.h"
#include "mmcore/kernel_config.h"
#include "workloads/json_checker.h"
#include "workloads/op.h"
#include "workloads/timeseries.h"

namespace mmemu {

inline constexpr int SCENARIO_FORMAT_VERSION = 1;

// Limits the reader enforces (docs/scenario-format.md, "Limits").
inline constexpr uint64_t MAX_SCENARIO_BYTES = uint64_t{16} << 20; // the file
inline constexpr uint64_t MAX_EVENTS = 1000000;                    // the events array

struct Scenario {
    std::string file;
    bool bare = false; // "mode": "bare": no kernel is booted; ops drive the CPUs directly
    std::string name;
    std::string description;
    uint64_t seed = 0;
    std::string source_sha256;          // SHA-256 of the file's text, before any override
    std::vector<std::string> overrides; // the --set (and --seed) overrides, as given
    MachineConfig machine;
    KernelConfig kernel;
    TimeseriesConfig timeseries; // every_ms 0: none
    std::vector<std::unique_ptr<Op>> ops;
    // What the kernel section asks of the booted kernel before the events (kernel.ksm's knob
    // writes), run by the driver once the machine has booted.
    std::vector<std::unique_ptr<Op>> boot_ops;
    std::shared_ptr<KernelNames> kernel_names;   // the kernel ops' ids and caches (may be null)
    std::shared_ptr<ProcessNames> process_names; // the processes and regions (may be null)
    std::vector<std::string> checkpoint_names;
};

struct CompileResult {
    std::optional<Scenario> scenario; // set when there are no diagnostics
    std::vector<Diagnostic> errors;   // each with its JSON path and, when known, file position
};

// Reads and validates `text` (the contents of `file`); `overrides` are "a.b.c=value" strings
// applied to the document before validation (value read as JSON, else taken as a string).
CompileResult compile_scenario(const std::string& file, const std::string& text,
                               const std::vector<std::string>& overrides = {});

// "FILE:LINE:COL: /events/3/order: expected ..." (without LINE:COL when the place is not in the
// file, e.g. a --set override).
std::string format_diagnostic(const std::string& file, const Diagnostic& d);

// Reads a scenario file: a regular file of at most MAX_SCENARIO_BYTES (a directory, a device,
// a pipe or an endless stream is refused). Returns false with `error` set.
bool read_scenario_file(const std::string& path, std::string& text, std::string& error);

} // namespace mmemu
