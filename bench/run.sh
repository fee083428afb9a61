#!/bin/bash
# bench/run.sh: `make bench`. ledge beside ONNX Runtime on the benchmark
# networks, same machine, same thread counts, one run; writes
# bench/RESULTS.md, bench/results.json and bench/ratios.png. The work is done
# by bench/bench.py (see its header for what is measured and how); this
# script makes sure its inputs exist first:
#   - bench-only Debian packages: gnuplot-nox (the chart), libopenblas-dev
#     (GEMM peer), libxnnpack-dev + libpthreadpool-dev (second peer);
#     installed here when missing and running as root, otherwise skipped
#     with a message,
#   - onnxruntime-node (scripts/install-deps),
#   - the ONNX exports of the networks (tests/networks/export_models.py,
#     from torchvision's architectures, cached in .cache/networks).
#
# Usage: bench/run.sh [LEDGE_BINARY]   (default build/bin/ledge; the bench
#   programs are taken from the same build: <build>/bench/)
# Environment (quick runs): NETWORKS="resnet18 mobilenet_v2" THREADS="1 2"
#   RUNS=20 WARM=1 PROFILE=1 IDLE=1 GEMM=1 XNN=1 BUDGET_S=120 TIMEOUT_S=300 OUT=bench
#   LEDGE_CACHE=.cache/networks
#   e.g. NETWORKS=squeezenet1_1 RUNS=5 PROFILE=0 IDLE=0 OUT=/tmp/b bench/run.sh
set -euo pipefail
if [[ ${1:-} == --help || ${1:-} == -h ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
fi
cd "$(dirname "$0")/.."
ledge=$(readlink -f "${1:-build/bin/ledge}")
bench_bin=$(dirname "$(dirname "$ledge")")/bench
for p in "$ledge" "$bench_bin/gemm_bench" "$bench_bin/ledge_driver" "$bench_bin/fma_peak" "$bench_bin/c2c" "$bench_bin/idle_cpu"; do
  [[ -x $p ]] || { echo "bench: $p is missing; build first (make build)" >&2; exit 1; }
done

# Bench-only Debian packages: gnuplot for the chart, OpenBLAS (GEMM peer),
# XNNPACK + pthreadpool (second peer). Installed when missing and running as
# root; the bench programs are then rebuilt so that CMake finds them.
bench_packages=(gnuplot-nox libopenblas-dev libxnnpack-dev libpthreadpool-dev)
missing=()
for p in "${bench_packages[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "bench: installing ${missing[*]}" >&2
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      build=$(dirname "$bench_bin")
      cmake -S . -B "$build" >/dev/null && cmake --build "$build" >/dev/null
    else
      echo "bench: could not install ${missing[*]}; going on without" >&2
    fi
  else
    echo "bench: missing ${missing[*]} (sudo apt-get install ${missing[*]});" \
         "going on without the chart / OpenBLAS / XNNPACK as the case may be" >&2
  fi
fi

node -e "require('onnxruntime-node')" 2>/dev/null || scripts/install-deps --quiet

cache=${LEDGE_CACHE:-$PWD/.cache/networks}
export LEDGE_CACHE=$cache
networks=${NETWORKS:-resnet18 resnet50 mobilenet_v2 mobilenet_v3_small squeezenet1_1 efficientnet_b0 inception_v3}
missing=()
for n in $networks; do [[ -f $cache/models/$n.onnx ]] || missing+=("$n"); done
if ((${#missing[@]})); then
  /usr/bin/python3 tests/networks/export_models.py --cache "$cache" "${missing[@]}"
fi

exec /usr/bin/python3 bench/bench.py "$ledge"
