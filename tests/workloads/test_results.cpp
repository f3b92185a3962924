// Results::take_parts (workloads/results.h): the concurrent mode's vCPU threads each record into
// their own part; a barrier moves the parts' records into the run's results in event order
// (one event's records keep their order), adds their counts, and keeps the earliest kernel BUG.
#include <catch2/catch.hpp>

#include "workloads/results.h"

using namespace mmemu;

TEST_CASE("results: the vCPU threads' parts merge in event order at a barrier", "[results]") {
    Results run;
    run.events_run = 3;
    run.signals.push_back(SignalRecord{2, "p0", 1, "SIGKILL", "", 0, 0, "before"});
    std::vector<Results> parts(2);
    // CPU 0 ran events 4 and 7, CPU 1 events 5 and 6 (each part in its own order).
    parts[0].events_run = 2;
    parts[0].process_failure(4, "mmap", "p0", "ENOMEM");
    parts[0].process_failure(7, "mmap", "p0", "EINVAL");
    parts[0].expectation(7, "");
    parts[1].events_run = 2;
    parts[1].process_failure(5, "munmap", "p1", "EINVAL");
    parts[1].process_failure(6, "brk", "p1", "ENOMEM");
    parts[1].process_failure(6, "brk", "p1", "EAGAIN"); // the same event's second record
    parts[1].expectation(6, "wrong");
    parts[1].signals.push_back(SignalRecord{6, "p1", 2, "SIGSEGV", "SEGV_MAPERR", 0x1000, 6, ""});
    parts[0].kernel_bug = KernelBugRecord{7, "write", "late"};
    parts[1].kernel_bug = KernelBugRecord{5, "munmap", "early"};

    run.take_parts(parts);
    CHECK(run.events_run == 7);
    CHECK(run.expectations_checked == 2);
    REQUIRE(run.expectation_failures.size() == 1);
    CHECK(run.expectation_failures[0].first == 6);
    REQUIRE(run.failures.size() == 5);
    const std::vector<std::pair<uint32_t, std::string>> want = {
        {4, "ENOMEM"}, {5, "EINVAL"}, {6, "ENOMEM"}, {6, "EAGAIN"}, {7, "EINVAL"}};
    for (size_t i = 0; i < want.size(); i++) {
        CHECK(run.failures[i].event == want[i].first);
        CHECK(run.failures[i].reason == want[i].second);
    }
    // Records already in the run stay first.
    REQUIRE(run.signals.size() == 2);
    CHECK(run.signals[0].reason == "before");
    CHECK(run.signals[1].event == 6);
    REQUIRE(run.kernel_bug);
    CHECK(run.kernel_bug->message == "early");
    // The parts are empty for the next stretch.
    CHECK(parts[0].failures.empty());
    CHECK(parts[1].events_run == 0);
    CHECK_FALSE(parts[0].kernel_bug);
}
