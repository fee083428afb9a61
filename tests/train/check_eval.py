#!/usr/bin/python3
"""ledge eval against numpy: a nearest-class-mean classifier for
Fashion-MNIST (class means from the training set, as ONNX Flatten + Gemm
built with the onnx package) is scored by numpy on the same images; ledge
eval's accuracy, confusion matrix and per-class precision/recall must be
numpy's. Also: a folder dataset matched to the model's classes by name, a
model with a fixed batch of 7, --plot, and the error paths.

usage: check_eval.py LEDGE_CLI WORKDIR SOURCE_DIR
"""
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FMNIST = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle_boot"]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def idx(name, offset):
    return np.frombuffer(gzip.open(f"{FMNIST}/{name}").read(), np.uint8, offset=offset)


def make_model(path, weights, bias, batch="N", channels=1, classes=10, nhwc=False):
    shape = [batch, 28, 28, channels] if nhwc else [batch, channels, 28, 28]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, classes])
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=1),
             helper.make_node("Gemm", ["flat", "W", "b"], ["scores"], transB=1)]
    if nhwc:  # TF.js-style input, transposed to NCHW inside the model
        nodes.insert(0, helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]))
        nodes[1].input[0] = "xt"
    graph = helper.make_graph(nodes, "nearest_mean", [x], [y],
                              [numpy_helper.from_array(weights.astype(np.float32), "W"),
                               numpy_helper.from_array(bias.astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def run(cli, *args, ok=True):
    p = subprocess.run([cli, "eval", *args], capture_output=True, text=True, timeout=300)
    if ok and p.returncode != 0:
        print(p.stderr)
    return p


def compare(result, scores, labels, what):
    """result: ledge eval --json; scores: numpy float64 scores (n x k)."""
    n, k = scores.shape
    pred = scores.argmax(1)
    top2 = np.sort(scores, 1)[:, -2:]
    ambiguous = int((top2[:, 1] - top2[:, 0] < 1e-3 * np.abs(top2[:, 1]).max()).sum())
    conf = np.zeros((k, k), np.int64)
    np.add.at(conf, (labels, pred), 1)
    got = np.array(result["confusion"])
    diff = int(np.abs(got - conf).sum())
    acc = (pred == labels).mean()
    print(f"{what}: ledge accuracy {result['accuracy']:.4f}, numpy {acc:.4f}, "
          f"confusion differs by {diff} (ambiguous samples: {ambiguous})")
    check(result["samples"] == n, f"{what}: samples {result['samples']} != {n}")
    check(diff <= 2 * ambiguous, f"{what}: confusion differs by {diff}")
    check(abs(result["accuracy"] - acc) <= ambiguous / n + 1e-6, f"{what}: accuracy")
    for c, pc in enumerate(result["per_class"]):
        tp, actual, predicted = conf[c, c], conf[c].sum(), conf[:, c].sum()
        if ambiguous == 0:
            check(abs(pc["precision"] - (tp / predicted if predicted else 0)) < 1e-5, f"{what}: precision {c}")
            check(abs(pc["recall"] - (tp / actual if actual else 0)) < 1e-5, f"{what}: recall {c}")
        check(pc["support"] == actual, f"{what}: support {c}")


def main():
    cli, work, src = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    xtr = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float64) / 255
    ytr = idx("train-labels-idx1-ubyte.gz", 8)
    means = np.stack([xtr[ytr == c].mean(0) for c in range(10)])
    # argmax(x . m - |m|^2 / 2) = the nearest class mean
    w, b = means, -0.5 * (means ** 2).sum(1)
    model = os.path.join(work, "nearest.onnx")
    make_model(model, w, b)
    with open(os.path.join(work, "nearest.labels.txt"), "w") as f:
        f.write("\n".join(NAMES) + "\n")

    xte = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float64) / 255
    yte = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    n = 1000
    scores = xte[:n] @ w.T + b
    p = run(cli, model, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", str(n), "--json",
            "--plot", os.path.join(work, "confusion.png"))
    check(p.returncode == 0, "ledge eval on IDX")
    if p.returncode == 0:
        r = json.loads(p.stdout)
        compare(r, scores, yte[:n], "IDX t10k[:1000]")
        check(r["classes"][9] == "Ankle_boot", "class names from nearest.labels.txt")
        check(0 < r["top_k_accuracy"] <= 1 and r["top_k_accuracy"] >= r["accuracy"], "top-k")
        png = open(os.path.join(work, "confusion.png"), "rb").read(8)
        check(png == b"\x89PNG\r\n\x1a\n", "--plot wrote a PNG")
    # the text report
    p = run(cli, model, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", "100")
    check(p.returncode == 0 and "accuracy" in p.stdout and "confusion" in p.stdout, "text report")

    # a model that expects standardized input ((x - 0.286) / 0.353), with the
    # preprocessing saved beside it: eval applies it (same scores as the
    # raw model); without the file the inputs are wrong and accuracy drops
    m, s = 0.2860, 0.3530
    normalized = os.path.join(work, "normalized.onnx")
    make_model(normalized, w * s, b + m * w.sum(1))
    with open(os.path.join(work, "normalized.preprocess.json"), "w") as f:
        json.dump({"image_shape": "1,28,28", "resize": 0, "scale": 1 / 255, "mean": [m], "std": [s]}, f)
    open(os.path.join(work, "bad.json"), "w").write("[1, 2")
    p = run(cli, normalized, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", str(n), "--json")
    check(p.returncode == 0, "normalized model")
    if p.returncode == 0:
        compare(json.loads(p.stdout), scores, yte[:n], "normalized.preprocess.json")
    os.rename(os.path.join(work, "normalized.preprocess.json"), os.path.join(work, "elsewhere.json"))
    p = run(cli, normalized, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", str(n), "--json")
    check(p.returncode == 0 and json.loads(p.stdout)["accuracy"] < (scores.argmax(1) == yte[:n]).mean() - 0.05,
          "without the preprocess file the accuracy drops")
    p = run(cli, normalized, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", str(n), "--json",
            "--mean", str(m), "--std", str(s))
    check(p.returncode == 0, "--mean/--std")
    if p.returncode == 0:
        compare(json.loads(p.stdout), scores, yte[:n], "--mean/--std flags")

    # an NHWC model (as TF.js models are): the batch is transposed for it
    nhwc = os.path.join(work, "nhwc.onnx")
    make_model(nhwc, w, b, nhwc=True)
    p = run(cli, nhwc, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", str(n), "--json")
    check(p.returncode == 0, "NHWC model")
    if p.returncode == 0:
        compare(json.loads(p.stdout), scores, yte[:n], "NHWC input")

    # a fixed batch of 7: 1000 = 142 * 7 + 6, the last batch padded
    fixed = os.path.join(work, "nearest7.onnx")
    make_model(fixed, w, b, batch=7)
    p = run(cli, fixed, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", str(n), "--json")
    check(p.returncode == 0, "fixed batch 7")
    if p.returncode == 0:
        compare(json.loads(p.stdout), scores, yte[:n], "fixed batch 7")

    # a folder of PNG/JPEG files (sorted folder names != label order): matched
    # to the model's classes by name; numpy scores PIL's decoding of the files
    data = os.path.join(work, "formats")
    subprocess.run(["/usr/bin/python3", os.path.join(src, "tests/train/make_data.py"), data, "200"],
                   check=True)
    from PIL import Image
    rows = [line.split("\t") for line in open(os.path.join(data, "expect.tsv")).read().split("\n") if line]
    xs = np.stack([np.asarray(Image.open(os.path.join(data, r[2])).convert("L"), np.float64).reshape(-1) / 255
                   for r in rows])
    ys = np.array([int(r[1]) for r in rows])
    p = run(cli, model, os.path.join(data, "folder"), "--json")
    check(p.returncode == 0, "folder dataset")
    if p.returncode == 0:
        compare(json.loads(p.stdout), xs @ w.T + b, ys, "folder (PNG+JPEG)")
    for name in ("list.lst", "train.manifest"):
        p = run(cli, model, os.path.join(data, name), "--json")
        check(p.returncode == 0, name)
        if p.returncode == 0:
            compare(json.loads(p.stdout), xs @ w.T + b, ys, name)

    # a model trained by `ledge train` on the folder (classes = sorted folder
    # names): ledge eval gives the trainer's own validation accuracy, on the
    # folder and on the manifest, whose labels follow another order and are
    # matched to the model's classes through their names
    p = subprocess.run([cli, "train", "--train", os.path.join(data, "folder"), "--validation",
                        os.path.join(data, "folder"), "--network", "cnn", "--num-classes", "10",
                        "--image-shape", "1,28,28", "--epochs", "2", "--mini-batch-size", "16",
                        "--learning-rate", "0.05", "--seed", "1", "-o",
                        os.path.join(work, "trained.onnx"), "--json"],
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, "ledge train on the folder: " + p.stderr[-300:])
    if p.returncode == 0:
        own = json.loads(p.stdout.strip().splitlines()[-1])["validation_accuracy"]
        for name in ("folder", "train.manifest"):
            q = run(cli, os.path.join(work, "trained.onnx"), os.path.join(data, name), "--json")
            check(q.returncode == 0, f"eval of the trained model on {name}")
            if q.returncode == 0:
                r = json.loads(q.stdout)
                print(f"trained model on {name}: ledge eval {r['accuracy']:.4f}, trainer {own:.4f}")
                check(abs(r["accuracy"] - own) < 1e-6, f"{name}: eval accuracy == the trainer's")
                check(r["classes"][0] == "Ankle_boot", "classes from trained.labels.txt")

    # errors: one line, non-zero exit, never a crash
    rgb = os.path.join(work, "rgb.onnx")
    make_model(rgb, np.zeros((10, 3 * 784)), np.zeros(10), channels=3)
    five = os.path.join(work, "five.onnx")
    make_model(five, w[:5], b[:5], classes=5)
    bad = [
        ([model, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--image-shape", "1,32,32"], "does not match"),
        ([model, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--preprocess", os.path.join(work, "bad.json")],
         "is not a JSON object"),
        ([five, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", "50", "--labels",
          os.path.join(work, "nearest.labels.txt")], "scores 5 classes"),
        ([model, "/nonexistent/data"], "cannot open"),
        ([model, os.path.join(data, "negative_label.lst")], "not a non-negative integer"),
        (["/nonexistent/model.onnx", f"{FMNIST}/t10k-images-idx3-ubyte.gz"], ""),
        ([model, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--bogus"], "unknown option"),
        ([model, os.path.join(data, "bad", "empty_class")], "holds no JPEG or PNG"),
    ]
    for args, message in bad:
        p = run(cli, *args, ok=False)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        check(p.returncode == 1 and p.returncode < 128, f"exit code for {args}: {p.returncode}")
        check(len(lines) == 1 and message in p.stderr, f"one clear line for {args}: {p.stderr!r}")
    # the RGB model on gray data works (gray replicated), with a rejected mismatch of C
    p = run(cli, rgb, f"{FMNIST}/t10k-images-idx3-ubyte.gz", "--limit", "20", "--json")
    check(p.returncode == 0, "gray data through an RGB model")

    print("check_eval:", "ok" if failures == 0 else f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
