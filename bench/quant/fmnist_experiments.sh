#!/bin/bash
# bench/quant/fmnist_experiments.sh [MODEL]: issue 7's experiments on the Fashion-MNIST CNN
# trained by bench/train/fmnist_scratch.sh (docs/optimize.md, "Fashion-MNIST"): ledge optimize
# with labels, channel pruning + fine-tuning at three ratios, magnitude pruning + fine-tuning +
# compression, int8. Results in $OUT/summary.txt
# (default /tmp/ledge-fmnist-experiments).
set -u
cd "$(dirname "$0")/../.."
L=build/bin/ledge; F=/usr/share/datasets/fashion-mnist; M=${1:-/tmp/run-cnn20/model.onnx}; O=${OUT:-/tmp/ledge-fmnist-experiments}
TR=$F/train-images-idx3-ubyte.gz; TE=$F/t10k-images-idx3-ubyte.gz
rm -rf $O; mkdir -p $O
acc() { $L eval "$1" $TE --json 2>/dev/null | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["accuracy"])'; }
lat() { $L bench "$1" --threads 1 --runs 200 --json 2>/dev/null | python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["median_ms"])'; }
size() { stat -c %s "$1"; }
tune() { # pruned.onnx out.onnx
  $L train --train $TR --validation $TE --num-classes 10 --image-shape 1,28,28 --pretrained "$1" \
    --epochs 2 --mini-batch-size 128 --learning-rate 0.01 --lr-scheduler cosine --weight-decay 5e-4 \
    --augmentation-type crop --seed 1 --threads 2 -o "$2" --json > "$2.json" 2> "$2.log"; }
echo "fp32 $(acc $M) $(lat $M) ms $(size $M) B" | tee $O/summary.txt
$L optimize $M --data $TE --samples 200 --runs 20 --bits 4 -o $O/opt --json --plot > $O/opt.json 2> $O/opt.log
echo "optimize done" | tee -a $O/summary.txt
for r in 0.25 0.5 0.75; do
  $L prune $M --method channels --ratio $r -o $O/ch$r.onnx > /dev/null 2>&1
  tune $O/ch$r.onnx $O/ch${r}_ft.onnx
  echo "channels $r: before-ft $(acc $O/ch$r.onnx) after-ft $(acc $O/ch${r}_ft.onnx) latency $(lat $O/ch${r}_ft.onnx) ms size $(size $O/ch${r}_ft.onnx) B" | tee -a $O/summary.txt
done
for sp in 0.8 0.9; do
  $L prune $M --method magnitude --sparsity $sp -o $O/mag$sp.onnx > /dev/null 2>&1
  tune $O/mag$sp.onnx $O/mag${sp}_ft.onnx
  for b in 4 3; do
    $L compress $O/mag${sp}_ft.onnx --bits $b -o $O/mag${sp}_ft_c$b.ledge > /dev/null 2>&1
    echo "magnitude $sp + ft + compress $b bits: before-ft $(acc $O/mag$sp.onnx) after-ft $(acc $O/mag${sp}_ft.onnx) compressed $(acc $O/mag${sp}_ft_c$b.ledge) size $(size $O/mag${sp}_ft_c$b.ledge) B" | tee -a $O/summary.txt
  done
done
q=$O/int8.ledge
$L quantize $M --calibration $TR --samples 500 --per-channel -o $q > /dev/null 2>&1
echo "int8 $(acc $q) $(lat $q) ms $(size $q) B" | tee -a $O/summary.txt
