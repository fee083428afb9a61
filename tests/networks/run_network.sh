#!/bin/bash
# run_network.sh LEDGE CACHE NAME OUTDIR: runs one exported network with
# `ledge run` on its fixed input, writing its outputs to OUTDIR, and compares
# them with ONNX Runtime's reference outputs (compare.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ledge=$1 cache=$2 name=$3 out=$4
python=${LEDGE_PYTHON:-/usr/bin/python3}
rm -rf "$out"
mkdir -p "$out"
model=$cache/models/$name.onnx
echo "ledge run $model --input input=$cache/inputs/$name.npy --output-dir $out"
start=$(date +%s%N)
"$ledge" run "$model" --input "input=$cache/inputs/$name.npy" --output-dir "$out"
end=$(date +%s%N)
echo "$name: ledge run took $(( (end - start) / 1000000 )) ms"
exec "$python" "$here/compare.py" "$cache/reference/$name" "$out"
