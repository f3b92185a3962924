#!/usr/bin/env bash
# Sets up and runs every test (each Catch2 test case is its own ctest test).
# With SANITIZE=1 it builds in build-asan with AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SANITIZE:-0}" = 1 ]; then
  export BUILD_DIR=build-asan CMAKE_ARGS="-DMMEMU_SANITIZE=ON -DMMEMU_TESTS=ON -DMMEMU_BENCH=OFF"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
BUILD_DIR=${BUILD_DIR:-build}
scripts/setup.sh
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j"$(nproc)"
