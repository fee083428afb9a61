#!/usr/bin/python3
"""bench/pipeline: the driver monitor's CPU budget (issue 9).

Runs the cue-mode pipeline (apps/driver-monitor/cues.json's models and
schedule) on opencv-doc's Megamind.avi on ONE thread, as fast as it goes
(not paced to real time), and reports per-stage latency and the frames per
second it sustains:
  - every frame perceived, every detector on every frame (the worst case);
  - the default schedule: face + mesh + iris on every perceived frame, hands
    every 10th, pose every 5th, objects every 30th.
Runs are interleaved (R repetitions, medians). Writes a section between
markers into bench/RESULTS.md.

usage: bench/pipeline/run.py [--ledge build/bin/ledge] [--runs 3] [--frames 150]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLIP = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"


def run(ledge, frames, every):
    cfg = {"perception": "cues", "source": {"input": CLIP, "max_frames": frames},
           "schedule": {"mode": "fixed", "rate_hz": 0}, "threads": 1,
           "cues": {"calibration_s": 1, "hands_every": every[0], "pose_every": every[1],
                    "objects_every": every[2]},
           "sinks": {"events": "", "summary": False}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cfg, f)
    try:
        p = subprocess.run([ledge, "pipeline", "run", f.name, "--json"], capture_output=True, text=True,
                           check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    finally:
        os.unlink(f.name)
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ledge", default=os.path.join(ROOT, "build/bin/ledge"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench/RESULTS.md"))
    a = ap.parse_args()
    configs = {"every detector, every frame": (1, 1, 1), "default schedule": (10, 5, 30)}
    res = {k: [] for k in configs}
    for r in range(a.runs):
        for name, every in configs.items():
            res[name].append(run(a.ledge, a.frames, every))
            s = res[name][-1]
            print(f"run {r + 1}/{a.runs} {name}: {s['frames'] / s['wall_s']:.1f} frames/s")
    lines = ["<!-- bench/pipeline: begin -->",
             "## Driver monitor, cue mode, one thread (bench/pipeline)", "",
             f"`bench/pipeline/run.py --runs {a.runs} --frames {a.frames}`: the cue-mode pipeline on "
             f"Megamind.avi (720x528), {a.frames} frames, one thread, not paced; medians of {a.runs} "
             "interleaved runs. Target: >= 10 frames/s at the default schedule.", "",
             "| schedule | frames/s | face+mesh+iris ms | hands ms | pose ms | objects ms | mean per frame ms |",
             "|---|---|---|---|---|---|---|"]
    for name, every in configs.items():
        rs = res[name]
        fps = statistics.median(s["frames"] / s["wall_s"] for s in rs)
        st = {k: statistics.median(s["stages_ms"][k] for s in rs) for k in rs[0]["stages_ms"]}
        per = statistics.median(s["wall_s"] * 1000 / s["frames"] for s in rs)
        sched = "every frame" if every == (1, 1, 1) else f"hands 1/{every[0]}, pose 1/{every[1]}, objects 1/{every[2]}"
        lines.append(f"| {name} ({sched}) | {fps:.1f} | {st['face+mesh+iris']:.1f} | {st['hands']:.1f} | "
                     f"{st['pose']:.1f} | {st['objects']:.1f} | {per:.1f} |")
    lines += ["", "<!-- bench/pipeline: end -->"]
    section = "\n".join(lines) + "\n"
    print(section)
    text = open(a.results).read() if os.path.exists(a.results) else ""
    b, e = "<!-- bench/pipeline: begin -->", "<!-- bench/pipeline: end -->"
    if b in text and e in text:
        text = text[:text.index(b)] + section.rstrip("\n") + text[text.index(e) + len(e):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(a.results, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
