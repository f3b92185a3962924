#!/usr/bin/env bash
# Installs what mmemu needs to build on Debian 12 (as root; uses sudo when not root) and
# configures and builds it in BUILD_DIR (default: build). Installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# libboost1.74-dev: Boost's headers (KSM's red-black trees use Boost.Intrusive), Debian 12's
# Boost, which libboost-program-options-dev pulls in too. python3-jsonschema, python3-matplotlib
# and parallel: the tests of the JSON Schema, of scripts/plot and of `mmemu sweep --emit parallel`.
PKGS=(cmake ninja-build g++ pkg-config libboost-program-options-dev libboost1.74-dev
      libxxhash-dev nlohmann-json3-dev catch2 libbenchmark-dev python3 python3-jsonschema
      python3-matplotlib parallel)
# EXTRA_PKGS (optional): more packages a caller needs (scripts/fuzz.sh: clang).
PKGS+=(${EXTRA_PKGS:-})
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} -DMMEMU_TESTS=ON ${CMAKE_ARGS:-} >&2
# BUILD_TARGETS (optional): build only these targets (scripts/test-tsan.sh).
cmake --build "$BUILD_DIR" -j"$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS} >&2
