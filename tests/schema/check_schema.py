#!/usr/bin/env python3
"""The JSON Schema (docs/scenario.schema.json) and `mmemu validate` agree.

- Every bundled scenario (examples/*.json, tests/scenarios/*/*.json) is accepted by both, and
  names the schema with "$schema".
- Every file in tests/schema/invalid/ (one per kind of structural error: an unknown op or field,
  a wrong type, a missing field, a value out of range) is rejected by both: mmemu with exit 2.
- Every file in tests/schema/semantic/ is accepted by the schema and rejected by mmemu (exit 2):
  semantic checks (an unknown id, a double free, a machine that cannot boot) are the parser's
  alone.

Uses python3-jsonschema from Debian (scripts/setup.sh installs it).
usage: check_schema.py --mmemu PATH
"""
import argparse
import glob
import json
import os
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("check_schema: python3-jsonschema is missing (scripts/setup.sh installs it)")

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mmemu", required=True)
    args = ap.parse_args()
    with open(os.path.join(ROOT, "docs", "scenario.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    def schema_errors(path):
        with open(path) as f:
            return list(validator.iter_errors(json.load(f)))

    def mmemu_rc(path):
        r = subprocess.run([args.mmemu, "validate", path], capture_output=True, text=True,
                           timeout=60)
        return r.returncode, r.stderr

    problems = []
    bundled = sorted(glob.glob(os.path.join(ROOT, "examples", "*.json")) +
                     glob.glob(os.path.join(ROOT, "tests", "scenarios", "*", "*.json")))
    invalid = sorted(glob.glob(os.path.join(ROOT, "tests", "schema", "invalid", "*.json")))
    semantic = sorted(glob.glob(os.path.join(ROOT, "tests", "schema", "semantic", "*.json")))
    if len(bundled) < 10 or len(invalid) < 8 or len(semantic) < 3:
        problems.append("too few files found (%d bundled, %d invalid, %d semantic)" %
                        (len(bundled), len(invalid), len(semantic)))
    for path in bundled:
        rel = os.path.relpath(path, ROOT)
        with open(path) as f:
            doc = json.load(f)
        want = os.path.relpath(os.path.join(ROOT, "docs", "scenario.schema.json"),
                               os.path.dirname(path))
        if doc.get("$schema") != want:
            problems.append("%s: \"$schema\" should be \"%s\"" % (rel, want))
        errs = schema_errors(path)
        if errs:
            problems.append("%s: the schema rejects it: %s" % (rel, errs[0].message[:200]))
        rc, err = mmemu_rc(path)
        if rc != 0:
            problems.append("%s: mmemu validate exited %d: %s" % (rel, rc, err[:200]))
    for path in invalid:
        rel = os.path.relpath(path, ROOT)
        if not schema_errors(path):
            problems.append("%s: the schema accepts it" % rel)
        rc, err = mmemu_rc(path)
        if rc != 2:
            problems.append("%s: mmemu validate exited %d, not 2" % (rel, rc))
    for path in semantic:
        rel = os.path.relpath(path, ROOT)
        errs = schema_errors(path)
        if errs:
            problems.append("%s: the schema rejects a semantic error: %s" % (rel, errs[0].message))
        rc, err = mmemu_rc(path)
        if rc != 2:
            problems.append("%s: mmemu validate exited %d, not 2" % (rel, rc))
    for p in problems:
        print("check_schema: " + p)
    print("check_schema: %d bundled, %d invalid and %d semantic files, %d problems" %
          (len(bundled), len(invalid), len(semantic), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
