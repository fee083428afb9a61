#!/usr/bin/python3
"""ledge prune against independent oracles (PyTorch builds the model, numpy
reads the weights, ONNX Runtime runs both models).

  channels   a small CNN (Conv-BN-ReLU chains, a residual Add) whose first
             conv has 8 dead filters (zero weights, BN shift 0): pruning half
             its channels must remove exactly those, leave the outputs equal
             (ONNX Runtime on the original vs ledge and ONNX Runtime on the
             pruned model), shrink the consumer's input channels, and leave
             the convolutions feeding the Add alone
  magnitude  every weight of >= --min-elements values has exactly
             floor(S * n) zeros, the survivors unchanged, and no zeroed weight
             larger than a kept one
  errors     bad arguments: one line, exit 1

usage: check_prune.py LEDGE ORT_RUN_JS WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

LEDGE, ORT_RUN, WORK = sys.argv[1:4]
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16)
        self.c2, self.b2 = torch.nn.Conv2d(16, 24, 3, padding=1), torch.nn.BatchNorm2d(24)
        self.c3 = torch.nn.Conv2d(24, 24, 3, padding=1)  # feeds the residual Add: must stay
        self.fc = torch.nn.Linear(24, 10)

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = torch.relu(self.b2(self.c2(y)))
        y = torch.relu(self.c3(y) + y)
        return self.fc(y.mean(dim=(2, 3)))


torch.manual_seed(0)
net = Net().eval()
with torch.no_grad():
    for b in (net.b1, net.b2):
        b.running_mean.uniform_(-0.5, 0.5)
        b.running_var.uniform_(0.5, 1.5)
        b.weight.uniform_(0.5, 1.5)
        b.bias.uniform_(-0.2, 0.2)
    dead = list(range(0, 16, 2))  # 8 of 16: zero filters, zero mean and shift: they output 0
    net.c1.weight[dead] = 0
    net.c1.bias[dead] = 0
    net.b1.running_mean[dead] = 0
    net.b1.bias[dead] = 0
model = f"{WORK}/net.onnx"
# PRESERVE keeps BatchNormalization nodes (EVAL would fold them into the convs).
torch.onnx.export(net, torch.randn(1, 3, 32, 32), model, input_names=["x"], output_names=["y"],
                  opset_version=13, do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
np.save(f"{WORK}/x.npy", x)


def ort(path):
    """ONNX Runtime (onnxruntime-node) through tests/formats/ort_run.js's manifest."""
    job = f"{WORK}/ort_{os.path.basename(path)}"
    os.makedirs(job, exist_ok=True)
    x.tofile(f"{job}/x.bin")
    manifest = [{"model": path, "out": job, "optimization": "all",
                 "inputs": [{"name": "x", "type": "float32", "dims": list(x.shape), "file": f"{job}/x.bin"}]}]
    with open(f"{job}/manifest.json", "w") as f:
        json.dump(manifest, f)
    subprocess.run(["node", ORT_RUN, f"{job}/manifest.json"], check=True, capture_output=True)
    res = json.load(open(f"{job}/result.json"))
    if "error" in res:
        raise SystemExit(f"FAIL ONNX Runtime: {res['error']}")
    o = res["outputs"][0]
    f = o["file"] if os.path.isabs(o["file"]) else os.path.join(job, o["file"])
    return np.fromfile(f, dtype=np.float32).reshape(o["dims"])


def ledge_run(path):
    subprocess.run([LEDGE, "run", path, "--input", f"x={WORK}/x.npy", "--output-dir", f"{WORK}/out"],
                   check=True, capture_output=True)
    return np.load(f"{WORK}/out/y.npy")


def weights(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


# ---- channels ----
pruned = f"{WORK}/channels.onnx"
p = subprocess.run([LEDGE, "prune", model, "--method", "channels", "--ratio", "0.5", "-o", pruned, "--json",
                    "--runs", "3"], capture_output=True, text=True)
check("channels: runs", p.returncode == 0, p.stderr)
if p.returncode == 0:
    rep = json.loads(p.stdout)
    w0, w1 = weights(model), weights(pruned)
    c1 = [k for k in w0 if w0[k].shape == (16, 3, 3, 3)][0]
    c2 = [k for k in w0 if w0[k].shape == (24, 16, 3, 3)][0]
    c3 = [k for k in w0 if w0[k].shape == (24, 24, 3, 3)][0]
    check("channels: the dead filters went", w1[c1].shape == (8, 3, 3, 3) and
          np.array_equal(w1[c1], w0[c1][[k for k in range(16) if k not in dead]]), w1[c1].shape)
    check("channels: the consumer lost those inputs", w1[c2].shape == (24, 8, 3, 3) and
          np.array_equal(w1[c2], w0[c2][:, [k for k in range(16) if k not in dead]]), w1[c2].shape)
    bn = [k for k in w1 if w1[k].shape == (8,)]
    check("channels: BatchNormalization follows", len(bn) >= 4, sorted(w1))
    check("channels: convolutions feeding the residual Add untouched",
          w1[c3].shape == (24, 24, 3, 3) and [l["before"] == 24 for l in rep["layers"]].count(True) == 0, rep)
    y0, y_ort, y_ledge = ort(model), ort(pruned), ledge_run(pruned)
    check("channels: same outputs (ONNX Runtime, original vs pruned)", np.abs(y0 - y_ort).max() < 1e-4,
          np.abs(y0 - y_ort).max())
    check("channels: ledge on the pruned model agrees", np.abs(y0 - y_ledge).max() < 1e-4,
          np.abs(y0 - y_ledge).max())
    check("channels: report", rep["top1_same"] and rep["sqnr_db"] > 60 and rep["ms_after"] > 0, rep)

# ---- magnitude ----
sparse = f"{WORK}/magnitude.onnx"
p = subprocess.run([LEDGE, "prune", model, "--method", "magnitude", "--sparsity", "0.7", "--min-elements", "200",
                    "-o", sparse, "--runs", "0", "--json"], capture_output=True, text=True)
check("magnitude: runs", p.returncode == 0, p.stderr)
if p.returncode == 0:
    w0, w1 = weights(model), weights(sparse)
    pruned_any = False
    for k, a in w0.items():
        b = w1[k]
        if a.size < 200 or a.ndim < 2:
            check(f"magnitude: {k} small, unchanged", np.array_equal(a, b))
            continue
        pruned_any = True
        zeroed = (b == 0) & (a != 0)
        kept = b != 0
        ok = (int((b == 0).sum()) >= int(np.floor(0.7 * a.size)) and np.array_equal(a[kept], b[kept]) and
              (not zeroed.any() or np.abs(a[zeroed]).max() <= np.abs(a[kept]).min()))
        check(f"magnitude: {k} {a.shape}: {int((b == 0).sum())}/{a.size} zero, the smallest", ok)
    check("magnitude: some weights pruned", pruned_any)
    # The pruned model runs the same in ONNX Runtime and ledge.
    check("magnitude: ledge agrees with ONNX Runtime on the sparse model",
          np.abs(ort(sparse) - ledge_run(sparse)).max() < 1e-4)

# ---- errors ----
for args, words in [(["--method", "channels", "--ratio", "1.5", "-o", f"{WORK}/e.onnx"], "fraction"),
                    (["--method", "shrink", "--ratio", "0.5", "-o", f"{WORK}/e.onnx"], "--method"),
                    (["--method", "channels", "--ratio", "0.5"], "required"),
                    (["--method", "channels", "--ratio", "0.5", "-o", f"{WORK}/e.txt"], ".onnx or .ledge")]:
    p = subprocess.run([LEDGE, "prune", model, *args], capture_output=True, text=True)
    check(f"error: {words}", p.returncode != 0 and words in p.stderr.strip().splitlines()[-1], p.stderr)
p = subprocess.run([LEDGE, "prune", f"{WORK}/none.onnx", "--method", "channels", "--ratio", "0.5", "-o",
                    f"{WORK}/e.onnx"], capture_output=True, text=True)
check("error: missing model", p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr)

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
