#!/usr/bin/env bash
# The KSM benchmarks of the KSM issue, side by side in one run: this machine's own ksmd on the
# work (bench/native/ksm_merge.c: needs root and /sys/kernel/mm/ksm; it puts back every knob it
# changes and leaves run at 0) and mmemu's ksmd work on the same (bench/ksm/bench_ksm.cpp,
# Google Benchmark; the boot and the process's setup not timed). Medians of RUNS runs (default
# 5). Prints each figure, mmemu/native, and the target.
#
#   scripts/bench-ksm.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BENCH=${MMEMU_KSM_BENCH:-build/bench/ksm_bench}
[ -x "$BENCH" ] || scripts/setup.sh >/dev/null
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cc -O2 -o "$OUT/ksm_merge" bench/native/ksm_merge.c
python3 - "$OUT/ksm_merge" "$RUNS" "$BENCH" <<'PY'
import json, os, statistics, subprocess, sys
native, runs, bench = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def google(name):
    r = subprocess.run([bench, f"--benchmark_filter=^{name}$", f"--benchmark_repetitions={runs}",
                        "--benchmark_format=json"], check=True, capture_output=True, text=True)
    for b in json.loads(r.stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            return b
    raise SystemExit("no median for " + name)

def native_run(mib):
    if os.geteuid() != 0 or not os.path.exists("/sys/kernel/mm/ksm/run"):
        return None
    r = subprocess.run([native, str(mib)], check=True, capture_output=True, text=True)
    return dict((k, float(v)) for k, v in (l.split() for l in r.stdout.splitlines()))

nats = {mib: [n for n in (native_run(mib) for _ in range(runs)) if n] for mib in (64, 256, 1024)}
nat = nats[256]
merge_n = statistics.median(n["merge_ms"] for n in nat) if nat else None
steady_n = statistics.median(n["steady_pages_per_s"] for n in nat) if nat else None
merge_m = google("BM_ksm_full_merge/256/real_time")["real_time"]
steady = {mib: google(f"BM_ksm_steady_scan/{mib}/real_time") for mib in (64, 256, 1024)}
steady_m = steady[256]["pages_per_second"]

def row(name, m, n, target):
    ratio = f"{m / n:13.2f}" if n else f"{'n/a':>13}"
    ns = f"{n:12.1f}" if n else f"{'(no root)':>12}"
    print(f"{name:36} {m:12.1f} {ns} {ratio}  {target}")

print(f"{'figure':36} {'mmemu':>12} {'native':>12} {'mmemu/native':>13}  target")
row("time to full merge, ms (256 MiB)", merge_m, merge_n, "<= 0.33")
row("steady-state pages scanned/s", steady_m, steady_n, ">= 3")
per = [steady[m]["ns_per_page"] * 1e9 for m in (64, 256, 1024)]  # seconds per page
print(f"{'ns per page per full scan, 64M/256M/1G':36} " + ", ".join(f"{p:.0f}" for p in per) +
      f"  (growth {per[2] / per[0]:.2f}x, target <= 1.5x)")
if all(nats.values()):
    nper = [1e9 / statistics.median(n["steady_pages_per_s"] for n in nats[m]) for m in (64, 256, 1024)]
    print(f"{'  native ksmd, the same':36} " + ", ".join(f"{p:.0f}" for p in nper) +
          f"  (growth {nper[2] / nper[0]:.2f}x)")
PY
