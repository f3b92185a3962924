#!/usr/bin/env python3
"""scripts/plot on a real run: the KSM fleet example (with its time series) gives the four PNGs,
each a real PNG image of a sensible size; a file that is not statistics exits 2.
usage: check_plot.py --mmemu PATH"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mmemu", required=True)
    args = ap.parse_args()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "fleet.json")
        subprocess.run([args.mmemu, "run", os.path.join(ROOT, "examples", "ksm-fleet.json"),
                        "-o", stats], check=True, timeout=300)
        out = os.path.join(tmp, "png")
        r = subprocess.run([os.path.join(ROOT, "scripts", "plot"), stats, "-o", out],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            problems.append("plot exited %d: %s" % (r.returncode, r.stderr[-500:]))
        for name in ("buddyinfo.png", "ksm.png", "tlb.png", "rss.png"):
            path = os.path.join(out, name)
            if not os.path.exists(path):
                problems.append(name + " was not made")
                continue
            with open(path, "rb") as f:
                head = f.read(24)
            # The PNG signature, then the IHDR chunk with the width and height.
            if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
                problems.append(name + " is not a PNG")
                continue
            w, h = struct.unpack(">II", head[16:24])
            if not (300 <= w <= 2000 and 100 <= h <= 2000):
                problems.append("%s is %dx%d" % (name, w, h))
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            f.write("{\"not\": \"stats\"}")
        r = subprocess.run([os.path.join(ROOT, "scripts", "plot"), bad, "-o", out],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 2:
            problems.append("plot of a file that is not statistics exited %d" % r.returncode)
    for p in problems:
        print("check_plot: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
