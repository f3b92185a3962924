#!/usr/bin/env bash
# The concurrent mode under ThreadSanitizer (CI runs it after the other tests): builds mmemu and
# the emulator's tests in build-tsan with -fsanitize=thread, runs the tests of the CPUs' threads
# and IPIs and of the walker's race with the kernel, then the stress scenario
# (tests/scenarios/concurrent/ksm-stress.json) with --concurrent, RUNS times (default 3), each
# bounded by a timeout. Any report of ThreadSanitizer fails it (halt_on_error), as does a run
# whose reads, audits or final "every frame back" check fail.
#
#   scripts/test-tsan.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
export BUILD_DIR=build-tsan BUILD_TARGETS="mmemu emulator_tests"
export CMAKE_ARGS="-DMMEMU_TSAN=ON -DMMEMU_TESTS=ON -DMMEMU_BENCH=OFF"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
scripts/setup.sh
build-tsan/tests/emulator_tests -w NoTests "[smp],paging: a walker*"
for i in $(seq "$RUNS"); do
  out=$(mktemp)
  timeout 600 build-tsan/workloads/mmemu run --concurrent --compact \
    tests/scenarios/concurrent/ksm-stress.json > "$out"
  python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert r["expectations"]["failed"] == 0 and not r["failures"] and r["audits_passed"] == 2, r
PY
  rm -f "$out"
  echo "test-tsan: stress run $i of $RUNS: clean"
done
