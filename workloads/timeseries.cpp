#include "workloads/timeseries.h"

#include <algorithm>

#include "system/system.h"

namespace mmemu {

const std::vector<std::string>& default_timeseries_counters(bool bare) {
    // Free pages per zone, KSM's counters, each process's RSS, each CPU's TLB misses (walks) and
    // accesses; in a bare machine, each CPU's TLB statistics.
    static const std::vector<std::string> kernel = {
        "zoneinfo.*.nr_free_pages", "ksm.pages_shared",   "ksm.pages_sharing",
        "ksm.pages_unshared",       "ksm.pages_volatile", "ksm.full_scans",
        "processes.*.VmRSS",        "percpu.*.accesses",  "percpu.*.walks"};
    static const std::vector<std::string> machine = {"cpus"};
    return bare ? machine : kernel;
}

Sampler::Sampler(const TimeseriesConfig& cfg) : cfg_(cfg) {
    std::string error;
    for (const auto& c : cfg_.counters) {
        // The scenario compiler checked each pattern and its group.
        auto p = PathPattern::parse(c, error);
        if (!p) continue;
        if (std::find(groups_.begin(), groups_.end(), p->first_key()) == groups_.end())
            groups_.push_back(p->first_key());
        patterns_.push_back(std::move(*p));
    }
}

void Sampler::take_until(const System& sys, uint64_t t_ns) {
    const uint64_t period = cfg_.every_ms * 1000000;
    while (!truncated_ && next_ns_ <= t_ns) {
        if (samples_.size() >= MAX_TIMESERIES_SAMPLES) {
            truncated_ = true;
            break;
        }
        take(sys, next_ns_);
        if (next_ns_ > UINT64_MAX - period) {
            truncated_ = true; // the end of virtual time
            break;
        }
        next_ns_ += period;
    }
}

void Sampler::take(const System& sys, uint64_t t_ns) {
    const ojson state = state_json(sys, groups_);
    ojson row = ojson::object();
    row["t_ms"] = t_ns / 1000000;
    std::vector<std::string> path;
    collect(state, path, row);
    samples_.push_back(std::move(row));
}

// Every number under a path some pattern covers, as "path": value.
void Sampler::collect(const ojson& v, std::vector<std::string>& path, ojson& row) const {
    if (v.is_structured()) {
        bool any = false;
        for (const auto& p : patterns_) any |= p.may_cover_below(path);
        if (!any) return;
        if (v.is_object()) {
            for (auto it = v.begin(); it != v.end(); ++it) {
                path.push_back(it.key());
                collect(*it, path, row);
                path.pop_back();
            }
        } else {
            for (size_t i = 0; i < v.size(); ++i) {
                path.push_back(std::to_string(i));
                collect(v[i], path, row);
                path.pop_back();
            }
        }
        return;
    }
    if (!v.is_number()) return;
    for (const auto& p : patterns_)
        if (p.covers(path)) {
            row[join_path(path)] = v;
            return;
        }
}

ojson Sampler::json() const {
    ojson o = ojson::object();
    o["every_ms"] = cfg_.every_ms;
    o["counters"] = cfg_.counters;
    o["truncated"] = truncated_;
    o["samples"] = samples_;
    return o;
}

} // namespace mmemu
