#!/bin/bash
# compress_network.sh LEDGE CACHE NAME BITS OUTDIR: `ledge compress` an
# exported torchvision network to BITS-bit shared weights and checks that
# the file shrank at least 32/(BITS+1) times and that, on the network's
# real input, the compressed model keeps ONNX Runtime's top-5 classes of the
# original (compare.py; the logits may move by up to 20% of their scale:
# clustering without fine-tuning is lossy by design).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ledge=$1 cache=$2 name=$3 bits=$4 out=$5
python=${LEDGE_PYTHON:-/usr/bin/python3}
rm -rf "$out"
mkdir -p "$out/outputs"
"$ledge" compress "$cache/models/$name.onnx" --bits "$bits" -o "$out/$name.ledge" --json | tee "$out/report.json"
"$python" -c "
import json, sys
r = json.load(open('$out/report.json'))
need = 32 / ($bits + 1)
print(f\"ratio {r['ratio']:.2f} (need >= {need:.2f}), {r['bits_per_weight']:.2f} bits per weight\")
sys.exit(0 if r['ratio'] >= need and r['bits_per_weight'] <= $bits and r['tensors_clustered'] > 0 else 1)"
"$ledge" run "$out/$name.ledge" --input "input=$cache/inputs/$name.npy" --output-dir "$out/outputs" >/dev/null
exec "$python" "$root/tests/networks/compare.py" --tolerance 0.2 "$cache/reference/$name" "$out/outputs"
