#!/usr/bin/python3
"""ledge optimize on a small CNN trained here by `ledge train` on a slice of
Fashion-MNIST, evaluated on the real test set:

  - every variant is made, loads and is measured (size, peak RSS, latency at
    each thread count, accuracy, agreement with fp32, SQNR);
  - sizes: compressed, int8 and channel-pruned files are smaller than fp32,
    and the magnitude-pruned model compresses better than the dense one;
  - fp32 accuracy equals `ledge eval` on the original ONNX file and an
    independent count with ONNX Runtime running that file;
  - int8 stays close to fp32 (top-1 agreement, SQNR);
  - report.md holds the table, report.json the same as --json, plots are PNGs;
  - bad arguments: one line, exit 1.

usage: check_optimize.py LEDGE ORT_RUN_JS WORKDIR
"""
import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np

LEDGE, ORT_RUN, WORK = sys.argv[1:4]
FMNIST = "/usr/share/datasets/fashion-mnist"
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


def run(args, timeout=300):
    return subprocess.run([LEDGE] + args, capture_output=True, text=True, timeout=timeout)


train = os.path.join(FMNIST, "train-images-idx3-ubyte.gz")
test = os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")
if not os.path.exists(test):
    print("SKIP: no Fashion-MNIST in " + FMNIST)
    sys.exit(77)

model = os.path.join(WORK, "cnn.onnx")
p = run(["train", "--train", train, "--validation", test, "--limit", "1500", "--validation-limit", "100",
         "--network", "cnn", "--num-classes", "10", "--image-shape", "1,28,28", "--epochs", "1",
         "--mini-batch-size", "32", "--learning-rate", "0.05", "--seed", "1", "-o", model, "--json"])
if p.returncode != 0:
    print("FAIL ledge train: " + p.stderr[-500:])
    sys.exit(1)

LIMIT = 400
out = os.path.join(WORK, "out")
p = run(["optimize", model, "--data", test, "--limit", str(LIMIT), "--samples", "30", "--runs", "3",
         "--threads-list", "1,2", "-o", out, "--json", "--plot"])
check("ledge optimize runs", p.returncode == 0, p.stderr[-800:])
if p.returncode != 0:
    sys.exit(1)
report = json.loads(p.stdout)
names = [v["name"] for v in report["variants"]]
expected = ["fp32", "int8", "channels", "magnitude", "compressed", "channels+int8", "magnitude+compressed"]
check("all variants, fp32 first", names == expected, names)
check("report header", report["threads"] == [1, 2] and report["runs"] == 3 and report["eval_samples"] == LIMIT
      and report["model"] == model and report["data"] == test, {k: report[k] for k in report if k != "variants"})
v = {x["name"]: x for x in report["variants"]}
keys = {"name", "description", "path", "file_bytes", "peak_rss_kb", "latency_ms", "accuracy", "top1_agreement",
        "sqnr_db", "compared_samples"}
for name, x in v.items():
    ok = (set(x) == keys and os.path.getsize(x["path"]) == x["file_bytes"] and x["peak_rss_kb"] > 1000
          and set(x["latency_ms"]) == {"1", "2"} and all(t > 0 for t in x["latency_ms"].values())
          and 0 <= x["accuracy"] <= 1 and 0 <= x["top1_agreement"] <= 1 and x["compared_samples"] == 30)
    check(f"{name}: measured, file size matches", ok, x)
    p = run(["info", x["path"]])
    check(f"{name}: the variant loads in ledge info", p.returncode == 0, p.stderr[-300:])

size = {n: x["file_bytes"] for n, x in v.items()}
check("compressed < fp32 / 5", size["compressed"] * 5 < size["fp32"], size)
check("int8 < fp32", size["int8"] < size["fp32"], size)
check("channels < fp32", size["channels"] < size["fp32"], size)
check("channels+int8 < channels", size["channels+int8"] < size["channels"], size)
check("magnitude+compressed < compressed (zeros code short)",
      size["magnitude+compressed"] < size["compressed"], size)
check("fp32 agrees with itself exactly", v["fp32"]["top1_agreement"] == 1 and v["fp32"]["sqnr_db"] == 999,
      v["fp32"])
check("int8 close to fp32 (agreement >= 0.9, SQNR > 25 dB)",
      v["int8"]["top1_agreement"] >= 0.9 and v["int8"]["sqnr_db"] > 25, v["int8"])
check("int8 accuracy within 3 points of fp32", abs(v["int8"]["accuracy"] - v["fp32"]["accuracy"]) <= 0.03,
      (v["int8"]["accuracy"], v["fp32"]["accuracy"]))

# fp32 accuracy: ledge eval on the original ONNX file
p = run(["eval", model, test, "--limit", str(LIMIT), "--json"])
ev = json.loads(p.stdout) if p.returncode == 0 else {}
check("fp32 accuracy equals ledge eval on the ONNX model", ev.get("accuracy") == v["fp32"]["accuracy"],
      (ev.get("accuracy"), v["fp32"]["accuracy"], p.stderr[-300:]))

# ... and an independent count: ONNX Runtime (tests/formats/ort_run.js) on
# the ONNX file, inputs as ledge eval prepares them for a model without a
# preprocess file (pixels / 255)
import onnx

with gzip.open(test) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:LIMIT]
with gzip.open(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")) as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)[:LIMIT]
graph_input = onnx.load(model).graph.input[0]
batch_dim = graph_input.type.tensor_type.shape.dim[0]
batch = 1 if batch_dim.HasField("dim_value") and batch_dim.dim_value == 1 else LIMIT
jobs = []
for start in range(0, LIMIT, batch):
    job = os.path.join(WORK, "ort", str(start))
    os.makedirs(job, exist_ok=True)
    x = images[start:start + batch].astype(np.float32) / 255
    x.tofile(os.path.join(job, "x.bin"))
    jobs.append({"model": model, "out": job, "inputs": [{"name": graph_input.name, "type": "float32",
                                                          "dims": list(x.shape), "file": os.path.join(job, "x.bin")}]})
with open(os.path.join(WORK, "ort", "manifest.json"), "w") as f:
    json.dump(jobs, f)
subprocess.run(["node", ORT_RUN, os.path.join(WORK, "ort", "manifest.json")], check=True, capture_output=True,
               timeout=300)
correct = 0
for start, job in zip(range(0, LIMIT, batch), jobs):
    res = json.load(open(os.path.join(job["out"], "result.json")))
    o = res["outputs"][0]
    path = o["file"] if os.path.isabs(o["file"]) else os.path.join(job["out"], o["file"])
    logits = np.fromfile(path, dtype=np.float32).reshape(o["dims"])
    correct += int((logits.argmax(1) == labels[start:start + batch]).sum())
check("fp32 accuracy equals ONNX Runtime's count on the ONNX model", abs(correct / LIMIT - v["fp32"]["accuracy"]) < 1e-9,
      (correct / LIMIT, v["fp32"]["accuracy"]))

md = open(os.path.join(out, "report.md")).read()
rows = [line for line in md.splitlines() if line.startswith("| ")]
check("report.md: header + one row per variant", len(rows) == 1 + len(expected)
      and all(any(r.startswith(f"| {n} |") for r in rows) for n in expected), rows)
check("report.md names both thread counts", "latency 1 thread" in md and "latency 2 threads" in md)
with open(os.path.join(out, "report.json")) as f:
    check("report.json is the --json output", json.load(f) == report)
for png in ("accuracy_vs_size.png", "accuracy_vs_latency.png"):
    path = os.path.join(out, png)
    ok = os.path.exists(path) and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 2000
    check(f"plot {png}", ok)

# unlabelled data (an .npy of preprocessed samples): no accuracy, agreement
# and SQNR against fp32 instead, plotted in its place
np.save(os.path.join(WORK, "samples.npy"), images[:20].astype(np.float32) / 255)
out_npy = os.path.join(WORK, "out_npy")
p = run(["optimize", model, "--data", os.path.join(WORK, "samples.npy"), "--runs", "2", "--threads-list", "1",
         "-o", out_npy, "--json", "--plot"])
check("unlabelled .npy data runs", p.returncode == 0, p.stderr[-500:])
if p.returncode == 0:
    r = json.loads(p.stdout)
    u = {x["name"]: x for x in r["variants"]}
    check("unlabelled: no accuracy, agreement on every sample", r["eval_samples"] == 0 and
          all(x["accuracy"] is None and x["compared_samples"] == 20 and 0 <= x["top1_agreement"] <= 1
              and list(x["latency_ms"]) == ["1"] for x in u.values()), r)
    check("unlabelled: int8 agrees with fp32", u["int8"]["top1_agreement"] >= 0.9 and u["int8"]["sqnr_db"] > 25,
          u["int8"])
    check("unlabelled: plots", all(os.path.exists(os.path.join(out_npy, f))
                                   for f in ("accuracy_vs_size.png", "accuracy_vs_latency.png")))

# bad input: one line, exit 1
for args, what in [([model], "no --data"),
                   ([model, "--data", os.path.join(WORK, "missing.gz")], "missing data"),
                   ([model, "--data", test, "--threads-list", "1,x"], "bad --threads-list"),
                   ([model, "--data", test, "--ratio", "1.5"], "bad --ratio"),
                   ([os.path.join(WORK, "missing.onnx"), "--data", test, "-o", out], "missing model"),
                   ([model, "--data", model, "-o", os.path.join(WORK, "bad")], "data that is not data")]:
    p = run(["optimize"] + args)
    lines = p.stderr.strip().splitlines()
    check(f"error: {what}", p.returncode == 1 and len(lines) == 1 and lines[0].startswith("ledge"),
          (p.returncode, p.stderr[-400:]))
p = run(["optimize", "--help"])
check("--help", p.returncode == 0 and "--threads-list" in p.stdout)

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
