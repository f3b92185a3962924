#!/usr/bin/env python3
"""mmemu run --trace on bundled scenarios, loaded as ui.perfetto.dev loads a Chrome trace-event
JSON file, and checked:

- its structure: the JSON object format (traceEvents, displayTimeUnit, otherData); every event
  has the fields its phase needs (X: dur; i: scope; C: numeric args; M: a name); every track
  (tid) is named; the slices on each track nest (a slice that starts inside another ends inside
  it), which Perfetto needs to draw them;
- its content, against numbers worked out by hand from each scenario's description and against
  the run's statistics (counted by other code than the trace's): page faults, COW copies and
  reuses, context switches, TLB flushes and shootdowns per CPU, ksmd's batches and merges, and
  the counter tracks' last values;
- that two runs give byte-identical traces, and --trace-limit bounds it.

usage: check_trace.py --mmemu PATH"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
problems = []


def check(cond, what):
    if not cond:
        problems.append(what)
    return cond


def run(mmemu, tmp, scenario, *extra):
    stats = os.path.join(tmp, scenario + ".json")
    trace = os.path.join(tmp, scenario + ".trace.json")
    r = subprocess.run([mmemu, "run", os.path.join(ROOT, "examples", scenario + ".json"), "-o",
                        stats, "--trace", trace, *extra], capture_output=True, text=True,
                       timeout=600)
    if not check(r.returncode == 0, "%s: mmemu run exited %d: %s" % (scenario, r.returncode,
                                                                      r.stderr[-400:])):
        return None, None, None
    with open(stats) as f:
        st = json.load(f)
    with open(trace, "rb") as f:
        raw = f.read()
    return st, json.loads(raw), raw


def structure(name, tr, nr_cpus, has_ksmd):
    """The trace-event format's rules, and Perfetto's need for nested slices per track."""
    if not check(isinstance(tr, dict) and isinstance(tr.get("traceEvents"), list),
                 name + ": no traceEvents array"):
        return
    check(tr.get("displayTimeUnit") == "ns", name + ": displayTimeUnit is not ns")
    other = tr.get("otherData", {})
    evs = tr["traceEvents"]
    named = {}
    for e in evs:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            named[e["tid"]] = e["args"]["name"]
    want = {"scenario events"} | {"CPU %d" % c for c in range(nr_cpus)}
    if has_ksmd:
        want.add("ksmd")
    check(set(named.values()) == want, "%s: tracks %s, expected %s" %
          (name, sorted(named.values()), sorted(want)))
    tracks = collections.defaultdict(list)
    n = 0
    for e in evs:
        ph = e.get("ph")
        if not check(ph in ("M", "X", "i", "C"), "%s: unknown phase %r" % (name, ph)):
            continue
        check(e.get("pid") == 1 and isinstance(e.get("name"), str) and e["name"],
              "%s: event without pid 1 or a name: %r" % (name, e))
        if ph == "M":
            continue
        n += 1
        ts = e.get("ts")
        if not check(isinstance(ts, (int, float)) and ts >= 0, "%s: bad ts in %r" % (name, e)):
            continue
        if ph == "C":
            a = e.get("args", {})
            check(a and all(isinstance(v, int) for v in a.values()),
                  "%s: a counter without integer values: %r" % (name, e))
            continue
        check(e.get("tid") in named, "%s: an event on an unnamed track: %r" % (name, e))
        if ph == "i":
            check(e.get("s") in ("t", "g"), "%s: an instant without scope: %r" % (name, e))
        else:
            d = e.get("dur")
            if check(isinstance(d, (int, float)) and d >= 0, "%s: bad dur in %r" % (name, e)):
                # Microseconds with three decimals: integer nanoseconds.
                tracks[e["tid"]].append((round(ts * 1000), round(d * 1000), e["name"]))
    check(other.get("events_written") == n,
          "%s: otherData says %s events, the file has %d" % (name, other.get("events_written"), n))
    check(other.get("events_dropped") == 0, name + ": events were dropped")
    for tid, slices in tracks.items():
        # Starts in order, the longer first at a tie: each slice must end within the one it
        # starts in.
        slices.sort(key=lambda s: (s[0], -s[1]))
        stack = []
        for begin, dur, what in slices:
            while stack and begin >= stack[-1][0]:
                stack.pop()
            if stack and begin + dur > stack[-1][0]:
                problems.append("%s: on %s, %s at %d ns ends after the %s it starts in" %
                                (name, named[tid], what, begin, stack[-1][1]))
                break
            stack.append((begin + dur, what))


def by_track(tr):
    named = {e["tid"]: e["args"]["name"] for e in tr["traceEvents"]
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    out = collections.defaultdict(list)
    for e in tr["traceEvents"]:
        if e.get("ph") in ("X", "i"):
            out[named[e["tid"]]].append(e)
    return out


def count(evs, name):
    return sum(1 for e in evs if e["name"] == name)


def per_cpu(name, st, tr):
    """Each CPU's track against its per-CPU statistics (final.percpu)."""
    tracks = by_track(tr)
    for pc in st["final"]["percpu"]:
        cpu = "CPU %d" % pc["cpu"]
        evs = tracks.get(cpu, [])
        check(count(evs, "context switch") == pc["context_switches"],
              "%s: %s has %d context switches, its statistics %d" %
              (name, cpu, count(evs, "context switch"), pc["context_switches"]))
        sw = sum(1 for e in evs if e["name"] == "TLB flush" and
                 e["args"]["why"].startswith("switch_mm"))
        check(sw == pc["switch_flushes"], "%s: %s has %d switch_mm flushes, its statistics %d" %
              (name, cpu, sw, pc["switch_flushes"]))
        check(count(evs, "flush IPI") == pc["tlb_shootdowns"],
              "%s: %s has %d flush IPIs, its statistics %d" %
              (name, cpu, count(evs, "flush IPI"), pc["tlb_shootdowns"]))
        ipis = sum(e["args"]["ipis"] for e in evs if e["name"] == "TLB shootdown")
        check(ipis == pc["tlb_ipis_sent"], "%s: %s sent %d IPIs, its statistics %d" %
              (name, cpu, ipis, pc["tlb_ipis_sent"]))
        ends = [round((e["ts"] + e.get("dur", 0)) * 1000) for e in evs]
        check(not ends or max(ends) <= pc["time_ns"], "%s: %s has events after its clock" %
              (name, cpu))
    allcpu = [e for t, evs in tracks.items() if t.startswith("CPU") for e in evs]
    f = st["final"]
    pages = sum(e["args"]["pages"] for e in allcpu
                if e["name"] == "TLB flush" and "pages" in e.get("args", {}))
    check(pages == f["mmemu_faults"]["tlb_flush_pages"],
          "%s: %d pages flushed one by one, the statistics %d" %
          (name, pages, f["mmemu_faults"]["tlb_flush_pages"]))
    check(len(tracks["scenario events"]) == st["results"]["events_run"],
          "%s: %d event slices, %d events run" % (name, len(tracks["scenario events"]),
                                                   st["results"]["events_run"]))
    return allcpu, tracks


def last_counter(tr, name):
    last = None
    for e in tr["traceEvents"]:
        if e.get("ph") == "C" and e["name"] == name:
            last = e["args"]
    return last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mmemu", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # fork-server (by hand): the server's 16 MiB heap is 4096 pages, each a fault; three
        # workers write 1024 pages each (3072 faults, each a COW copy); the server rewrites its
        # first quarter alone (1024 faults, each reused in place). 8192 faults.
        st, tr, raw = run(args.mmemu, tmp, "fork-server")
        if tr:
            structure("fork-server", tr, st["machine"]["cpus"], True)
            allcpu, _ = per_cpu("fork-server", st, tr)
            check(count(allcpu, "page fault") == 8192, "fork-server: %d page faults, not 8192" %
                  count(allcpu, "page fault"))
            check(count(allcpu, "COW copy") == 3072, "fork-server: %d COW copies, not 3072" %
                  count(allcpu, "COW copy"))
            check(count(allcpu, "COW reuse") == 1024, "fork-server: %d COW reuses, not 1024" %
                  count(allcpu, "COW reuse"))
            free = last_counter(tr, "free pages")
            fz = {"Node %d %s" % (z["node"], z["zone"]): z["nr_free_pages"]
                  for z in st["final"]["zoneinfo"] if z["managed"]}
            check(free == fz, "fork-server: the last free pages sample %r is not the final "
                  "state's %r" % (free, fz))
            # Same scenario, same trace, byte for byte.
            _, _, again = run(args.mmemu, tmp, "fork-server")
            check(again == raw, "fork-server: two runs gave different traces")
        # ksm-fleet (by hand, from its description): 1088 distinct pages in four workers, each
        # merged as a pair (one PTE replaced) and then twice from the stable tree: 3264 merges;
        # 256 pages written and copied (cow_ksm), then merged among themselves: 255 more.
        st, tr, _ = run(args.mmemu, tmp, "ksm-fleet")
        if tr:
            structure("ksm-fleet", tr, st["machine"]["cpus"], True)
            allcpu, tracks = per_cpu("ksm-fleet", st, tr)
            ksmd = tracks["ksmd"]
            check(count(ksmd, "merge") == 3519, "ksm-fleet: %d merges, not 3519" %
                  count(ksmd, "merge"))
            check(count(allcpu, "COW copy (KSM page)") == 256,
                  "ksm-fleet: %d copies of KSM pages, not 256" %
                  count(allcpu, "COW copy (KSM page)"))
            batches = [e for e in ksmd if e["name"] == "scan batch"]
            check(len(batches) == st["final"]["ksmd"]["batches"],
                  "ksm-fleet: %d batches, the statistics %d" %
                  (len(batches), st["final"]["ksmd"]["batches"]))
            check(sum(e["args"]["pages_visited"] for e in batches) ==
                  st["final"]["ksm"]["pages_scanned"] + st["final"]["ksm"]["pages_skipped"],
                  "ksm-fleet: the batches' visits are not pages_scanned + pages_skipped")
            # Each merge lies within a batch.
            spans = [(round(b["ts"] * 1000), round((b["ts"] + b["dur"]) * 1000)) for b in batches]
            outside = [m for m in ksmd if m["name"] == "merge" and
                       not any(s <= round(m["ts"] * 1000) <= e for s, e in spans)]
            check(not outside, "ksm-fleet: %d merges outside every batch" % len(outside))
            k = last_counter(tr, "ksm")
            check(k and k["pages_shared"] == 1089 and k["pages_sharing"] == 3263 and
                  k["full_scans"] == st["final"]["ksm"]["full_scans"],
                  "ksm-fleet: the last KSM sample %r is not 1089 shared, 3263 sharing" % k)
        # A bare machine: its TLB instructions, on the CPU that ran them.
        st, tr, _ = run(args.mmemu, tmp, "bare-x86_64-tlb")
        if tr:
            structure("bare-x86_64-tlb", tr, st["machine"]["cpus"], False)
            sc = json.load(open(os.path.join(ROOT, "examples", "bare-x86_64-tlb.json")))
            ops = [e.get("op") for e in sc["events"]]
            cpu = by_track(tr)["CPU 0"]
            check(count(cpu, "INVLPG") == ops.count("invlpg"),
                  "bare-x86_64-tlb: %d INVLPG, the scenario has %d" %
                  (count(cpu, "INVLPG"), ops.count("invlpg")))
        # The limit: 100 events written, the rest counted, and the file still whole.
        st, tr, _ = run(args.mmemu, tmp, "fork-server", "--trace-limit", "100")
        if tr:
            o = tr["otherData"]
            check(o["events_written"] == 100 and o["events_dropped"] > 0 and
                  sum(1 for e in tr["traceEvents"] if e["ph"] != "M") == 101,
                  "--trace-limit 100: %r" % o)
    for p in problems:
        print("FAIL:", p)
    print("trace: %d problems" % len(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
