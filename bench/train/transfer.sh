#!/bin/sh
# bench/train/transfer.sh LEDGE OUTDIR: transfer learning, honestly measured.
# 1. pretrain the cnn on Fashion-MNIST classes 0-4 (30000 images);
# 2. fine-tune it (head cut before the final classifier, a new 5-class head)
#    on classes 5-9 with only 100 labelled images per class;
# 3. train the same network from scratch on those same 500 images;
# both evaluated on the full 5-9 test set (5000 images).
set -e
LEDGE=${1:?ledge binary}; OUT=${2:?output dir}
HERE=$(dirname "$0")
EPOCHS_PRE=${EPOCHS_PRE:-2}; EPOCHS_FINE=${EPOCHS_FINE:-15}; THREADS=${THREADS:-2}
D=$OUT/data
[ -f $D/fine/classes.txt ] || /usr/bin/python3 "$HERE/make_transfer_data.py" "$D"
# (a finished pretraining is reused)
[ -f $OUT/pre.onnx ] || "$LEDGE" train --train $D/pre/train-images-idx3-ubyte.gz --validation $D/pre/t10k-images-idx3-ubyte.gz \
  --num-classes 5 --image-shape 1,28,28 --network cnn --epochs $EPOCHS_PRE --mini-batch-size 128 \
  --learning-rate 0.1 --lr-scheduler cosine --weight-decay 5e-4 --augmentation-type crop --seed 1 \
  --threads $THREADS --metrics $OUT/pre.jsonl -o $OUT/pre.onnx --json > $OUT/pre.json
# The 5-9 test set is scored once at the end, by ledge eval on the exported model.
COMMON="--train $D/fine/train-images-idx3-ubyte.gz
  --num-classes 5 --image-shape 1,28,28 --epochs $EPOCHS_FINE --mini-batch-size 32 --lr-scheduler cosine
  --weight-decay 5e-4 --augmentation-type crop --seed 2 --threads $THREADS"
"$LEDGE" train $COMMON --pretrained $OUT/pre.onnx --learning-rate 0.01 --metrics $OUT/fine.jsonl \
  -o $OUT/fine.onnx --json > $OUT/fine.json
"$LEDGE" train $COMMON --network cnn --learning-rate 0.05 --metrics $OUT/scratch.jsonl \
  -o $OUT/scratch.onnx --json > $OUT/scratch.json
TEST=$D/fine/t10k-images-idx3-ubyte.gz
"$LEDGE" eval $OUT/fine.onnx $TEST --json --threads $THREADS > $OUT/fine_eval.json
"$LEDGE" eval $OUT/scratch.onnx $TEST --json --threads $THREADS > $OUT/scratch_eval.json
acc() { /usr/bin/python3 -c "import json,sys; print('%.2f%%' % (100 * json.load(open(sys.argv[1]))['accuracy']))" "$1"; }
echo "pretrained on classes 0-4 (30000 images): $(cat $OUT/pre.json)"
echo "classes 5-9, 100 images per class, full 5-9 test set (5000 images):"
echo "  transfer (fine-tuned from the 0-4 model): $(acc $OUT/fine_eval.json)"
echo "  from scratch:                             $(acc $OUT/scratch_eval.json)"
