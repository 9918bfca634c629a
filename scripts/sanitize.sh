#!/usr/bin/env bash
# Builds the `sanitize` preset (build-sanitize/: GCC, AddressSanitizer +
# UndefinedBehaviorSanitizer, no benchmarks; the Qt app and its tests
# included) and runs the whole test suite under it. Any sanitizer report fails its test: the build does not
# recover (-fno-sanitize-recover=all) and the runtime aborts on the first
# error. Extra arguments go to ctest (e.g. -R Npz).
#
#   scripts/sanitize.sh            # configure once, build, run every test
#   JOBS=4 scripts/sanitize.sh     # more parallel build and test jobs
#
# docs/reliability.md lists what runs here, what does not and why, and how
# long it takes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

jobs="${JOBS:-2}"
export CCACHE_NOHASHDIR=1
# Configured every time (cheap when nothing changed); CMakeLists.txt turns off
# GCC 12's false -Wmaybe-uninitialized in <regex> for this preset.
cmake --preset sanitize >/dev/null
cmake --build build-sanitize -j"$jobs"

# detect_leaks: LeakSanitizer at exit of every test executable.
# abort_on_error: a report ends the process with SIGABRT, which ctest counts as a failure.
# check_initialization_order/strict_init_order: static initialisation order bugs.
# detect_stack_use_after_return: lambdas and callbacks outliving the frames they capture.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export QT_QPA_PLATFORM=offscreen

cd build-sanitize
ctest --output-on-failure -j"$jobs" --timeout 1200 "$@"
