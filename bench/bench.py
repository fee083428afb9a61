#!/usr/bin/python3
"""bench/bench.py: ledge beside ONNX Runtime, in one run on one machine.

For every network and thread count it starts both runtimes as resident
processes (bench/ledge_driver and bench/ort_bench.js --serve), measures
their start-up (load + session creation), then interleaves them run by run:
each turn runs one runtime WARM unmeasured times and then one measured run,
and the next turn the other runtime, so that drift (frequency, the host's
other tenants, where the host placed the vCPUs) hits both alike. Medians of
RUNS measured runs each are reported, with the ratio ledge/ORT, GFLOP/s
achieved (2 x multiply-accumulates of conv and gemm / median latency), the
fraction of the measured FMA peak (bench/fma_peak), and, beside every
2-thread figure, the core-to-core cache-line round trip measured just before
(bench/c2c). Peak RSS of each process comes at the end of its life.

Writes bench/RESULTS.md, bench/results.json and bench/ratios.png (gnuplot).
Run through `make bench` (bench/run.sh); environment overrides:
  NETWORKS  space-separated names (default: the seven benchmark networks)
  THREADS   thread counts (default "1 2")
  RUNS      measured runs per runtime per configuration (default 20)
  WARM      unmeasured runs at the start of each turn (default 1)
  PROFILE   1 (default) adds ledge's per-op-type profile of every network
  IDLE      1 (default) runs bench/idle_cpu (pool CPU between requests)
  XNN       1 (default) adds XNNPACK (bench/xnn_bench) for resnet50 and mobilenet_v2
  GEMM      1 (default) runs bench/gemm_bench (resnet50 conv shapes vs OpenBLAS sgemm)
  BUDGET_S  seconds one network x thread count may take; fewer runs if the
            first round says it would take longer: never under 20 unless 20
            would take twice the budget, then at least 3 (default 120)
  TIMEOUT_S a runtime that does not answer within this is killed and the
            configuration reported as failed (default 300)
  TURN_GAP_S pause between turns, so that no runtime's spinning threads
            overlap another's run (default 0.1)
  OUT       directory for RESULTS.md, results.json, ratios.png (default bench/)
"""
import datetime
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_NETWORKS = ("resnet18 resnet50 mobilenet_v2 mobilenet_v3_small squeezenet1_1 "
                    "efficientnet_b0 inception_v3")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class Runtime:
    """A resident benchmark process speaking the run/quit line protocol."""

    def __init__(self, name, argv, timeout_s):
        self.name = name
        self.timeout_s = timeout_s
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, cwd=ROOT)
        self.ready = self._reply()
        self.wall_startup_ms = (time.monotonic() - t0) * 1e3
        if not self.ready.get("ready"):
            raise RuntimeError(f"{name}: {self.ready}")

    def _reply(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout_s)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{self.name}: no answer within {self.timeout_s:.0f} s; killed")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited (status {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.name}: {reply['error']}")
        return reply

    def run(self, k):
        self.proc.stdin.write(f"run {k}\n")
        return self._reply()["times_ms"]

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        reply = self._reply()
        self.proc.wait()
        return reply.get("peak_rss_kb", 0)


def run_json(argv, timeout=None):
    out = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT,
                         timeout=timeout).stdout
    return json.loads(out.strip().splitlines()[-1])


def median(v):
    return statistics.median(v) if v else float("nan")


def machine_description():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = {}
    for line in lscpu.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    flags = fields.get("Flags", "").split()
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni") if f in flags]
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cpu": fields.get("Model name", platform.processor()),
        "cpus": os.cpu_count(),
        "hypervisor": fields.get("Hypervisor vendor", "none"),
        "l2": fields.get("L2 cache", "?"), "l3": fields.get("L3 cache", "?"),
        "isa": " ".join(isa), "memory_gb": round(mem_kb / 1048576, 1),
        "kernel": platform.release(), "os": platform.freedesktop_os_release().get(
            "PRETTY_NAME", "?") if hasattr(platform, "freedesktop_os_release") else "?",
    }


def bench_pair(ledge_driver, model, threads, runs, warm, turn_gap_s, xnn=None, budget_s=120.0,
               timeout_s=300.0):
    """All runtimes resident; interleaved runs. Returns a result dict. When the
    first round shows that `runs` rounds would take more than budget_s, fewer
    rounds are run (at least 3) and the result says so."""
    starts = [("ledge", [ledge_driver, model, "--threads", str(threads)]),
              ("ort", ["node", os.path.join(ROOT, "bench/ort_bench.js"), model,
                       "--threads", str(threads), "--serve"])]
    if xnn:
        starts.append(("xnn", xnn + ["--threads", str(threads)]))
    procs = {}
    try:
        for name, argv in starts:
            procs[name] = Runtime(name, argv, timeout_s)
            time.sleep(turn_gap_s)
    except RuntimeError:
        for p in procs.values():
            p.proc.kill()
        raise
    order = [name for name, _ in starts]
    times = {name: [] for name in order}
    planned, i = runs, 0
    while i < runs:
        # Rotate who goes first, and reverse every other round.
        t_round = time.monotonic()
        turn = order[i % len(order):] + order[:i % len(order)]
        try:
            for name in (turn if i % 2 == 0 else turn[::-1]):
                got = procs[name].run(warm + 1)
                times[name].append(got[-1])
                time.sleep(turn_gap_s)
        except RuntimeError:
            for p in procs.values():
                p.proc.kill()
            raise
        if i == 0:
            per_round = time.monotonic() - t_round
            if per_round * runs > budget_s:
                # At least 20 rounds unless even 20 would take twice the budget.
                floor = min(runs, 20) if per_round * 20 <= 2 * budget_s else 3
                runs = max(floor, min(runs, int(budget_s / max(per_round, 1e-3))))
                log(f"  {per_round:.1f} s per round: {runs} rounds instead of {planned} (BUDGET_S={budget_s:.0f})")
        i += 1
    ready = {name: p.ready for name, p in procs.items()}
    rss = {name: p.close() for name, p in procs.items()}
    extra = {}
    if xnn:
        extra = {"xnn_ms": median(times["xnn"]), "xnn_times": times["xnn"],
                 "xnn_startup_ms": ready["xnn"]["startup_ms"], "xnn_peak_rss_kb": rss["xnn"],
                 "xnn_macs": ready["xnn"].get("macs")}
    return {**extra, 
        "threads": threads, "runs": runs, "planned_runs": planned, "warm": warm,
        "ledge_ms": median(times["ledge"]), "ort_ms": median(times["ort"]),
        "ledge_times": times["ledge"], "ort_times": times["ort"],
        "macs": ready["ledge"]["macs"],
        "ledge_startup_ms": ready["ledge"]["startup_ms"],
        "ledge_load_ms": ready["ledge"]["load_ms"],
        "ort_startup_ms": ready["ort"]["startup_ms"],
        "ledge_peak_rss_kb": rss["ledge"], "ort_peak_rss_kb": rss["ort"],
        "node_rss_before_load_kb": ready["ort"].get("node_rss_before_load_kb", 0),
        "ledge_version": ready["ledge"].get("version"), "ort_version": ready["ort"].get("version"),
    }


def profile(ledge, model, timeout_s):
    try:
        j = run_json([ledge, "bench", model, "--threads", "1", "--runs", "3", "--warmup", "1",
                      "--profile", "--json"], timeout=timeout_s)
        return j.get("profile")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        log(f"profile of {model} failed: {e}")
        return None


def write_chart(results, networks, thread_counts, out_png):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        log("gnuplot not found: no chart (apt-get install gnuplot-nox)")
        return False
    data = out_png + ".dat"
    with open(data, "w") as f:
        f.write("# network " + " ".join(f"t{t}" for t in thread_counts) + "\n")
        for n in networks:
            vals = []
            for t in thread_counts:
                r = results.get(f"{n}/{t}")
                vals.append(f"{r['ledge_ms'] / r['ort_ms']:.4f}" if r else "NaN")
            f.write(n + " " + " ".join(vals) + "\n")
    plots = ", ".join(
        f"'{data}' using {i + 2}:xtic(1) title '{t} thread{'s' if t > 1 else ''}'"
        for i, t in enumerate(thread_counts))
    script = f"""
set terminal pngcairo size 1000,520 font 'sans,10' noenhanced
set output '{out_png}'
set title 'ledge / ONNX Runtime batch-1 latency (median; below 1 = ledge faster)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left
set yrange [0:*]
set grid ytics
set ylabel 'latency ratio ledge / ORT'
set xtics rotate by -25
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb '#c00000' front
plot {plots}
"""
    subprocess.run([gnuplot], input=script, text=True, check=True)
    os.remove(data)
    return True


def main():
    ledge = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/bin/ledge"))
    bench_bin = os.path.join(os.path.dirname(os.path.dirname(ledge)), "bench")
    driver = os.path.join(bench_bin, "ledge_driver")
    cache = os.environ.get("LEDGE_CACHE", os.path.join(ROOT, ".cache/networks"))
    networks = os.environ.get("NETWORKS", DEFAULT_NETWORKS).split()
    thread_counts = [int(t) for t in os.environ.get("THREADS", "1 2").split()]
    runs = int(os.environ.get("RUNS", "20"))
    warm = int(os.environ.get("WARM", "1"))
    do_profile = os.environ.get("PROFILE", "1") == "1"
    do_idle = os.environ.get("IDLE", "1") == "1"
    do_xnn = os.environ.get("XNN", "1") == "1"
    out_dir = os.path.abspath(os.environ.get("OUT", os.path.join(ROOT, "bench")))
    os.makedirs(out_dir, exist_ok=True)
    # A pause between turns longer than any pool's spin after a run (ledge:
    # 4 ms; ONNX Runtime's and XNNPACK's spin several ms), so that each turn
    # starts with the other runtimes' threads asleep. With 5 ms, ORT's
    # still-spinning workers took the second core from ledge's 2-thread runs
    # (mobilenet_v2: 10.4 ms measured against 5.9 ms with a 100 ms pause).
    turn_gap_s = float(os.environ.get("TURN_GAP_S", "0.1"))
    budget_s = float(os.environ.get("BUDGET_S", "120"))
    timeout_s = float(os.environ.get("TIMEOUT_S", "300"))
    started = time.monotonic()

    machine = machine_description()
    load_start = os.getloadavg()
    log(f"machine: {machine['cpu']}, {machine['cpus']} CPUs ({machine['isa']})")
    fma = run_json([os.path.join(bench_bin, "fma_peak"), "--json", "--threads", str(max(thread_counts))])
    log(f"FMA peak {fma['peak_gflops_per_core']:.1f} GFLOP/s per core ({fma['peak_isa']})")

    results, c2c, failures = {}, {}, {}
    for n in networks:
        model = os.path.join(cache, "models", n + ".onnx")
        for t in thread_counts:
            if t > 1:
                c2c[f"{n}/{t}"] = run_json([os.path.join(bench_bin, "c2c"), "--json"])
            log(f"{n}, {t} thread{'s' if t > 1 else ''}: {runs} interleaved runs each")
            xnn_bin = os.path.join(bench_bin, "xnn_bench")
            xnn = ([xnn_bin, n] if do_xnn and n in ("resnet50", "mobilenet_v2") and os.path.exists(xnn_bin)
                   else None)
            try:
                r = bench_pair(driver, model, t, runs, warm, turn_gap_s, xnn, budget_s, timeout_s)
            except RuntimeError as e:
                log(f"{n}/{t} failed: {e}")
                failures[f"{n}/{t}"] = str(e)
                continue
            r["c2c_ns"] = c2c.get(f"{n}/{t}", {}).get("round_trip_ns")
            r["c2c_best_ns"] = c2c.get(f"{n}/{t}", {}).get("best_ns")
            results[f"{n}/{t}"] = r
            log(f"  ledge {r['ledge_ms']:.2f} ms, ORT {r['ort_ms']:.2f} ms, "
                f"ratio {r['ledge_ms'] / r['ort_ms']:.3f}" +
                (f", XNNPACK {r['xnn_ms']:.2f} ms" if "xnn_ms" in r else ""))
    profiles = {}
    if do_profile:
        for n in networks:
            if any(k.startswith(n + "/") for k in failures):
                continue
            p = profile(ledge, os.path.join(cache, "models", n + ".onnx"), timeout_s)
            if p:
                profiles[n] = p
    idle = None
    if do_idle:
        idle_model = os.path.join(cache, "models", "mobilenet_v2.onnx")
        if os.path.exists(idle_model):
            log("idle CPU between requests (bench/idle_cpu, mobilenet_v2, 2 threads, 6 requests/s)")
            try:
                idle = run_json([os.path.join(bench_bin, "idle_cpu"), idle_model, "--threads", "2",
                                 "--json"], timeout=timeout_s)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                log(f"idle_cpu failed: {e}")
    gemm = {}
    if os.environ.get("GEMM", "1") == "1":
        for t in thread_counts:
            log(f"conv/GEMM throughput vs OpenBLAS (bench/gemm_bench), {t} thread(s)")
            try:
                gemm[t] = run_json([os.path.join(bench_bin, "gemm_bench"), "--json", "--threads", str(t),
                                    "--peak", str(fma["peak_gflops_per_core"])], timeout=timeout_s)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                log(f"gemm_bench failed: {e}")
    fma_end = run_json([os.path.join(bench_bin, "fma_peak"), "--json", "--threads", str(max(thread_counts))])
    elapsed = time.monotonic() - started

    any_r = next(iter(results.values()), {})
    info = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
        "machine": machine, "fma": fma, "fma_end": fma_end, "elapsed_s": elapsed,
        "ledge_version": any_r.get("ledge_version"), "ort_version": any_r.get("ort_version"),
        "git": subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=ROOT).stdout.strip(),
        "settings": {"networks": networks, "threads": thread_counts, "runs": runs, "warm": warm},
    }
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"info": info, "results": results, "profiles": profiles, "idle": idle,
                   "gemm": gemm, "failures": failures}, f, indent=1)
    chart = write_chart(results, networks, thread_counts, os.path.join(out_dir, "ratios.png"))
    write_markdown(os.path.join(out_dir, "RESULTS.md"), info, results, profiles, idle, networks,
                   thread_counts, chart, gemm, failures)
    log(f"wrote {os.path.join(out_dir, 'RESULTS.md')} in {elapsed:.0f} s")


def fmt(v, spec=".2f"):
    return "–" if v is None or v != v else format(v, spec)


def c2c_cell(r):
    """median / best of the batches: the best is the hardware, the median
    also shows the other tenants."""
    if r.get("c2c_ns") is None:
        return "–"
    return f"{fmt(r.get('c2c_ns'), '.0f')} / {fmt(r.get('c2c_best_ns'), '.0f')}"


def write_markdown(path, info, results, profiles, idle, networks, thread_counts, chart, gemm, failures):
    m, fma = info["machine"], info["fma"]
    peak1 = max(fma["peak_gflops_per_core"], info["fma_end"]["peak_gflops_per_core"])
    s = info["settings"]
    L = []
    L.append("# ledge vs ONNX Runtime: benchmark results\n")
    dirty = (" (`-dirty`: the working tree had uncommitted changes, e.g. kernels in progress)"
             if info["git"].endswith("-dirty") else "")
    L.append(f"Measured {info['date']} at commit `{info['git']}`{dirty} by `make bench` "
             f"({info['elapsed_s'] / 60:.1f} minutes). Reproduce with:\n")
    env = f"RUNS={s['runs']} WARM={s['warm']} THREADS=\"{' '.join(map(str, s['threads']))}\""
    L.append(f"```\n{env} make bench\n```\n")
    L.append(f"- Machine: {m['cpu']}, {m['cpus']} CPUs (hypervisor: {m['hypervisor']}), "
             f"L2 {m['l2']}, L3 {m['l3']}, {m['memory_gb']} GB, {m['os']}, Linux {m['kernel']}; "
             f"ISA {m['isa']}.")
    L.append(f"- ledge {info['ledge_version']} vs onnxruntime-node {info['ort_version']} (CPU execution "
             "provider, all graph optimizations, intra-op threads = N, sequential).")
    L.append(f"- Batch 1, random input. Both runtimes resident at once and interleaved run by run "
             f"({s['warm']} unmeasured + 1 measured run per turn, alternating which goes first); "
             f"medians of {s['runs']} measured runs each.")
    la0, la1 = info["loadavg_start"], info["loadavg_end"]
    # The benchmark itself keeps up to all CPUs busy (2-thread runs): only
    # load beyond the CPU count means other work shared the machine.
    busy = max(la0[0], la1[0]) > m["cpus"] + 0.5
    L.append(f"- Load average (1/5/15 min) at the start {la0[0]:.2f}/{la0[1]:.2f}/{la0[2]:.2f}, at the end "
             f"{la1[0]:.2f}/{la1[1]:.2f}/{la1[2]:.2f}" +
             (f": **the machine was busy with other work** ({m['cpus']} CPUs), so absolute times and "
              "2-thread figures are inflated; the interleaved ratios are the meaningful numbers." if busy
              else "."))
    isa_parts = [f"{k} {v['gflops_1_core']:.1f}" for k, v in fma.items()
                 if isinstance(v, dict) and "gflops_1_core" in v]
    L.append(f"- FMA peak (bench/fma_peak, fp32, one core): {', '.join(isa_parts)} GFLOP/s; "
             f"at the end of the run {info['fma_end']['peak_gflops_per_core']:.1f} GFLOP/s; the peak used "
             f"below is the higher of the two: {peak1:.1f} GFLOP/s per core.")
    L.append("- ratio = ledge / ORT median latency: below 1 means ledge is faster. GFLOP/s = 2 x the "
             "model's conv/gemm multiply-accumulates / median latency; % peak = GFLOP/s / "
             "(FMA peak per core x threads). c2c = core-to-core cache-line round trip (bench/c2c) "
             "measured just before the 2-thread runs of that network, median / best of 15 batches in ns (the "
             "best is the hardware; a much higher median means the vCPUs were being descheduled).\n")
    if chart:
        L.append("![latency ratio ledge/ORT](ratios.png)\n")
    for t in thread_counts:
        L.append(f"## Latency, {t} thread{'s' if t > 1 else ''}\n")
        c2c_head = " c2c ns median / best |" if t > 1 else ""
        L.append("| network | GMACs | ledge ms | ORT ms | ratio | ledge GFLOP/s | ledge % peak "
                 f"| ORT GFLOP/s | ORT % peak |{c2c_head}")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if t > 1 else ""))
        for n in networks:
            r = results.get(f"{n}/{t}")
            if not r:
                L.append(f"| {n} | failed: {failures.get(f'{n}/{t}', '?')} |")
                continue
            gf_l = 2 * r["macs"] / (r["ledge_ms"] * 1e6)
            gf_o = 2 * r["macs"] / (r["ort_ms"] * 1e6)
            fewer = f" ({r['runs']} runs)" if r["runs"] < r.get("planned_runs", r["runs"]) else ""
            row = (f"| {n}{fewer} | {r['macs'] / 1e9:.2f} | {r['ledge_ms']:.2f} | {r['ort_ms']:.2f} | "
                   f"**{r['ledge_ms'] / r['ort_ms']:.2f}** | {gf_l:.1f} | {100 * gf_l / (peak1 * t):.0f}% | "
                   f"{gf_o:.1f} | {100 * gf_o / (peak1 * t):.0f}% |")
            if t > 1:
                row += f" {c2c_cell(r)} |"
            L.append(row)
        L.append("")
    if len(thread_counts) > 1 and 1 in thread_counts:
        L.append("## Scaling: throughput with N threads / with 1 thread\n")
        others = [t for t in thread_counts if t != 1]
        L.append("| network | " + " | ".join(f"ledge x{t} | ORT x{t} | c2c ns" for t in others) + " |")
        L.append("|---|" + "---:|---:|---:|" * len(others))
        for n in networks:
            r1 = results.get(f"{n}/1")
            cells = []
            for t in others:
                rt = results.get(f"{n}/{t}")
                if r1 and rt:
                    cells.append(f"{r1['ledge_ms'] / rt['ledge_ms']:.2f} | {r1['ort_ms'] / rt['ort_ms']:.2f} | "
                                 f"{c2c_cell(rt)}")
                else:
                    cells.append("– | – | –")
            L.append(f"| {n} | " + " | ".join(cells) + " |")
        L.append("")
    xrows = [(k, r) for k, r in results.items() if "xnn_ms" in r]
    if xrows:
        L.append("## Second peer: XNNPACK (resnet50, mobilenet_v2)\n")
        L.append("XNNPACK (Debian libxnnpack-dev, the CPU engine of TensorFlow Lite) through its subgraph "
                 "API (bench/xnn_bench): the same architecture built layer by layer (batch norm folded, "
                 "ReLU/ReLU6 fused, NHWC) with random weights; its multiply-accumulate count is checked "
                 "against ledge's. Interleaved with the other two in the same turns. "
                 "best peer = the faster of ORT and XNNPACK.\n")
        L.append("| network | threads | ledge ms | ORT ms | XNNPACK ms | ledge / best peer | "
                 "XNNPACK / ORT | MACs match | c2c ns |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---|---:|")
        for k, r in xrows:
            best = min(r["ort_ms"], r["xnn_ms"])
            L.append(f"| {k.split('/')[0]} | {r['threads']} | {r['ledge_ms']:.2f} | {r['ort_ms']:.2f} | "
                     f"{r['xnn_ms']:.2f} | **{r['ledge_ms'] / best:.2f}** | {r['xnn_ms'] / r['ort_ms']:.2f} | "
                     f"{'yes' if r.get('xnn_macs') == r['macs'] else 'no (%s)' % r.get('xnn_macs')} | "
                     f"{c2c_cell(r) if r['threads'] > 1 else '–'} |")
        L.append("")
    L.append("## Start-up and memory\n")
    L.append("Start-up = model load + session creation (ledge: load, plan, pack; ORT: "
             "`InferenceSession.create`), median over the thread counts. Peak RSS is the whole process "
             "at exit, for the largest thread count; ORT's includes node itself (about "
             f"{fmt(median([r['node_rss_before_load_kb'] for r in results.values()]) / 1024, '.0f')} MB "
             "before the model is loaded).\n")
    L.append("| network | ledge start-up ms | ORT start-up ms | ratio | ledge peak RSS MB | ORT peak RSS MB "
             "| ratio |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for n in networks:
        rs = [results[f"{n}/{t}"] for t in thread_counts if f"{n}/{t}" in results]
        if not rs:
            continue
        ls, os_ = median([r["ledge_startup_ms"] for r in rs]), median([r["ort_startup_ms"] for r in rs])
        lr, orr = rs[-1]["ledge_peak_rss_kb"] / 1024, rs[-1]["ort_peak_rss_kb"] / 1024
        L.append(f"| {n} | {ls:.1f} | {os_:.1f} | {ls / os_:.2f} | {lr:.1f} | {orr:.1f} | {lr / orr:.2f} |")
    L.append("")
    if profiles:
        L.append("## Where ledge's time goes (1 thread, `ledge bench MODEL --profile`)\n")
        L.append("Top op types by share of the summed node time, and the conv/gemm kernels that ran "
                 "(algorithm/ISA: nodes, share, GFLOP/s).\n")
        L.append("| network | op types | conv/gemm kernels |")
        L.append("|---|---|---|")
        for n in networks:
            p = profiles.get(n)
            if not p:
                continue
            ops = ", ".join(f"{o['op_type']} {o['percent']:.0f}%" for o in p["op_types"][:4])
            ks = ", ".join(f"{k['kernel']}: {k['nodes']}, {k['percent']:.0f}%, {k['gflops']:.0f}"
                           for k in p["kernels"][:4])
            L.append(f"| {n} | {ops} | {ks} |")
        L.append("")
    if idle:
        L.append("## Idle cost of the thread pool (bench/idle_cpu)\n")
        L.append(f"mobilenet_v2, {idle['threads']} threads, {idle['rate']:.0f} requests per second, "
                 f"{idle['requests']} requests per pool setting in interleaved phases. Idle CPU = CPU time "
                 "of the whole process from 5 ms after a request ends until the next one starts, as a "
                 "share of one core.\n")
        L.append("| pool | median latency ms | idle CPU % (median) | idle CPU % (max) | CPU % in the first 5 ms "
                 "| gaps measured (skipped: request overran its slot) |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for k in ("default", "spinning", "no-spin"):
            v = idle[k]
            L.append(f"| {k} | {v['median_latency_ms']:.2f} | {v['idle_cpu_percent']:.3f} | "
                     f"{v['idle_cpu_percent_max']:.3f} | {v['first_5ms_cpu_percent']:.1f} | "
                     f"{v.get('gaps_measured', '?')} ({v.get('gaps_skipped', 0)}) |")
        L.append(f"\nDefault vs always-spinning latency: {idle['latency_ratio_default_vs_spinning']:.3f} "
                 "(target ≤ 1.10); default idle CPU under 1% of a core: "
                 f"{'met' if idle['default']['idle_cpu_percent'] < 1 else 'NOT met'}.\n")
    if gemm:
        L.append("## Convolution throughput beside OpenBLAS sgemm (bench/gemm_bench)\n")
        L.append("resnet50's large layers as one-node ledge models (Conv, NCHW, batch 1, weights packed at "
                 "session creation) and OpenBLAS `cblas_sgemm` on the equivalent GEMM (M = output "
                 "channels, N = pixels, K = input channels x kernel area; no im2col for OpenBLAS). "
                 "GFLOP/s are real flops of the convolution (Winograd layers count as direct); "
                 "% = of the FMA peak per core x threads. Median of 5 interleaved rounds.\n")
        ts = sorted(gemm)
        L.append("| layer | M | N | K | " + " | ".join(f"ledge {t}t | OpenBLAS {t}t" for t in ts) + " |")
        L.append("|---|---:|---:|---:|" + "---:|---:|" * len(ts))
        cases = gemm[ts[0]]["cases"]
        for i, c in enumerate(cases):
            cells = []
            for t in ts:
                ci = gemm[t]["cases"][i]
                blas = (f"{ci['openblas_gflops']:.1f} ({100 * ci['openblas_peak_fraction']:.0f}%)"
                        if gemm[t].get("openblas") else "–")
                cells.append(f"{ci['ledge_gflops']:.1f} ({100 * ci['ledge_peak_fraction']:.0f}%) | {blas}")
            L.append(f"| {c['layer']} | {c['m']} | {c['n']} | {c['k']} | " + " | ".join(cells) + " |")
        L.append("")
    L.append("Raw numbers (every measured run) are in `bench/results.json`.")
    L.extend(kept_sections(path, L))
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def kept_sections(path, lines):  # noqa: ARG001 (lines: what this run wrote)
    """The "## " sections of the existing RESULTS.md that this script does not
    write (other benchmarks record theirs in the same file: ledge serve, TF.js,
    the kernel A/B figures), so that a new run keeps them, after its own."""
    try:
        with open(path) as f:
            old = f.read().split("\n")
    except OSError:
        return []
    own = ("## Latency, ", "## Scaling:", "## Second peer:", "## Start-up and memory",
           "## Where ledge's time goes", "## Idle cost of the thread pool",
           "## Convolution throughput beside OpenBLAS")
    # A "<!-- NAME: begin -->" marker line (other scripts replace their
    # section between markers) belongs to the section that follows it.
    kept, keep, marker = [], False, None
    for line in old:
        if line.startswith("<!--") and "begin" in line:
            marker = line
            continue
        if line.startswith("## "):
            keep = not line.startswith(own)
            if keep and marker:
                kept.append(marker)
            marker = None
        elif line.startswith("Raw numbers (every measured run)"):
            keep = False
            continue
        elif marker is not None and line.strip():
            if keep:  # a marker not followed by a heading: keep it where it was
                kept.append(marker)
            marker = None
        if keep:
            kept.append(line)
    return [""] + kept if kept else []


if __name__ == "__main__":
    main()
