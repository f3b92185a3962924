#!/usr/bin/env bash
# Sets up (installs and builds what is missing or stale) and runs the bundled example scenario,
# printing its statistics as JSON on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/workloads/mmemu run "${1:-examples/buddy-and-slab.json}"
