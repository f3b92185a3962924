// Time series: every N milliseconds of virtual time, a sample of chosen counters of the state
// (free pages per zone, KSM's counters, each process's RSS, the CPUs' TLB misses...), so users
// can plot how a run evolves. A scenario asks for it with "timeseries" (docs/scenario-format.md);
// the samples go to the statistics' "timeseries" section.
//
// When a sample is taken: the driver takes every sample due up to the end of each event (after
// ksmd has caught up with it), and ksmd, before each of its batches, every sample due up to the
// batch's start. So a sample at time t shows every event that started before t (an event's
// effects all land at once, at its end) and exactly the ksmd batches that started before t.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "workloads/stat_path.h"
#include "workloads/statistics.h"

namespace mmemu {

class System;

// At most this many samples (a run that would take more stops sampling and says so).
inline constexpr uint64_t MAX_TIMESERIES_SAMPLES = 100000;
inline constexpr uint64_t MAX_TIMESERIES_COUNTERS = 64;

struct TimeseriesConfig {
    uint64_t every_ms = 0;             // 0: no time series
    std::vector<std::string> counters; // patterns into a state ("ksm.pages_sharing")
};

// What a kernel scenario samples when the scenario names no counters.
const std::vector<std::string>& default_timeseries_counters(bool bare);

class Sampler {
public:
    explicit Sampler(const TimeseriesConfig& cfg);
    // Takes every sample due at times up to t_ns (inclusive).
    void take_until(const System& sys, uint64_t t_ns);
    // The statistics' "timeseries" section.
    ojson json() const;

private:
    void take(const System& sys, uint64_t t_ns);
    void collect(const ojson& v, std::vector<std::string>& path, ojson& row) const;

    TimeseriesConfig cfg_;
    std::vector<PathPattern> patterns_;
    std::vector<std::string> groups_; // the state groups the patterns read
    uint64_t next_ns_ = 0;
    ojson samples_ = ojson::array();
    bool truncated_ = false;
};

} // namespace mmemu
