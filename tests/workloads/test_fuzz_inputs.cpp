// Every input the fuzzers found a bug with (tests/fuzz/scenario, tests/fuzz/statistics) runs
// through its target's code again: it must finish without a crash or an exception (the
// sanitizer build of the tests also checks memory errors and undefined behaviour).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/targets.h"

namespace {

std::vector<std::string> inputs(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(std::string(MMEMU_SOURCE_DIR) +
                                                             "/tests/fuzz/" + dir)) {
        if (!e.is_regular_file() || e.path().filename() == "README.md") continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        out.push_back(ss.str());
    }
    return out;
}

} // namespace

TEST_CASE("fuzz inputs: every kept input runs through its target again", "[fuzz]") {
    const auto scenarios = inputs("scenario");
    CHECK(scenarios.size() >= 1);
    for (const auto& s : scenarios)
        CHECK_NOTHROW(
            mmemu::fuzz::scenario_input(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
    for (const auto& s : inputs("statistics"))
        CHECK_NOTHROW(
            mmemu::fuzz::statistics_input(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}
