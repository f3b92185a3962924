#!/usr/bin/env bash
# The concurrent mode under ThreadSanitizer (CI runs it after the other tests): builds mmemu and
# the emulator's tests in build-tsan with -fsanitize=thread, runs the tests of the CPUs' threads
# and IPIs and of the walker's race with the kernel, then the stress scenarios of
# tests/scenarios/concurrent with --concurrent, RUNS times each (default 3), each run bounded by
# a timeout: ksm-stress.json (four processes, one per CPU, and ksmd), threads-stress.json (one
# process's four threads on four CPUs, ended by a SIGSEGV) and oom-threads.json (the OOM killer
# against a process faulting on three CPUs). Any report of ThreadSanitizer fails it
# (halt_on_error), as does a run whose reads, audits or final "every frame back" check fail, or
# whose signals and failures are not the ones the scenario causes.
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
  for sc in ksm-stress threads-stress oom-threads; do
    out=$(mktemp)
    timeout 600 build-tsan/workloads/mmemu run --concurrent --compact \
      "tests/scenarios/concurrent/$sc.json" > "$out"
    python3 - "$out" "$sc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert r["expectations"]["failed"] == 0, r
if sys.argv[2] == "ksm-stress":
    assert not r["failures"] and not r["signals"] and r["audits_passed"] == 2, r
elif sys.argv[2] == "oom-threads":
    # One OOM kill of p (whichever of its tasks' CPUs delivers it); q's bytes survive.
    assert [s["signal"] for s in r["signals"]] == ["SIGKILL"], r["signals"]
    assert r["signals"][0]["process"] in ("p", "t1", "t2"), r["signals"]
    assert r["signals"][0]["reason"].startswith("Out of memory: Killed process 1 (p)"), r
    why = "ESRCH: the process was killed (SIGKILL (the OOM killer))"
    assert all(f["reason"] == why for f in r["failures"]), r
    assert r["audits_passed"] == 2 and r["expectations"]["checked"] >= 1, r
else:
    # One SIGSEGV (t2's or t3's, whichever CPU got there first); the process's events after it
    # find it killed.
    assert [s["signal"] for s in r["signals"]] == ["SIGSEGV"], r["signals"]
    assert r["signals"][0]["process"] in ("t2", "t3"), r["signals"]
    assert all(f["reason"] == "ESRCH: the process was killed (SIGSEGV)" for f in r["failures"]), r
    assert r["audits_passed"] == 3, r
PY
    rm -f "$out"
    echo "test-tsan: $sc run $i of $RUNS: clean"
  done
done
