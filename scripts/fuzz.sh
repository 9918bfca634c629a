#!/usr/bin/env bash
# Runs the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp) under ASan + UBSan.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]
#
# SECONDS (default 60) is per harness; HARNESS is e.g. fuzz_gguf or gguf
# (default: every tests/fuzz/fuzz_*.cpp). Harnesses run one after another,
# each as a single fuzzing process, with:
#   - its seed corpus tests/fuzz/corpus/<name>/ copied to a scratch folder
#     (the fuzzer adds inputs to its first corpus folder; the committed corpus
#     is never written),
#   - its dictionary tests/fuzz/dict/<name>.dict when there is one,
#   - -rss_limit_mb=2048 -timeout=10 and a -max_len suited to the format,
#     plus any flags listed in tests/fuzz/<harness>.options (one per line).
# Prints each harness's final statistics and exits non-zero when any harness
# found a crash, timeout or out-of-memory, naming the reproducer file; replay
# one with `BUILD/tests/fuzz/<harness> <file>`.
#
# Environment:
#   FUZZ_BUILD_DIR   build folder (default build-fuzz, the `fuzz` preset); any
#                    other folder is configured with the same options
#   FUZZ_OUT         where logs, reproducers and scratch corpora go
#                    (default <build>/fuzz-out)
#   FUZZ_RESUME=1    start from the previous run's grown corpus, not the seeds
#   FUZZ_BUILD_JOBS  parallel compile jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SECONDS_PER=${1:-60}
if ! [[ $SECONDS_PER =~ ^[0-9]+$ ]]; then
  echo "fuzz: SECONDS must be a whole number, not '$SECONDS_PER'" >&2
  exit 2
fi
[ $# -gt 0 ] && shift
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=${FUZZ_OUT:-$BUILD/fuzz-out}
JOBS=${FUZZ_BUILD_JOBS:-2}

# ---- toolchain: clang and its libFuzzer/sanitizer runtimes ----------------
./scripts/setup.sh
need=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "fuzz: installing ${need[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "fuzz: need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# ---- harness list ---------------------------------------------------------
all=()
for src in tests/fuzz/fuzz_*.cpp; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .cpp)
  all+=("$name")
done
if [ ${#all[@]} -eq 0 ]; then
  echo "fuzz: no harnesses in tests/fuzz/" >&2
  exit 2
fi
selected=()
if [ $# -eq 0 ]; then
  selected=("${all[@]}")
else
  for h in "$@"; do
    h=fuzz_${h#fuzz_}
    [ -e "tests/fuzz/$h.cpp" ] || { echo "fuzz: no harness $h (have: ${all[*]})" >&2; exit 2; }
    selected+=("$h")
  done
fi

# ---- configure and build --------------------------------------------------
export CCACHE_NOHASHDIR=1
if [ ! -f "$BUILD/build.ninja" ]; then
  if [ "$BUILD" = "$ROOT/build-fuzz" ]; then
    cmake --preset fuzz
  else
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
      -DCKPT_FUZZ=ON -DCKPT_BUILD_GUI=OFF -DCKPT_BUILD_TESTS=OFF -DCKPT_BUILD_BENCH=OFF
  fi
fi
# The harness list comes from a glob: re-run CMake so new harnesses get targets.
cmake "$BUILD" >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${selected[@]}"

# ---- run ------------------------------------------------------------------
# Inputs larger than a format needs only slow the fuzzer down: headers and a
# few tensors fit in these sizes, and every reader limit can still be reached
# through declared counts and lengths.
max_len_of() {
  case $1 in
    fuzz_npy) echo 8192 ;;
    fuzz_safetensors_index | fuzz_name_map | fuzz_spec) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$OUT"
failed=()
summary=()
for h in "${selected[@]}"; do
  exe=$BUILD/tests/fuzz/$h
  short=${h#fuzz_}
  work=$OUT/$h
  mkdir -p "$work/artifacts"
  if [ "${FUZZ_RESUME:-0}" != 1 ] || [ ! -d "$work/corpus" ]; then
    rm -rf "$work/corpus"
    mkdir -p "$work/corpus"
    [ -d "tests/fuzz/corpus/$short" ] && cp -R "tests/fuzz/corpus/$short/." "$work/corpus/"
    chmod -R u+w "$work/corpus"
  fi
  args=(-max_total_time="$SECONDS_PER" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len_of "$h")"
        -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  [ -f "tests/fuzz/dict/$short.dict" ] && args+=(-dict="tests/fuzz/dict/$short.dict")
  if [ -f "tests/fuzz/$h.options" ]; then
    while IFS= read -r line; do
      case $line in ''|'#'*) ;; *) args+=("$line") ;; esac
    done <"tests/fuzz/$h.options"
  fi
  before=$(ls "$work/artifacts" | wc -l)
  log=$work/fuzz.log
  echo "fuzz: $h for ${SECONDS_PER}s (log $log)"
  set +e
  "$exe" "${args[@]}" "$work/corpus" >"$log" 2>&1
  code=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  corpus=$(ls "$work/corpus" | wc -l)
  line="$h: ${execs:-?} execs, ${rate:-?} exec/s, ${cov:-cov: ?}, corpus $corpus, peak RSS ${rss:-?} MB, exit $code"
  echo "  $line"
  summary+=("$line")
  after=$(ls "$work/artifacts" | wc -l)
  if [ "$code" -ne 0 ] || [ "$after" -gt "$before" ]; then
    failed+=("$h")
    grep -E '^==[0-9]+==ERROR|runtime error:|SUMMARY:|fuzz invariant violated|ALARM|out-of-memory|deadly signal' "$log" | head -5 | sed 's/^/  /'
    for f in $(ls -t "$work/artifacts" | head -$((after - before > 0 ? after - before : 1))); do
      echo "  reproducer: $work/artifacts/$f   (replay: $exe $work/artifacts/$f)"
    done
  fi
done

echo
echo "fuzz summary (${SECONDS_PER}s per harness):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash, timeout or out-of-memory"
