#!/usr/bin/env bash
# bench/run end to end on tiny data (--quick, warm, one run): every table is
# written and no measurement of ours or a peer failed. Keeps the harness from
# rotting between the (long) real runs. Usage: bench_run_smoke.sh BUILD_DIR
set -euo pipefail
build=$1
if ! /usr/bin/python3 -c "import numpy, torch" 2>/dev/null; then
  echo "skipped: bench/run needs Debian's python3-numpy and python3-torch"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$(dirname "$0")/../bench/run" --quick --runs 1 --modes warm --no-micro --build "$build" \
  --work "$work/data" --out "$work/bench.md" 2> "$work/log" || { cat "$work/log"; exit 1; }
md=$work/bench.md
for heading in "## Open and list" "## Full read with checksum" "## Convert" "## Statistics of the largest tensor" "## Targets"; do
  grep -qF "$heading" "$md" || { echo "missing section: $heading"; cat "$md"; exit 1; }
done
if grep -n "failed" "$md"; then
  echo "a measurement failed:"; cat "$work/log"; exit 1
fi
# One row per format and operation at least: 5 formats × 3 multi-tensor sets + the single array's 4.
rows=$(grep -c "^| .* | warm |" "$md")
[ "$rows" -ge 60 ] || { echo "only $rows result rows"; cat "$md"; exit 1; }
grep -q "torch.load" "$md" && grep -q "np.savez_compressed" "$md" || { echo "peers missing"; cat "$md"; exit 1; }
echo "bench/run --quick: $rows rows"
