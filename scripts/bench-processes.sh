#!/usr/bin/env bash
# The processes benchmarks of the processes issue, side by side in one run: the same work on
# this machine's real Linux kernel (bench/native/anon_faults.c, timed around the work itself,
# warm) and in mmemu (bench/mmcore/bench_process.cpp, Google Benchmark, timed around the same
# work). Host memory per touched page and the scaling of a fork-heavy scenario are measured on
# whole `mmemu run`s of generated scenarios. Medians of RUNS runs (default 5). Prints each
# figure and mmemu/native.
#
#   scripts/bench-processes.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BIN=${MMEMU:-build/workloads/mmemu}
BENCH=${MMEMU_BENCH:-build/bench/mmcore_bench}
[ -x "$BIN" ] && [ -x "$BENCH" ] || scripts/build.sh >/dev/null
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cc -O2 -o "$OUT/anon_faults" bench/native/anon_faults.c
python3 - "$BIN" "$OUT" "$RUNS" "$BENCH" <<'PY'
import json, os, resource, statistics, subprocess, sys, time
bin_, out, runs, bench = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
native = os.path.join(out, "anon_faults")

def scenario(name, events, memory="4GiB"):
    path = os.path.join(out, name + ".json")
    json.dump({"mmemu_scenario": 1, "name": name, "machine": {"memory": memory, "cpus": 2},
               "events": events}, open(path, "w"))
    return path

def mmemu(path):
    """Wall seconds and peak RSS (bytes) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([bin_, "run", path, "--no-audit", "-o", os.devnull], check=True)
    return time.perf_counter() - t0

def peak_rss(path, audit=False):
    r = subprocess.run(["/usr/bin/env", "python3", "-c",
        "import resource,subprocess,sys;subprocess.run(sys.argv[1:],check=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
        bin_, "run", path, "-o", os.devnull] + ([] if audit else ["--no-audit"]),
        check=True, capture_output=True, text=True)
    return int(r.stdout.strip()) * 1024

def native_figure(mode, mib):
    r = subprocess.run([native, mode, str(mib)], check=True, capture_output=True, text=True)
    return float(r.stdout.split()[1])

def diff(a, b):
    """The fastest run of a minus the fastest of b, over runs alternated (the fastest run is
    the one the machine disturbed least; the host's page faults on fresh emulated RAM make
    the rest noisy)."""
    ta, tb = [], []
    for _ in range(runs):
        ta.append(mmemu(a))
        tb.append(mmemu(b))
    return min(ta) - min(tb)

spawn = {"op": "spawn", "process": "p"}
def heap(mib):
    return {"op": "mmap", "process": "p", "region": "heap", "length": f"{mib}MiB"}
touch_p = {"op": "touch", "process": "p", "region": "heap"}

def google(name):
    """The median of a benchmark of bench_process.cpp: its counters and real time (ms)."""
    r = subprocess.run([bench, f"--benchmark_filter=^{name}$", f"--benchmark_repetitions={runs}",
                        "--benchmark_format=json"], check=True, capture_output=True, text=True)
    for b in json.loads(r.stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            return b
    raise SystemExit("no median for " + name)

rows = []
# 1. demand-zero faults: a write to each page of a fresh 1 GiB region.
m = google("BM_demand_zero_faults/1024/real_time")["faults_per_second"]
n = statistics.median(native_figure("zero", 1024) for _ in range(runs))
rows.append(("demand-zero faults/s (1 GiB)", m, n, m / n, ">= 1"))
# 2. fork of a process with 512 MiB touched.
m = google("BM_fork/512/real_time")["real_time"]
n = statistics.median(native_figure("fork", 512) for _ in range(runs))
rows.append(("fork ms (512 MiB touched)", m, n, m / n, "<= 1"))
# 3. COW faults after fork: the child writes each page.
m = google("BM_cow_faults/512/real_time")["faults_per_second"]
n = statistics.median(native_figure("cow", 512) for _ in range(runs))
rows.append(("COW faults/s (512 MiB)", m, n, m / n, ">= 1"))
# 4. host memory per touched page: the slope of peak RSS between N and 2N pages.
rss1 = scenario("rss1", [spawn, heap(512), touch_p])
rss2 = scenario("rss2", [spawn, heap(1024), touch_p])
per_page = (peak_rss(rss2) - peak_rss(rss1)) / 131072
# ... and what the invariant checker adds (its shadow memory: a touched page holds one byte
# that is not zero, so the shadow keeps the page's 4 KiB), reported apart.
checker_per_page = (peak_rss(rss2, True) - peak_rss(rss1, True)) / 131072 - per_page
# 5. scaling: a fork-heavy server at 1x, 4x and 16x its size (256, 1024, 4096 workers in turn, each
# forked from a server with 32 MiB touched, writing 2 MiB of its own and exiting): host time per
# page touched.
def forky(k):
    ev = [spawn, heap(32), touch_p]
    for i in range(256 * k):
        ev.append({"op": "fork", "process": "p", "child": f"w{i}"})
        ev.append({"op": "touch", "process": f"w{i}", "region": "heap", "length": "2MiB",
                   "offset": f"{(2 * i) % 32}MiB"})
        ev.append({"op": "exit", "process": f"w{i}"})
    return scenario(f"forky{k}", ev, "1GiB"), 32 * 256 + 256 * k * 512
per = []
empty = scenario("empty", [spawn], "1GiB")
for k in (1, 4, 16):
    path, pages = forky(k)
    per.append(diff(path, empty) / pages * 1e9)

print(f"{'figure':34} {'mmemu':>12} {'native':>12} {'mmemu/native':>13}  target")
for name, m, n, ratio, target in rows:
    print(f"{name:34} {m:12.1f} {n:12.1f} {ratio:13.2f}  {target}")
print(f"{'host bytes per touched page':34} {per_page:12.0f} {'':12} {'':13}  <= 4352")
print(f"{'  + the checker, per touched page':34} {checker_per_page:12.0f} {'':12} {'':13}  (apart)")
spread = (max(per) - min(per)) / min(per) * 100
print(f"{'fork-heavy ns/page at 1x, 4x, 16x':34} " + ", ".join(f"{p:.0f}" for p in per) +
      f"  (spread {spread:.0f} %, target < 25 %)")
PY
