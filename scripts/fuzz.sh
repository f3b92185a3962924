#!/usr/bin/env bash
# Fuzzes the scenario reader and validator (fuzz_scenario) and compare's and show's input
# (fuzz_statistics) with libFuzzer, ASan and UBSan, each for FUZZ_SECONDS (default 60), starting
# from the bundled scenarios, the schema examples and the baselines. Builds in build-fuzz with
# clang (installed with apt-get when missing, by scripts/setup.sh). An input that crashes is saved in
# build-fuzz/crashes/ and the script fails: add it to tests/fuzz/ (tests replay every file
# there) and fix the bug.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
# scripts/setup.sh installs what is missing (clang and its libFuzzer runtime besides the project's
# own list) and builds the two targets.
EXTRA_PKGS="clang libclang-rt-14-dev" BUILD_DIR=build-fuzz BUILD_TYPE=RelWithDebInfo BUILD_TARGETS="fuzz_scenario fuzz_statistics" \
  CMAKE_ARGS="-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DMMEMU_FUZZ=ON -DMMEMU_TESTS=OFF -DMMEMU_BENCH=OFF" \
  scripts/setup.sh
mkdir -p build-fuzz/crashes
status=0
for target in fuzz_scenario fuzz_statistics; do
  corpus=build-fuzz/corpus-$target
  mkdir -p "$corpus"
  if [ "$target" = fuzz_scenario ]; then
    seeds=(examples tests/scenarios/ksm tests/scenarios/concurrent tests/schema/invalid tests/schema/semantic tests/fuzz/scenario)
  else
    seeds=(examples/baselines tests/fuzz/statistics)
  fi
  existing=()
  for s in "${seeds[@]}"; do [ -d "$s" ] && existing+=("$s"); done
  echo "fuzz: $target for ${SECONDS_EACH}s" >&2
  if ! build-fuzz/fuzz/$target "$corpus" "${existing[@]}" -max_total_time="$SECONDS_EACH" \
       -max_len=65536 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
       -artifact_prefix=build-fuzz/crashes/$target- 2> build-fuzz/$target.log; then
    echo "fuzz: $target found a bug (build-fuzz/$target.log, build-fuzz/crashes/):" >&2
    grep -A30 'ERROR\|==ABORTING\|deadly signal\|uncaught' build-fuzz/$target.log | head -60 >&2
    status=1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' build-fuzz/$target.log | sed "s/^/fuzz: $target /" >&2 || true
done
exit $status
