#!/bin/bash
# run_model.sh LEDGE CACHE NAME OUTDIR: runs one TF.js model with `ledge run`
# on the fixed input that reference.js made, and compares every output with
# TF.js's (tests/networks/compare.py: max error <= 1e-3 of the output's
# scale, same top-5 for classifier outputs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ledge=$1 cache=$2 name=$3 out=$4
python=${LEDGE_PYTHON:-/usr/bin/python3}
model=$("$here/model_path.sh" "$root" "$cache" "$name")
input=$(cat "$cache/$name/input_name.txt")
rm -rf "$out"
mkdir -p "$out"
echo "ledge run $model --input $input=$cache/$name/input.npy --output-dir $out"
"$ledge" run "$model" --input "$input=$cache/$name/input.npy" --output-dir "$out" >/dev/null
exec "$python" "$root/tests/networks/compare.py" "$cache/$name/reference" "$out"
