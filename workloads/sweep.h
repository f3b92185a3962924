// `mmemu sweep`: a grid of --set values (and seeds) over one scenario, expanded into points, each
// run as its own `mmemu run` with its own statistics file, and a summary CSV of chosen values.
// The grid file (docs/sweep.md):
//   {"mmemu_sweep": 1, "scenario": "../examples/ksm-fleet.json",
//    "parameters": {"kernel.ksm.pages_to_scan": [100, 1000], "machine.cpus": [1, 2]},
//    "seeds": [1, 2], "summary": ["final.ksm.pages_sharing", "final.meminfo.MemFree"]}
// Points are the cartesian product, the first parameter varying slowest, then the seeds.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "workloads/json_checker.h"

namespace mmemu {

inline constexpr size_t MAX_SWEEP_POINTS = 100000;
inline constexpr size_t MAX_SWEEP_PARAMETERS = 16;

struct SweepGrid {
    std::string scenario; // the path as the command runs it (relative to the grid's folder)
    std::vector<std::pair<std::string, std::vector<nlohmann::json>>> parameters;
    std::vector<uint64_t> seeds; // empty: the scenario's own seed
    std::vector<std::string> summary;
};

struct SweepPoint {
    size_t index = 0;
    std::vector<nlohmann::json> values; // each parameter's value, in the parameters' order
    std::vector<std::string> sets;      // the same as --set arguments: "key=value"
    std::optional<uint64_t> seed;
};

// Reads a grid file's text (`dir` is the grid file's folder, for the scenario's path). Every
// problem is reported by JSON path (diagnostics with positions, as scenarios get them).
std::optional<SweepGrid> parse_sweep_grid(const std::string& text, const std::string& dir,
                                          std::vector<Diagnostic>& errors);
// Every point of the grid, in order.
std::vector<SweepPoint> sweep_points(const SweepGrid& g);
// The point's statistics file name inside the output folder ("points/0007.json").
std::string sweep_point_file(size_t index, size_t total);
// The arguments of `mmemu run` for a point (after the program name).
std::vector<std::string> sweep_run_args(const SweepGrid& g, const SweepPoint& p,
                                        const std::string& stats_path);
// A command line, each argument quoted for sh.
std::string shell_command(const std::string& program, const std::vector<std::string>& args);
// The summary CSV: a row per point (index, each parameter, seed, exit code, each summary
// value); `stats` holds each point's statistics (null when it has none) and `exit_codes` each
// point's exit code (-1: not run).
std::string sweep_summary_csv(const SweepGrid& g, const std::vector<SweepPoint>& points,
                              const std::vector<nlohmann::ordered_json>& stats,
                              const std::vector<int>& exit_codes);

} // namespace mmemu
