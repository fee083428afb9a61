#!/bin/sh
# bench/train/fmnist_scratch.sh LEDGE OUTDIR NETWORK [extra ledge train flags]
# Trains NETWORK (cnn, or resnet with --num-layers N) from scratch on all of
# Fashion-MNIST (60k) and reports accuracy on the 10k test set every epoch
# (metrics.jsonl, curves.png); exports OUTDIR/model.onnx.
set -e
LEDGE=${1:?ledge binary}; OUT=${2:?output dir}; NET=${3:?network}; shift 3
F=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
mkdir -p "$OUT"
exec "$LEDGE" train --train "$F/train-images-idx3-ubyte.gz" --validation "$F/t10k-images-idx3-ubyte.gz" \
  --num-classes 10 --num-training-samples 60000 --image-shape 1,28,28 --network "$NET" \
  --checkpoint "$OUT/checkpoint" --resume --metrics "$OUT/metrics.jsonl" --plot "$OUT/curves.png" \
  -o "$OUT/model.onnx" --json "$@"
