#!/usr/bin/env python3
"""PNG plots of an mmemu statistics file (scripts/plot is the entry point; it installs
python3-matplotlib from Debian when missing).

  buddyinfo.png   free blocks per zone and order as a heat map (the final state, or --checkpoint)
  ksm.png         KSM's counters over time (the time series' ksm.* columns)
  tlb.png         TLB miss rate per CPU: page walks per access, over time from the time series'
                  percpu.N.walks and percpu.N.accesses, else the final totals as bars
  rss.png         RSS per process: over time from processes.N.VmRSS, else the final values

A plot whose data the file lacks is skipped with a note (KSM counters need a "timeseries" with
ksm counters; a bare machine has no buddyinfo). Exit 0, 2 on bad input.
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def fail(msg):
    print("plot: " + msg, file=sys.stderr)
    sys.exit(2)


def series(samples, prefix, suffix=None):
    """{column: ([t_ms], [value])} for the sample columns that start with prefix (and end with
    suffix)."""
    out = {}
    for row in samples:
        t = row.get("t_ms")
        for k, v in row.items():
            if k == "t_ms" or not k.startswith(prefix) or (suffix and not k.endswith(suffix)):
                continue
            xs, ys = out.setdefault(k, ([], []))
            xs.append(t)
            ys.append(v)
    return out


def plot_buddyinfo(state, path, title):
    rows = state.get("buddyinfo")
    if not rows:
        return "no buddyinfo (a bare machine?)"
    labels = ["node %s %s" % (r["node"], r["zone"]) for r in rows]
    orders = max(len(r["nr_free"]) for r in rows)
    data = [[math.log10(1 + (r["nr_free"][o] if o < len(r["nr_free"]) else 0))
             for o in range(orders)] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.5 * len(rows)))
    im = ax.imshow(data, aspect="auto", cmap="viridis")
    ax.set_xticks(range(orders))
    ax.set_xlabel("order")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels)
    for i, r in enumerate(rows):
        for o in range(orders):
            n = r["nr_free"][o] if o < len(r["nr_free"]) else 0
            ax.text(o, i, str(n), ha="center", va="center", color="w", fontsize=7)
    fig.colorbar(im, ax=ax, label="log10(1 + free blocks)")
    ax.set_title("buddyinfo: free blocks per zone and order (" + title + ")")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def plot_lines(cols, path, title, ylabel, label=lambda k: k):
    if not cols:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k in sorted(cols):
        xs, ys = cols[k]
        ax.step(xs, ys, where="post", label=label(k))
    ax.set_xlabel("virtual time (ms)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def bar_chart(path, labels, values, xlabel, ylabel, title):
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(labels, values)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description="PNG plots of an mmemu statistics file")
    ap.add_argument("stats")
    ap.add_argument("-o", "--out", default=".", help="the folder for the PNGs (default: .)")
    ap.add_argument("--checkpoint", help="buddyinfo of this checkpoint instead of the final state")
    args = ap.parse_args()
    try:
        with open(args.stats) as f:
            st = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (args.stats, e))
    if not isinstance(st, dict) or "mmemu_stats" not in st:
        fail("%s is not mmemu statistics (no mmemu_stats)" % args.stats)
    os.makedirs(args.out, exist_ok=True)
    state, where = st.get("final"), "final state"
    if args.checkpoint:
        found = [c for c in st.get("checkpoints", []) if c.get("name") == args.checkpoint]
        if not found:
            fail("no checkpoint named %r" % args.checkpoint)
        state, where = found[0].get("state"), "checkpoint " + args.checkpoint
    samples = (st.get("timeseries") or {}).get("samples") or []
    made, notes = [], []

    why = plot_buddyinfo(state or {}, os.path.join(args.out, "buddyinfo.png"), where)
    (notes if why else made).append(why or "buddyinfo.png")

    if plot_lines(series(samples, "ksm."), os.path.join(args.out, "ksm.png"),
                  "KSM counters over time", "pages (full_scans: scans)"):
        made.append("ksm.png")
    else:
        notes.append("no ksm.* counters in the time series: ksm.png skipped")

    walks = series(samples, "percpu.", ".walks")
    accesses = series(samples, "percpu.", ".accesses")
    rates = {}
    for k, (xs, ys) in walks.items():
        cpu = k.split(".")[1]
        ax_, ay = accesses.get("percpu.%s.accesses" % cpu, ([], []))
        pts = list(zip(xs, ys, ay))
        rx, ry = [], []
        for (t0, w0, a0), (t1, w1, a1) in zip(pts, pts[1:]):
            if a1 > a0:
                rx.append(t1)
                ry.append((w1 - w0) / (a1 - a0))
        if rx:
            rates["cpu %s" % cpu] = (rx, ry)
    if plot_lines(rates, os.path.join(args.out, "tlb.png"),
                  "TLB miss rate per CPU (page walks per access, per period)", "walks / access"):
        made.append("tlb.png")
    elif state and state.get("percpu"):
        rows = state["percpu"]
        bar_chart(os.path.join(args.out, "tlb.png"), [str(r["cpu"]) for r in rows],
                  [r["walks"] / r["accesses"] if r.get("accesses") else 0 for r in rows],
                  "CPU", "walks / access", "TLB miss rate per CPU (%s totals)" % where)
        made.append("tlb.png")
    else:
        notes.append("no per-CPU access counts: tlb.png skipped")

    names = {}
    for p in (state or {}).get("processes", []):
        names[str(len(names))] = "%s (pid %s)" % (p.get("name"), p.get("pid"))
    rss = series(samples, "processes.", ".VmRSS")
    if plot_lines(rss, os.path.join(args.out, "rss.png"), "RSS per process", "kB",
                  label=lambda k: names.get(k.split(".")[1], k)):
        made.append("rss.png")
    else:
        live = [p for p in (state or {}).get("processes", []) if "VmRSS" in p]
        if live:
            bar_chart(os.path.join(args.out, "rss.png"),
                      ["%s (%s)" % (p["name"], p["pid"]) for p in live], [p["VmRSS"] for p in live],
                      None, "VmRSS (kB)", "RSS per process (%s)" % where)
            made.append("rss.png")
        else:
            notes.append("no process RSS (no processes.*.VmRSS samples, none live): rss.png skipped")
    for n in notes:
        print("plot: " + n, file=sys.stderr)
    for m in made:
        print(os.path.join(args.out, m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
