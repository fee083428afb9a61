#!/usr/bin/env python3
"""make_transfer_data.py OUTDIR: the transfer-learning split of Fashion-MNIST.

  OUTDIR/pre/   classes 0-4 (T-shirt, Trouser, Pullover, Dress, Coat): all 30000
                training images and the 5000 test images, labels 0-4
  OUTDIR/fine/  classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot): the first
                100 training images of each class (500) and all 5000 test images,
                relabelled 0-4
as gzipped IDX files with the standard names, plus classes.txt."""
import gzip
import os
import sys

import numpy as np

SRC = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Ankle boot"]


def read(name, images):
    with gzip.open(os.path.join(SRC, name), "rb") as f:
        data = f.read()
    if images:
        n, r, c = np.frombuffer(data[4:16], dtype=">u4")
        return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, r, c)
    return np.frombuffer(data[8:], dtype=np.uint8)


def write(folder, prefix, x, y):
    os.makedirs(folder, exist_ok=True)
    with gzip.open(os.path.join(folder, prefix + "-images-idx3-ubyte.gz"), "wb") as f:
        f.write(np.array([0x803, len(x), 28, 28], dtype=">u4").tobytes() + x.tobytes())
    with gzip.open(os.path.join(folder, prefix + "-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(np.array([0x801, len(y)], dtype=">u4").tobytes() + y.astype(np.uint8).tobytes())


out = sys.argv[1]
for split in ("train", "t10k"):
    x, y = read(split + "-images-idx3-ubyte.gz", True), read(split + "-labels-idx1-ubyte.gz", False)
    pre = y < 5
    write(os.path.join(out, "pre"), split, x[pre], y[pre])
    fine = np.nonzero(y >= 5)[0]
    if split == "train":  # 100 per class, in file order
        fine = np.concatenate([np.nonzero(y == c)[0][:100] for c in range(5, 10)])
        fine.sort()
    write(os.path.join(out, "fine"), split, x[fine], y[fine] - 5)
for sub, names in (("pre", NAMES[:5]), ("fine", NAMES[5:])):
    with open(os.path.join(out, sub, "classes.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
print("wrote", out)
