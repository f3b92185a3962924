#include "workloads/results.h"

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

} // namespace mmemu
