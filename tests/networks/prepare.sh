#!/bin/bash
# prepare.sh CACHE [NAME ...]: exports the networks (PyTorch) and computes
# their reference outputs (ONNX Runtime) into CACHE; what is cached is kept.
# The CTest fixture networks.prepare runs this before the network.* tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: prepare.sh CACHE [NAME ...]}
shift
python=${LEDGE_PYTHON:-/usr/bin/python3}
node=${LEDGE_NODE:-node}
"$python" "$here/export_models.py" --cache "$cache" "$@"
"$node" "$here/ort_reference.js" --cache "$cache" "$@"
