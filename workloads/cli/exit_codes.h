// mmemu's exit codes (README.md, "Exit codes").
#pragma once

namespace mmemu::cli {

constexpr int EXIT_OK = 0;
constexpr int EXIT_EXPECTATION =
    1; // an expectation failed; compare: the runs differ; sweep: a point failed
constexpr int EXIT_BAD_INPUT = 2;
constexpr int EXIT_OUTPUT = 3;
constexpr int EXIT_KERNEL_BUG = 4;
constexpr int EXIT_LIMIT = 5;
constexpr int EXIT_INTERNAL = 70;

} // namespace mmemu::cli
