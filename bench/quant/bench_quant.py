#!/usr/bin/python3
"""bench/quant/bench_quant.py: int8 against float, ledge against ONNX Runtime.

For each network (torchvision exports in .cache/networks/models, made by
tests/networks/export_models.py):
  1. `ledge quantize` it (per-channel int8 weights, minmax, calibration on
     half of the real photos Debian ships in opencv-doc and python3-skimage,
     the other half held out) into a QDQ ONNX model; its --report gives
     top-1 agreement and output SQNR against float on the held-out photos;
  2. time, interleaved round by round at 1 thread (wall median of RUNS runs,
     and CPU time per run, which a shared machine disturbs less): ledge fp32, ledge int8 (the
     QDQ model folded onto the int8 kernels), ONNX Runtime fp32 and ONNX
     Runtime on the very same QDQ model (bench/ort_bench.js: all graph
     optimizations, which fuse QDQ into its int8 kernels). Each timing is the
     median of RUNS runs; the table reports the median over ROUNDS rounds.
Writes OUT/quant.json and prints a Markdown table for bench/RESULTS.md.

Usage: bench/quant/bench_quant.py [--ledge build/bin/ledge] [--networks resnet50 mobilenet_v2]
         [--rounds 5] [--runs 5] [--samples 64] [--out /tmp/ledge-quant]
"""
import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ap = argparse.ArgumentParser()
ap.add_argument("--ledge", default=os.path.join(ROOT, "build/bin/ledge"))
ap.add_argument("--networks", nargs="+", default=["resnet50", "mobilenet_v2"])
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--samples", type=int, default=64)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--cache", default=os.path.join(ROOT, ".cache/networks"))
ap.add_argument("--out", default="/tmp/ledge-quant")
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)

# Real photos: every JPEG/PNG of opencv-doc's samples and skimage's data.
photos = sorted(glob.glob("/usr/share/doc/opencv-doc/examples/data/*.jpg") +
                glob.glob("/usr/share/doc/opencv-doc/examples/data/*.png") +
                glob.glob("/usr/lib/python3/dist-packages/skimage/data/*.png"))
photos = [p for p in photos if os.path.getsize(p) > 2000]
if len(photos) < 10:
    sys.exit("bench_quant: the sample photos of opencv-doc / python3-skimage are missing")
calib_dir, eval_dir = os.path.join(args.out, "calibration"), os.path.join(args.out, "evaluation")
for d in (calib_dir, eval_dir):
    os.makedirs(d, exist_ok=True)
    for f in glob.glob(os.path.join(d, "*")):
        os.remove(f)
for i, p in enumerate(photos):
    d = calib_dir if i % 2 == 0 else eval_dir
    os.symlink(p, os.path.join(d, "%03d_%s" % (i, os.path.basename(p))))


def cpu_seconds(cmd, env=None):
    """Runs cmd; returns (stdout, CPU seconds it used, user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return p.stdout, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(cmd_for_runs, parse, env=None):
    """Wall median of args.runs runs (parse(stdout)), and the CPU time of one
    run: the difference between a process doing 1 + args.runs runs and one
    doing 1 run, divided by args.runs. On a shared machine the CPU time is
    the steadier measure (time the process waits for a core is not in it)."""
    out, cpu_long = cpu_seconds(cmd_for_runs(args.runs), env)
    _, cpu_short = cpu_seconds(cmd_for_runs(1), env)
    return parse(out), 1000.0 * (cpu_long - cpu_short) / max(args.runs - 1, 1)


def ledge_ms(model):
    return timed(lambda runs: [args.ledge, "bench", model, "--threads", str(args.threads), "--runs", str(runs),
                               "--warmup", "1", "--json"], lambda out: json.loads(out)["median_ms"])


def ort_ms(model):
    return timed(lambda runs: ["node", os.path.join(ROOT, "bench/ort_bench.js"), model, "--threads",
                               str(args.threads), "--runs", str(runs)],
                 lambda out: json.loads(out.strip().splitlines()[-1])["median_ms"],
                 env=dict(os.environ, ORT_LOGGING_LEVEL="3"))


results = []
for net in args.networks:
    fp32 = os.path.join(args.cache, "models", net + ".onnx")
    qdq = os.path.join(args.out, net + "_int8_qdq.onnx")
    p = subprocess.run([args.ledge, "quantize", fp32, "--calibration", calib_dir, "--samples", str(args.samples),
                        "--per-channel", "-o", qdq, "--report", "--eval", eval_dir, "--report-samples", "1000",
                        "--json"], capture_output=True, text=True)
    if p.returncode:
        sys.exit("bench_quant: ledge quantize %s failed: %s" % (net, p.stderr.strip()))
    q = json.loads(p.stdout)
    times = {"ledge_fp32": [], "ledge_int8": [], "ort_fp32": [], "ort_int8_qdq": []}
    cpu = {k: [] for k in times}
    for r in range(args.rounds):
        for key, fn, model in (("ledge_fp32", ledge_ms, fp32), ("ledge_int8", ledge_ms, qdq),
                               ("ort_fp32", ort_ms, fp32), ("ort_int8_qdq", ort_ms, qdq)):
            wall, c = fn(model)
            times[key].append(wall)
            cpu[key].append(c)
        print("%s round %d: wall %s cpu %s" % (net, r + 1, {k: round(v[-1], 2) for k, v in times.items()},
                                               {k: round(v[-1], 2) for k, v in cpu.items()}), file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    rep = q["report"]
    results.append({"network": net, "median_ms": med, "times_ms": times, "cpu_ms": med_cpu, "cpu_times_ms": cpu,
                    "cpu_speedup_vs_ledge_fp32": med_cpu["ledge_fp32"] / med_cpu["ledge_int8"],
                    "cpu_ratio_to_ort_qdq": med_cpu["ledge_int8"] / med_cpu["ort_int8_qdq"],
                    "quantized_layers": q["quantized_layers"],
                    "calibration_samples": q["samples"], "eval_samples": rep["samples"],
                    "top1_agreement": rep["top1_agreement"], "output_sqnr_db": rep["output_sqnr_db"],
                    "speedup_vs_ledge_fp32": med["ledge_fp32"] / med["ledge_int8"],
                    "ratio_to_ort_qdq": med["ledge_int8"] / med["ort_int8_qdq"]})

with open(os.path.join(args.out, "quant.json"), "w") as f:
    json.dump({"threads": args.threads, "rounds": args.rounds, "runs": args.runs, "results": results}, f, indent=1)

print("| network | measure | ledge fp32 | ledge int8 | int8 speedup | ORT fp32 | ORT int8 (same QDQ) | ledge int8 / ORT int8 |")
print("|---|---|---|---|---|---|---|---|")
for r in results:
    for label, m, sp, ratio in (("wall ms (median)", r["median_ms"], r["speedup_vs_ledge_fp32"], r["ratio_to_ort_qdq"]),
                                ("CPU ms per run", r["cpu_ms"], r["cpu_speedup_vs_ledge_fp32"], r["cpu_ratio_to_ort_qdq"])):
        print("| %s | %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2f |" % (
            r["network"], label, m["ledge_fp32"], m["ledge_int8"], sp, m["ort_fp32"], m["ort_int8_qdq"], ratio))
print()
print("| network | quantized convolutions | top-1 agreement with fp32 | output SQNR |")
print("|---|---|---|---|")
for r in results:
    print("| %s | %d | %.0f%% (%d held-out photos) | %.1f dB |" % (
        r["network"], r["quantized_layers"], 100 * r["top1_agreement"], r["eval_samples"], r["output_sqnr_db"]))
