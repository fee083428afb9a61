#!/usr/bin/env python3
"""ab.py: A/B two builds of ledge on the same models, interleaved run by run.

Each build's bench/ledge_driver (see ledge_driver.c) loads the model once and
stays resident; the two are then driven in turns (1 unmeasured + K measured
runs per turn, the first of the pair alternating), so that load from other
work on a shared machine hits both alike. Prints per model the median and
minimum latency of each and the ratio B/A (below 1: B is faster).

  bench/ab.py --a /tmp/base/build/bench/ledge_driver --b build/bench/ledge_driver \\
      --threads 1 --rounds 15 resnet18 mobilenet_v2

A model is a path or the name of a file in .cache/networks/models/.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def model_path(name):
    if os.path.exists(name):
        return name
    return os.path.join(".cache", "networks", "models", name + ".onnx")


class Driver:
    def __init__(self, exe, model, threads, cpu=False):
        self.cpu = cpu
        self.p = subprocess.Popen([exe, model, "--threads", str(threads)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.ready = json.loads(self.p.stdout.readline())
        if "error" in self.ready:
            raise RuntimeError(f"{exe}: {self.ready['error']}")

    def run(self, k):
        self.p.stdin.write(f"run {k}\n")
        self.p.stdin.flush()
        reply = json.loads(self.p.stdout.readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["cpu_ms" if self.cpu else "times_ms"]

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        last = json.loads(self.p.stdout.readline())
        self.p.wait()
        return last.get("peak_rss_kb")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="ledge_driver of build A (the baseline)")
    ap.add_argument("--b", required=True, help="ledge_driver of build B")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15, help="turns per build (default 15)")
    ap.add_argument("--runs", type=int, default=1, help="measured runs per turn (default 1)")
    ap.add_argument("--cpu", action="store_true",
                    help="compare the process's CPU time per run instead of wall time (both builds "
                         "need a ledge_driver that reports cpu_ms): steadier on a loaded machine, "
                         "for 1-thread comparisons")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    results = []
    for name in args.models:
        path = model_path(name)
        da = Driver(args.a, path, args.threads, args.cpu)
        db = Driver(args.b, path, args.threads, args.cpu)
        ta, tb = [], []
        for r in range(args.rounds):
            order = [(da, ta), (db, tb)] if r % 2 == 0 else [(db, tb), (da, ta)]
            for d, acc in order:
                d.run(1)
                acc.extend(d.run(args.runs))
        rss_a, rss_b = da.close(), db.close()
        row = {"model": name, "threads": args.threads, "a_median_ms": statistics.median(ta),
               "b_median_ms": statistics.median(tb), "a_min_ms": min(ta), "b_min_ms": min(tb),
               "a_startup_ms": da.ready["startup_ms"], "b_startup_ms": db.ready["startup_ms"],
               "a_peak_rss_kb": rss_a, "b_peak_rss_kb": rss_b}
        row["ratio_median"] = row["b_median_ms"] / row["a_median_ms"]
        row["ratio_min"] = row["b_min_ms"] / row["a_min_ms"]
        results.append(row)
        if not args.json:
            print(f"{name:20s} {args.threads}t  A {row['a_median_ms']:8.3f} ms (min {row['a_min_ms']:8.3f})"
                  f"  B {row['b_median_ms']:8.3f} ms (min {row['b_min_ms']:8.3f})"
                  f"  B/A median {row['ratio_median']:.3f} min {row['ratio_min']:.3f}", flush=True)
    if args.json:
        print(json.dumps({"load": os.getloadavg(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
