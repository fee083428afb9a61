#!/bin/bash
# convert_and_run.sh LEDGE MODEL INPUT_NAME INPUT.npy REFERENCE_DIR OUTDIR
#   Converts MODEL (ONNX or TF.js) to .ledge with a self-test on the fixed
#   input, then checks the .ledge model three ways:
#   1. `ledge run` on the input gives the reference outputs (made by ONNX
#      Runtime or TF.js; tests/networks/compare.py: 1e-3 of the scale, same
#      top-5);
#   2. `ledge run --selftest` passes (checksums, outputs, every layer);
#   3. converting the .ledge back to .ledge keeps graph and self-test (the
#      second file passes its self-test too).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ledge=$1 model=$2 input_name=$3 input=$4 reference=$5 out=$6
python=${LEDGE_PYTHON:-/usr/bin/python3}
rm -rf "$out"
mkdir -p "$out/outputs"
"$ledge" convert "$model" "$out/model.ledge" --selftest --input "$input_name=$input" --json
"$ledge" run "$out/model.ledge" --input "$input_name=$input" --output-dir "$out/outputs" >/dev/null
"$python" "$root/tests/networks/compare.py" "$reference" "$out/outputs"
"$ledge" run "$out/model.ledge" --selftest
"$ledge" convert "$out/model.ledge" "$out/again.ledge" --json
"$ledge" run "$out/again.ledge" --selftest --json
