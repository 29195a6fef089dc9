#!/usr/bin/env bash
# Builds clinbench, lints it (scripts/lint.sh) and runs every test. On a fresh Debian 12 machine
# this installs everything first (scripts/setup.sh). Needs ../shared beside the repository (the
# real model and datasets).
#
#   scripts/test.sh              release build in build/, then ctest
#   scripts/test.sh --sanitize   ASan+UBSan build in build-asan/, then ctest
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build=build
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLINBENCH_WERROR=ON)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DCLINBENCH_SANITIZE=ON -DCLINBENCH_WERROR=ON)
fi

scripts/setup.sh
if [ ! -f ../shared/models/stories260K.gguf ]; then
  echo "test.sh: ../shared/models/stories260K.gguf is missing (tests use the shared model)" >&2
  exit 1
fi
cmake -S . -B "$build" -G Ninja "${cmake_args[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
# Format and clang-tidy (.clang-tidy) before any test: a finding fails the run like a test.
scripts/lint.sh "$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
# Unit tests in parallel; model tests one at a time: each already uses every core, and ggml's
# threads spin at their barriers, so two at once on two cores slow each other down many times.
ctest --output-on-failure -L unit -j"$(nproc)" --timeout 900
ctest --output-on-failure -L model -j1 --timeout 900
