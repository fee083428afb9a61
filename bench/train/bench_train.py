#!/usr/bin/env python3
"""bench_train.py LEDGE [--steps N] [--reps R] [--threads 1,2] [--batch B] [--json OUT]

Training throughput, ledge vs PyTorch (Debian's python3-torch), the same
network (CIFAR-style ResNet-20: 3x3 conv 16, 3 stages of 3 basic blocks with
16/32/64 channels, batch norm, ReLU, global average pooling, dense 10), the
same batch size, the same thread count, SGD with momentum, on real
Fashion-MNIST images (1x28x28). Runs are interleaved (ledge, torch, ledge,
torch, ...) in one process tree so that both see the same machine load; each
run trains N steps after a warm-up and reports images/s of the steps alone
(ledge: `ledge train --json` images_per_second, which times the training
loop; torch: the same loop timed in Python). Medians over R runs.

Run it with /usr/bin/python3 (Debian's torch is visible to it only)."""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time

FMNIST = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def ledge_run(ledge, threads, steps, batch):
    cmd = [ledge, "train", "--train", os.path.join(FMNIST, "train-images-idx3-ubyte.gz"),
           "--limit", str(batch * steps), "--num-classes", "10", "--image-shape", "1,28,28",
           "--network", "resnet", "--num-layers", "20", "--mini-batch-size", str(batch),
           "--epochs", "1", "--learning-rate", "0.05", "--augmentation-type", "none",
           "--threads", str(threads), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["images_per_second"]


TORCH_CODE = r'''
import gzip, sys, time
import numpy as np
import torch
import torch.nn as nn
threads, steps, batch, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(0)
with gzip.open(path, "rb") as f:
    data = f.read()
x = np.frombuffer(data[16:], dtype=np.uint8)[: (steps + 2) * batch * 784].reshape(-1, 1, 28, 28)
x = torch.from_numpy(x.astype(np.float32) / 255.0)
y = torch.randint(0, 10, (x.shape[0],))

def conv_bn(cin, cout, s):
    return [nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout)]

class Block(nn.Module):
    def __init__(self, cin, cout, s):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, s), nn.ReLU(), *conv_bn(cout, cout, 1))
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, s, bias=False), nn.BatchNorm2d(cout))
                      if s != 1 or cin != cout else nn.Identity())
    def forward(self, t):
        return torch.relu(self.body(t) + self.short(t))

layers = [*conv_bn(1, 16, 1), nn.ReLU()]
cin = 16
for stage in range(3):
    for k in range(3):
        w = 16 << stage
        layers.append(Block(cin, w, 2 if stage > 0 and k == 0 else 1))
        cin = w
layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
net = nn.Sequential(*layers)
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
lossf = nn.CrossEntropyLoss()
def step(i):
    xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
    opt.zero_grad()
    loss = lossf(net(xb), yb)
    loss.backward()
    opt.step()
step(0)
step(1)
t = time.perf_counter()
for i in range(steps):
    step(2 + i)
print(steps * batch / (time.perf_counter() - t))
'''


def torch_run(threads, steps, batch):
    out = subprocess.run([sys.executable, "-c", TORCH_CODE, str(threads), str(steps), str(batch),
                          os.path.join(FMNIST, "train-images-idx3-ubyte.gz")],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ledge")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json")
    a = ap.parse_args()
    import torch  # noqa: F401  (fail early without Debian's torch)
    results = {}
    for t in [int(v) for v in a.threads.split(",")]:
        results[t] = {"ledge": [], "torch": []}
    for rep in range(a.reps):
        for t in results:
            results[t]["ledge"].append(ledge_run(a.ledge, t, a.steps, a.batch))
            results[t]["torch"].append(torch_run(t, a.steps, a.batch))
            print("rep %d, %d thread(s): ledge %.1f img/s, torch %.1f img/s" %
                  (rep, t, results[t]["ledge"][-1], results[t]["torch"][-1]), flush=True)
    summary = {}
    print("\nResNet-20, 1x28x28, batch %d, %d steps per run, median of %d interleaved runs" %
          (a.batch, a.steps, a.reps))
    print("threads  ledge img/s  torch img/s  ledge/torch")
    for t, r in results.items():
        lm, tm = statistics.median(r["ledge"]), statistics.median(r["torch"])
        summary[t] = {"ledge": lm, "torch": tm, "ratio": lm / tm, "runs": r}
        print("%7d  %11.1f  %11.1f  %10.2fx" % (t, lm, tm, lm / tm))
    print("torch %s" % __import__("torch").__version__)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"batch": a.batch, "steps": a.steps, "reps": a.reps, "results": summary,
                       "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}, f, indent=1)


if __name__ == "__main__":
    main()
