#include "workloads/results.h"

#include <algorithm>
#include <iterator>

namespace mmemu {

void Results::failure(uint32_t event, const char* op, const std::string& subject, bool is_cache,
                      const std::string& reason, uint64_t index) {
    if (!failures.empty()) {
        FailureRecord& f = failures.back();
        if (f.event == event && f.op == op && f.is_cache == is_cache && f.subject == subject &&
            f.reason == reason) {
            f.count++;
            f.last = index;
            return;
        }
    }
    failures.push_back({event, op, subject, is_cache, reason, 1, index, index});
}

Expectation Results::expectation(uint32_t event, std::string failure) {
    expectations_checked++;
    if (!failure.empty()) {
        expectation_failures.emplace_back(event, failure);
    }
    return Expectation{true, std::move(failure)};
}

namespace {

uint32_t event_of(const FailureRecord& r) {
    return r.event;
}
uint32_t event_of(const FaultRecord& r) {
    return r.event;
}
uint32_t event_of(const AccessLikeRecord& r) {
    return std::visit([](const auto& x) { return x.event; }, r);
}
uint32_t event_of(const std::pair<uint32_t, std::string>& r) {
    return r.first;
}
uint32_t event_of(const SignalRecord& r) {
    return r.event;
}
uint32_t event_of(uint32_t event) {
    return event;
}
uint32_t event_of(const PagemapRecord& r) {
    return r.event;
}
uint32_t event_of(const CheckpointRecord& r) {
    return r.event;
}

template <class T>
void take_records(std::vector<T>& into, std::vector<Results>& parts,
                  std::vector<T> Results::*field) {
    const size_t start = into.size();
    for (Results& p : parts) {
        std::vector<T>& from = p.*field;
        std::move(from.begin(), from.end(), std::back_inserter(into));
        from.clear();
    }
    std::stable_sort(into.begin() + ptrdiff_t(start), into.end(),
                     [](const T& a, const T& b) { return event_of(a) < event_of(b); });
}

void take_first(std::optional<KernelBugRecord>& into, std::optional<KernelBugRecord>& from) {
    if (from && (!into || from->event < into->event)) into = std::move(from);
    from.reset();
}

} // namespace

void Results::take_parts(std::vector<Results>& parts) {
    for (Results& p : parts) {
        events_run += std::exchange(p.events_run, 0);
        audits_passed += std::exchange(p.audits_passed, 0);
        expectations_checked += std::exchange(p.expectations_checked, 0);
        take_first(kernel_bug, p.kernel_bug);
        take_first(limit_reached, p.limit_reached);
    }
    take_records(failures, parts, &Results::failures);
    take_records(faults, parts, &Results::faults);
    take_records(accesses, parts, &Results::accesses);
    take_records(expectation_failures, parts, &Results::expectation_failures);
    take_records(signals, parts, &Results::signals);
    take_records(oom_kill_events, parts, &Results::oom_kill_events);
    take_records(pagemaps, parts, &Results::pagemaps);
    take_records(checkpoints, parts, &Results::checkpoints);
}

} // namespace mmemu
