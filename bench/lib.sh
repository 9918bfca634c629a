# Shared by the bench scripts: timing with peak RSS, and the page cache.
# Source it after setting RUNS.

can_drop=0
[ -w /proc/sys/vm/drop_caches ] && can_drop=1
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# measure MODE CMD… → "median_seconds max_rss_kib" over RUNS runs. MODE is
# cold (page cache dropped before each run; needs root) or warm. Every run
# starts after `sync`, so dirty pages of the previous run do not throttle it.
# Wall time is taken around /usr/bin/time (about a millisecond), RSS from it.
measure() {
  local mode=$1; shift
  local times=() rss=0 tf r t0 t1
  tf=$(mktemp)
  for ((i = 0; i < RUNS; i++)); do
    sync
    if [ "$mode" = cold ]; then drop_caches; fi
    t0=$(date +%s%N)
    /usr/bin/time -o "$tf" -f "%M" "$@" > /dev/null 2>&1
    t1=$(date +%s%N)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
    r=$(tail -n 1 "$tf")
    (( r > rss )) && rss=$r
  done
  rm -f "$tf"
  echo "$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') $rss"
}
