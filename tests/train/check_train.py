#!/usr/bin/env python3
"""check_train.py LEDGE SOURCE_DIR WORK_DIR MODE: end-to-end tests of `ledge train`
on real data (Debian's dataset-fashion-mnist), label `train`.

  e2e     LeNet-5 trained 375 steps (batch 32, 4000 training images, seed 1)
          reaches >= 78% on the first 1000 test images; a second run with the
          same seed gives the same numbers to the last digit; a learning rate
          of 1000 stops with a clear NaN message and exit code 2.
  resume  a run with checkpoints is killed with SIGKILL during its second
          epoch, resumed with --resume, and finishes; its final metrics equal
          those of an uninterrupted run with the same seed (the checkpoint
          holds weights, BN statistics, optimizer moments and the position).
  mpi     data parallel: `mpirun -np 2 ledge train` with batch 16 per rank and
          one process with batch 32 on the same data and seed end with the same
          weights after 40 steps (an MLP and LeNet-5, no batch normalization,
          whose statistics are per rank), within float summation-order noise.
  export  a CNN with batch normalization and dropout trained briefly and
          exported to ONNX (BN folded): `ledge run` on 300 test images gives
          the same accuracy as the trainer's own validation, and ONNX Runtime
          (onnxruntime-node) gives the same logits as ledge (1e-4 relative);
          magnitude-pruned and fine-tuned, its zeros stay where they were.
  groups  an image folder whose file names carry a subject (p0..p5): with
          --validation-group whole subjects go to validation and none to both
          sides; a pattern that matches nothing fails with one line; a
          validation folder holding only 3 of the 10 classes is scored on the
          training set's class indices (aligned by name); the export carries
          MODEL.labels.txt and MODEL.preprocess.json."""
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

LEDGE, SRC, WORK, MODE = sys.argv[1:5]
FMNIST = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
TRAIN = os.path.join(FMNIST, "train-images-idx3-ubyte.gz")
TEST = os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")
os.makedirs(WORK, exist_ok=True)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def train(args, **kw):
    cmd = [LEDGE, "train", "--num-classes", "10", "--image-shape", "1,28,28", "--threads", "2"] + args
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def read_idx_images(path, n):
    with gzip.open(path, "rb") as f:
        data = f.read()
    count, rows, cols = np.frombuffer(data[4:16], dtype=">u4")
    x = np.frombuffer(data[16:], dtype=np.uint8).reshape(count, 1, rows, cols)[:n]
    return x.astype(np.float32) / 255.0


def read_idx_labels(path, n):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data[8:], dtype=np.uint8)[:n].astype(np.int64)


LENET = ["--train", TRAIN, "--validation", TEST, "--limit", "4000", "--validation-limit", "1000",
         "--network", "lenet", "--mini-batch-size", "32", "--learning-rate", "0.05",
         "--augmentation-type", "none", "--seed", "1"]

if MODE == "e2e":
    runs = []
    for k in range(2):
        r = train(LENET + ["--epochs", "3", "--json"])
        check(r.returncode == 0, "run %d exits 0 (%s)" % (k, r.stderr.strip().splitlines()[-1:]))
        if r.returncode != 0:
            break
        runs.append(last_json(r.stdout))
    if runs:
        s = runs[0]
        print("summary:", s)
        check(s["steps"] == 375, "375 steps")
        check(s["validation_accuracy"] >= 0.78,
              "validation accuracy %.3f >= 0.78 on 1000 test images" % s["validation_accuracy"])
    if len(runs) == 2:
        a = {k: v for k, v in runs[0].items() if k not in ("seconds", "images_per_second")}
        b = {k: v for k, v in runs[1].items() if k not in ("seconds", "images_per_second")}
        check(a == b, "same seed, same results (%s vs %s)" % (a, b))
    r = train(LENET + ["--epochs", "1", "--learning-rate", "1000", "--checkpoint",
                       os.path.join(WORK, "nan.ckpt")])
    check(r.returncode == 2 and ("NaN" in r.stderr or "infinite" in r.stderr),
          "a diverging run stops with exit code 2 and a NaN message (%d: %s)"
          % (r.returncode, r.stderr.strip().splitlines()[-1:]))

elif MODE == "resume":
    ckpt = os.path.join(WORK, "resume.ckpt")
    metrics = os.path.join(WORK, "resume.jsonl")
    for p in (ckpt, metrics):
        if os.path.exists(p):
            os.remove(p)
    args = LENET + ["--epochs", "4", "--json", "--checkpoint", ckpt]
    cmd = [LEDGE, "train", "--num-classes", "10", "--image-shape", "1,28,28", "--threads", "2"] + args
    proc = subprocess.Popen(cmd + ["--metrics", metrics], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(ckpt):  # renamed into place whole: epoch 1 is done
            break
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    check(killed, "the run was killed with SIGKILL after its first checkpoint")
    check(os.path.exists(ckpt), "a checkpoint exists after the kill")
    r = train(args + ["--resume", "--metrics", metrics])
    check(r.returncode == 0, "the resumed run finishes (%s)" % r.stderr.strip().splitlines()[-1:])
    check("resumed from" in r.stderr, "it says it resumed")
    resumed = last_json(r.stdout) if r.returncode == 0 else {}
    full = train(LENET + ["--epochs", "4", "--json"])
    check(full.returncode == 0, "the uninterrupted run finishes")
    if full.returncode == 0 and resumed:
        f = last_json(full.stdout)
        print("resumed:", resumed, "\nfull:   ", f)
        same = all(resumed[k] == f[k] for k in ("epochs", "steps", "train_loss", "validation_accuracy"))
        check(same, "resumed run == uninterrupted run (steps, loss, accuracy)")
    lines = [json.loads(l) for l in open(metrics)]
    check([l["epoch"] for l in lines][-3:] == [2, 3, 4], "metrics continue after the resume")

elif MODE == "export":
    model = os.path.join(WORK, "cnn.onnx")
    n = 300
    r = train(["--train", TRAIN, "--validation", TEST, "--limit", "1024", "--validation-limit", str(n),
               "--network", "cnn", "--mini-batch-size", "64", "--learning-rate", "0.05", "--epochs", "1",
               "--augmentation-type", "crop", "--seed", "3", "--json", "-o", model])
    check(r.returncode == 0, "training and export succeed (%s)" % r.stderr.strip().splitlines()[-1:])
    if r.returncode == 0:
        own = last_json(r.stdout)["validation_accuracy"]
        x = read_idx_images(TEST, n)
        y = read_idx_labels(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"), n)
        np.save(os.path.join(WORK, "x.npy"), x)
        out = os.path.join(WORK, "ledge_out")
        subprocess.run([LEDGE, "run", model, "--input", "data=" + os.path.join(WORK, "x.npy"),
                        "--output-dir", out], check=True, capture_output=True)
        logits = np.load(os.path.join(out, sorted(os.listdir(out))[0]))
        acc = float((logits.argmax(1) == y).mean())
        check(logits.shape == (n, 10), "ledge run gives %s logits" % (logits.shape,))
        check(abs(acc - own) <= 1.0 / n + 1e-9,
              "ledge run accuracy %.4f == the trainer's own %.4f (within one image)" % (acc, own))
        raw = os.path.join(WORK, "x.bin")
        x.tofile(raw)
        manifest = os.path.join(WORK, "ort.json")
        json.dump([{"model": model, "out": os.path.join(WORK, "ort"), "optimization": "all",
                    "inputs": [{"name": "data", "type": "float32", "dims": list(x.shape), "file": raw}]}],
                  open(manifest, "w"))
        env = dict(os.environ, NODE_PATH=os.path.join(SRC, "node_modules"))
        subprocess.run(["node", os.path.join(SRC, "tests", "formats", "ort_run.js"), manifest], check=True,
                       env=env)
        res = json.load(open(os.path.join(WORK, "ort", "result.json")))
        check("error" not in res, "ONNX Runtime runs the export (%s)" % res.get("error"))
        if "error" not in res:
            ort = np.fromfile(res["outputs"][0]["file"], dtype=np.float32).reshape(n, 10)
            err = float(np.abs(ort - logits).max() / (np.abs(ort).max() + 1e-6))
            check(err < 1e-4, "ONNX Runtime logits == ledge logits (max relative difference %.2g)" % err)
            check(float((ort.argmax(1) == y).mean()) == acc, "ONNX Runtime accuracy == ledge accuracy")
        # fine-tune the export: head cut before its classifier, backbone frozen
        r = train(["--train", TRAIN, "--limit", "256", "--pretrained", model, "--freeze-until", "MaxPool_14", "--mini-batch-size", "32", "--epochs", "1", "--json"])
        check(r.returncode == 0 and "trainable" in r.stderr,
              "fine-tuning the exported model with a frozen backbone runs (%s)" % r.stderr.strip().splitlines()[:1])
        # Magnitude-pruned, then fine-tuned: the pruned weights stay zero.
        pruned, tuned = os.path.join(WORK, "pruned.onnx"), os.path.join(WORK, "pruned_tuned.onnx")
        p = subprocess.run([LEDGE, "prune", model, "--method", "magnitude", "--sparsity", "0.6", "-o", pruned],
                           capture_output=True, text=True)
        check(p.returncode == 0, "ledge prune --method magnitude (%s)" % p.stderr.strip().splitlines()[-1:])
        if p.returncode == 0:
            r = train(["--train", TRAIN, "--limit", "512", "--pretrained", pruned, "--mini-batch-size", "32",
                       "--epochs", "1", "--learning-rate", "0.01", "-o", tuned])
            check(r.returncode == 0 and "stay zero while fine-tuning" in r.stderr,
                  "fine-tuning the pruned model keeps its zeros (%s)" %
                  [l for l in r.stderr.splitlines() if "zero" in l or "error" in l][:2])
            if r.returncode == 0:
                import onnx
                from onnx import numpy_helper
                def conv_weights(path):
                    m = onnx.load(path)
                    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
                    return [inits[n.input[1]] for n in m.graph.node if n.op_type == "Conv" and n.input[1] in inits]
                before, after = conv_weights(pruned), conv_weights(tuned)
                shared = [(b, a) for b, a in zip(before, after) if b.shape == a.shape and b.size >= 1024]
                check(len(shared) >= 2, "%d pruned conv layers found in the fine-tuned export" % len(shared))
                kept = all(np.array_equal(b == 0, a == 0) for b, a in shared)
                moved = any(not np.allclose(b, a) for b, a in shared)
                check(kept and moved, "the fine-tuned convs have zeros exactly where pruning put them, and the "
                      "other weights moved (sparsity %s)" % [round(float((a == 0).mean()), 3) for _, a in shared])
elif MODE == "groups":
    from PIL import Image
    names = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
             "Bag", "Ankle_boot"]
    x = (read_idx_images(TRAIN, 1200)[:, 0] * 255).round().astype(np.uint8)
    y = read_idx_labels(os.path.join(FMNIST, "train-labels-idx1-ubyte.gz"), 1200)
    xt = (read_idx_images(TEST, 300)[:, 0] * 255).round().astype(np.uint8)
    yt = read_idx_labels(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"), 300)
    tr, va = os.path.join(WORK, "subjects"), os.path.join(WORK, "three_classes")
    for i in range(len(x)):  # subject p<i % 6>: 200 images each
        d = os.path.join(tr, names[y[i]])
        os.makedirs(d, exist_ok=True)
        Image.fromarray(x[i]).save(os.path.join(d, "p%d_%04d.png" % (i % 6, i)))
    kept = [1, 7, 8]  # Trouser, Sneaker, Bag: sorted, they would be classes 0, 1, 2 on their own
    for i in range(len(xt)):
        if yt[i] in kept:
            d = os.path.join(va, names[yt[i]])
            os.makedirs(d, exist_ok=True)
            Image.fromarray(xt[i]).save(os.path.join(d, "%04d.png" % i))
    model = os.path.join(WORK, "subjects.onnx")
    common = ["--network", "lenet", "--mini-batch-size", "32", "--learning-rate", "0.05",
              "--augmentation-type", "none", "--seed", "2", "--epochs", "3", "--json"]
    r = train(["--train", tr, "--validation-group", "p([0-9]+)_", "--validation-fraction", "0.3",
               "-o", model] + common)
    check(r.returncode == 0, "training with a subject split runs (%s)" % r.stderr.strip().splitlines()[-1:])
    check("validation by subject (p([0-9]+)_): 400 samples, training 800" in r.stderr,
          "two whole subjects (400 images) go to validation: %s" %
          [l for l in r.stderr.splitlines() if "subject" in l])
    pre = os.path.splitext(model)[0] + ".preprocess.json"
    check(os.path.exists(pre) and json.load(open(pre)).get("image_shape") == "1,28,28",
          "the export carries %s with the input shape" % os.path.basename(pre))
    labels = os.path.splitext(model)[0] + ".labels.txt"
    check(os.path.exists(labels) and open(labels).read().split() == sorted(names),
          "the export carries the class names")
    r = train(["--train", tr, "--validation-group", "q[0-9]+"] + common)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and len(lines) == 1 and ".png" in lines[0],
          "a pattern that matches no sample fails with one line naming it (%s)" % lines)
    r = train(["--train", tr, "--validation", va] + common)
    ok = r.returncode == 0
    check(ok, "a 3-class validation folder is accepted (%s)" % r.stderr.strip().splitlines()[-1:])
    if ok:
        acc = last_json(r.stdout)["validation_accuracy"]
        check(acc >= 0.8, "it is scored on the training classes: accuracy %.3f >= 0.8 on "
              "Trouser/Sneaker/Bag (misaligned labels would score near 0)" % acc)
elif MODE == "mpi":
    import onnx
    from onnx import numpy_helper
    mpirun = os.environ.get("MPIEXEC", "mpirun")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               ASAN_OPTIONS="detect_leaks=0")
    for net in ("mlp", "lenet"):
        common = ["--train", TRAIN, "--limit", "1280", "--network", net, "--learning-rate", "0.05",
                  "--augmentation-type", "crop", "--seed", "5", "--epochs", "1", "--max-steps", "40",
                  "--threads", "1", "--num-classes", "10", "--image-shape", "1,28,28", "--json"]
        one, two = os.path.join(WORK, net + "_one.onnx"), os.path.join(WORK, net + "_two.onnx")
        r1 = subprocess.run([LEDGE, "train"] + common + ["--mini-batch-size", "32", "-o", one],
                            capture_output=True, text=True)
        r2 = subprocess.run([mpirun, "-np", "2", "--oversubscribe", "--bind-to", "none", "--mca", "btl",
                             "self,vader", "-x", "ASAN_OPTIONS", LEDGE, "train"] + common +
                            ["--mini-batch-size", "16", "-o", two], capture_output=True, text=True, env=env)
        check(r1.returncode == 0, "%s: one process trains (%s)" % (net, r1.stderr.strip().splitlines()[-1:]))
        check(r2.returncode == 0, "%s: two ranks train (%s)" % (net, r2.stderr.strip().splitlines()[-1:]))
        if r1.returncode or r2.returncode:
            continue
        s1, s2 = last_json(r1.stdout), last_json(r2.stdout)
        check(s1["steps"] == s2["steps"] == 40, "%s: 40 steps each" % net)
        w1 = {t.name: numpy_helper.to_array(t) for t in onnx.load(one).graph.initializer}
        w2 = {t.name: numpy_helper.to_array(t) for t in onnx.load(two).graph.initializer}
        check(w1.keys() == w2.keys(), "%s: same parameters" % net)
        worst = max(float(np.abs(w1[k] - w2[k]).max() / (np.abs(w1[k]).max() + 1e-12)) for k in w1)
        moved = max(float(np.abs(w1[k]).max()) for k in w1)
        print("%s: max relative weight difference %.3g" % (net, worst))
        check(worst < 1e-4 and moved > 0, "%s: 2 ranks x batch 16 == 1 process x batch 32 (%.2g)" % (net, worst))
else:
    sys.exit("unknown mode " + MODE)

print("%s: %d failure(s)" % (MODE, len(failures)))
sys.exit(1 if failures else 0)
