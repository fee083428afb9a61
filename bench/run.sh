#!/bin/bash
# bench/run.sh: ledge beside ONNX Runtime, same models, same machine, same
# thread count, one run. Runs of the two are interleaved (ledge, ORT, ledge,
# ORT, ...) and medians are reported, since 2-thread timings here vary
# between processes. Prints a Markdown table; ratio = ledge / ORT latency
# (below 1 means ledge is faster).
#
# Usage: bench/run.sh [LEDGE_BINARY]   Environment: THREADS (2), RUNS (20),
#   ROUNDS (3 interleaved rounds), NETWORKS (space-separated; default all
#   exported networks), LEDGE_CACHE (.cache/networks)
set -euo pipefail
cd "$(dirname "$0")/.."
ledge=${1:-build/bin/ledge}
threads=${THREADS:-2}
runs=${RUNS:-20}
rounds=${ROUNDS:-3}
cache=${LEDGE_CACHE:-$PWD/.cache/networks}
networks=${NETWORKS:-resnet18 resnet50 mobilenet_v2 mobilenet_v3_small squeezenet1_1 efficientnet_b0 inception_v3 densenet121 shufflenet_v2_x1_0}

missing=()
for n in $networks; do [[ -f $cache/models/$n.onnx ]] || missing+=("$n"); done
if ((${#missing[@]})); then
  /usr/bin/python3 tests/networks/export_models.py --cache "$cache" "${missing[@]}"
fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

echo "ledge $("$ledge" version | cut -d' ' -f2) vs onnxruntime-node $(node -p "require('onnxruntime-node/package.json').version"), $threads threads, $runs runs x $rounds rounds, $(lscpu | sed -n 's/^Model name: *//p')"
echo
echo "| network | GMACs | ledge median ms | ORT median ms | ratio | ledge peak RSS MB | ledge arena MB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for n in $networks; do
  model=$cache/models/$n.onnx
  l_times=() o_times=()
  for ((r = 0; r < rounds; r++)); do
    lj=$("$ledge" bench "$model" --threads "$threads" --runs "$runs" --json)
    l_times+=("$(field median_ms <<<"$lj")")
    o_times+=("$(node bench/ort_bench.js "$model" --threads "$threads" --runs "$runs" | field median_ms)")
  done
  lm=$(printf '%s\n' "${l_times[@]}" | median)
  om=$(printf '%s\n' "${o_times[@]}" | median)
  macs=$(field macs <<<"$lj")
  rss=$(field peak_rss_kb <<<"$lj")
  arena=$(field arena_bytes <<<"$lj")
  awk -v n="$n" -v m="$macs" -v l="$lm" -v o="$om" -v rss="$rss" -v a="$arena" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f |\n", n, m/1e9, l, o, l/o, rss/1024, a/1e6 }'
done
