#!/bin/bash
# scripts/demo-classify.sh: `make demo-classify` (the first demo, before
# issue 4 made `make demo` the vision one): ResNet-50 classifying a photo with ledge, checked against ONNX
# Runtime on the same input.
#
#   1. exports resnet50 to ONNX if the cache lacks it (tests/networks/
#      export_models.py: torchvision's architecture with random weights: no
#      pretrained weights can be downloaded here, so the class names printed
#      are arbitrary, but every number is real)
#   2. `ledge info` on the model
#   3. decodes a real photo (scikit-image's sample image of Chelsea the cat,
#      from Debian's python3-skimage) to a normalized 1x3x224x224 .npy:
#      shorter side to 256, centre crop 224, ImageNet mean/std
#   4. `ledge run` on it, then the top-5 classes with softmax scores
#   5. the same input through ONNX Runtime: agreement and timing side by side
#
# Usage: scripts/demo-classify.sh [LEDGE_BINARY]   (`make demo-classify` passes build/bin/ledge)
# Environment: LEDGE (the ledge binary, if not given as the argument; default
# build/bin/ledge, built if missing), LEDGE_CACHE (default .cache/networks),
# LEDGE_DEMO_IMAGE (another photo to classify), LEDGE_DEMO_MODEL (another
# network of export_models.py).
set -euo pipefail
cd "$(dirname "$0")/.."

python=/usr/bin/python3
cache=${LEDGE_CACHE:-$PWD/.cache/networks}
model_name=${LEDGE_DEMO_MODEL:-resnet50}
image=${LEDGE_DEMO_IMAGE:-/usr/lib/python3/dist-packages/skimage/data/chelsea.png}
model=$cache/models/$model_name.onnx
work=$cache/demo
mkdir -p "$work"

if [[ -t 1 ]]; then bold=$'\e[1m' dim=$'\e[2m' reset=$'\e[0m'; else bold='' dim='' reset=''; fi
section() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$reset"; }

# ---- the ledge binary ----
ledge=${1:-${LEDGE:-build/bin/ledge}}
if [[ ! -x $ledge ]]; then
  section "building ledge"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C build ledge_cli
  ledge=build/bin/ledge
fi

# ---- 1. the model ----
if [[ ! -f $model ]]; then
  section "exporting $model_name (PyTorch -> ONNX, once)"
  "$python" tests/networks/export_models.py --cache "$cache" "$model_name"
fi

# ---- 2. ledge info ----
section "ledge info $model_name"
"$ledge" info "$model"

# ---- 3. the input ----
side=224
[[ $model_name == inception_v3 ]] && side=299
input=$work/${model_name}_input.npy
if [[ -f $image ]]; then
  section "input: $(basename "$image")"
  "$python" - "$image" "$input" "$side" <<'EOF'
import sys
import numpy as np
from PIL import Image
path, out, side = sys.argv[1], sys.argv[2], int(sys.argv[3])
img = Image.open(path).convert("RGB")
w, h = img.size
scale = side * 256 / 224 / min(w, h)  # shorter side to 256 (for 224), as torchvision does
img = img.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.BILINEAR)
w, h = img.size
left, top = (w - side) // 2, (h - side) // 2
img = img.crop((left, top, left + side, top + side))
x = np.asarray(img, dtype=np.float32) / 255.0
x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
np.save(out, np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
print("%s: %dx%d photo -> %s (1x3x%dx%d float32, ImageNet-normalized)"
      % (path, *Image.open(path).size, out, side, side))
EOF
else
  section "input: the network's fixed test input (no photo at $image)"
  "$python" tests/networks/export_models.py --cache "$cache" "$model_name" >/dev/null
  cp "$cache/inputs/$model_name.npy" "$input"
fi

# ---- 4. ledge run ----
section "ledge run"
rm -rf "$work/ledge" "$work/ort"
"$ledge" run "$model" --input "input=$input" --output-dir "$work/ledge" --top 5
"$ledge" bench "$model" --runs 5 --warmup 1 | grep -Ei 'median|min|arena|rss' || true

# ---- 5. ONNX Runtime on the same input ----
section "ONNX Runtime on the same input"
ort_line=$(node tests/networks/ort_reference.js --run "$model" "$input" "$work/ort" --repeat 10)
echo "$ort_line"

section "top-5 classes"
"$python" - "$work/ledge" "$work/ort" "$model_name" <<'EOF'
import os
import sys
import numpy as np
ledge_dir, ort_dir, name = sys.argv[1:4]
ours = np.load(os.path.join(ledge_dir, "logits.npy")).reshape(-1).astype(np.float64)
ref = np.load(os.path.join(ort_dir, "logits.npy")).reshape(-1).astype(np.float64)
try:  # the 1000 ImageNet class names ship with torchvision (no download)
    import warnings
    warnings.filterwarnings("ignore")
    from torchvision.models import ResNet50_Weights
    names = ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
except Exception:
    names = ["class %d" % i for i in range(len(ours))]
p = np.exp(ours - ours.max())
p /= p.sum()
top = np.argsort(-ours)[:5]
print("  rank  class      logit  probability  name")
for rank, i in enumerate(top, 1):
    print("  %4d  %5d  %9.3f  %10.2f%%  %s"
          % (rank, i, ours[i], 100 * p[i], names[i] if i < len(names) else ""))
same = np.array_equal(top, np.argsort(-ref)[:5])
rel = np.max(np.abs(ours - ref)) / np.max(np.abs(ref))
print("\nledge vs ONNX Runtime: top-5 %s, max error %.1e of the logits' scale"
      % ("identical" if same else "DIFFERENT", rel))
print("(random weights, so the names are arbitrary: the demo shows the machinery, "
      "not accuracy)")
EOF
