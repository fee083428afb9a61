#!/usr/bin/python3
"""Writes small image datasets in every format ledge train reads, from the
first Fashion-MNIST test images, with PIL (an encoder nobody here wrote):

  OUT/folder/<class name>/NNNN.png|jpg   one subfolder per class
  OUT/list.lst                           index<TAB>label<TAB>folder/<class>/NNNN.png
  OUT/train.manifest                     {"source-ref": ..., "class": ..., "class-metadata": ...}
  OUT/expect.tsv                         idx index, label, path (relative to OUT)
  OUT/bad/...                            broken data sets for the error paths

usage: make_data.py OUT [COUNT]
"""
import gzip
import json
import os
import sys

import numpy as np
from PIL import Image

FMNIST = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle_boot"]


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    x = np.frombuffer(gzip.open(f"{FMNIST}/t10k-images-idx3-ubyte.gz").read(), np.uint8,
                      offset=16).reshape(-1, 28, 28)[:count]
    y = np.frombuffer(gzip.open(f"{FMNIST}/t10k-labels-idx1-ubyte.gz").read(), np.uint8,
                      offset=8)[:count]
    os.makedirs(out, exist_ok=True)
    rows = []
    for i in range(count):
        label = int(y[i])
        ext = "png" if i % 2 == 0 else "jpg"
        rel = f"folder/{NAMES[label]}/{i:04d}.{ext}"
        os.makedirs(os.path.join(out, os.path.dirname(rel)), exist_ok=True)
        img = Image.fromarray(x[i], mode="L")
        if ext == "png":
            img.save(os.path.join(out, rel))
        else:
            img.save(os.path.join(out, rel), quality=95)
        rows.append((i, label, rel))
    with open(os.path.join(out, "expect.tsv"), "w") as f:
        for i, label, rel in rows:
            f.write(f"{i}\t{label}\t{rel}\n")
    # .lst as im2rec writes it: float labels, in idx order
    with open(os.path.join(out, "list.lst"), "w") as f:
        for i, label, rel in rows:
            f.write(f"{i}\t{label:.6f}\t{rel}\n")
    with open(os.path.join(out, "train.manifest"), "w") as f:
        for i, label, rel in rows:
            f.write(json.dumps({"source-ref": rel, "class": label,
                                "class-metadata": {"class-name": NAMES[label], "confidence": 1,
                                                   "type": "groundtruth/image-classification",
                                                   "human-annotated": "yes"}}) + "\n")

    bad = os.path.join(out, "bad")
    # a class folder without images
    os.makedirs(f"{bad}/empty_class/a", exist_ok=True)
    os.makedirs(f"{bad}/empty_class/b", exist_ok=True)
    Image.fromarray(x[0], mode="L").save(f"{bad}/empty_class/a/0.png")
    open(f"{bad}/empty_class/b/readme.txt", "w").write("not an image\n")
    # unreadable images among good ones, and images of other sizes and modes
    os.makedirs(f"{bad}/mixed/a", exist_ok=True)
    os.makedirs(f"{bad}/mixed/b", exist_ok=True)
    for k in range(4):
        Image.fromarray(x[k], mode="L").save(f"{bad}/mixed/a/{k}.png")
    open(f"{bad}/mixed/a/garbage.png", "wb").write(b"this is not a png at all" * 10)
    jpeg = open(os.path.join(out, rows[1][2]), "rb").read()
    open(f"{bad}/mixed/b/truncated.jpg", "wb").write(jpeg[: len(jpeg) // 3])
    rgb = np.stack([x[5], 255 - x[5], x[5] // 2], axis=-1)
    Image.fromarray(rgb, mode="RGB").resize((40, 30)).save(f"{bad}/mixed/b/rgb40x30.png")
    Image.fromarray(x[6], mode="L").resize((640, 480)).save(f"{bad}/mixed/b/big640x480.jpg")
    Image.fromarray(np.dstack([rgb, np.full((28, 28), 128, np.uint8)]), mode="RGBA").save(
        f"{bad}/mixed/b/rgba.png")
    # list files with problems, one per file
    lst = {
        "negative_label.lst": f"0\t1\t{rows[0][2]}\n1\t-1\t{rows[1][2]}\n",
        "text_label.lst": f"0\tshoe\t{rows[0][2]}\n",
        "two_fields.lst": f"0\t{rows[0][2]}\n",
        "multi_label.lst": f"0\t1\t2\t{rows[0][2]}\n",
        "missing_file.lst": f"0\t{rows[0][1]}\t{rows[0][2]}\n1\t3\tfolder/nowhere.png\n"
                            f"2\t{rows[2][1]}\t{rows[2][2]}\n",
        "big_label.lst": f"0\t1\t{rows[0][2]}\n1\t12\t{rows[1][2]}\n",
    }
    for name, text in lst.items():
        open(os.path.join(out, name), "w").write(text)
    man = {
        "s3.manifest": json.dumps({"source-ref": "s3://bucket/a.jpg", "class": 1}) + "\n",
        "broken.manifest": json.dumps({"source-ref": rows[0][2], "class": 1}) + "\n{not json\n",
        "nolabel.manifest": json.dumps({"source-ref": rows[0][2], "label": 1}) + "\n",
        "strlabel.manifest": json.dumps({"source-ref": rows[0][2], "class": "3"}) + "\n" +
                             json.dumps({"source-ref": rows[1][2], "class": "1"}) + "\n",
    }
    for name, text in man.items():
        open(os.path.join(out, name), "w").write(text)


if __name__ == "__main__":
    main()
