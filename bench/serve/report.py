#!/usr/bin/python3
"""bench/serve/report.py WORK MODEL COMMAND OUT_DIR RESULTS_MD: turns the raw
outputs of bench/serve/run.sh into bench/serve/RESULTS.md, results.json, and the
"ledge serve" section of bench/RESULTS.md (between the serve markers)."""
import json
import os
import re
import subprocess
import sys
import time

work, model, command, out_dir, results_md = sys.argv[1:6]
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def parse_wrk(path):
    t = open(path).read()
    r = {"raw": t}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", t)
    r["requests"] = int(m.group(1)) if m else 0
    r["duration_s"] = ms(m.group(2) + m.group(3)) / 1e3 if m else float("nan")
    m = re.search(r"Requests/sec:\s+([\d.]+)", t)
    r["rps"] = float(m.group(1)) if m else 0.0
    for q in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % q, t, re.M)
        r["p" + q + "_ms"] = ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    # 503s are answered at once and wrk counts them as requests: throughput is the 2xx
    r["ok_rps"] = (r["requests"] - r["non2xx"]) / r["duration_s"] if r["duration_s"] > 0 else 0.0
    return r


def metric_total(path, name, label_filter=""):
    total = 0.0
    if not os.path.exists(path):
        return total
    for line in open(path):
        if line.startswith(name + "{") and label_filter in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


bare = json.load(open(os.path.join(work, "bare.json")))
bare1 = json.load(open(os.path.join(work, "bare1.json")))
bare_rps = 1000.0 / bare["median_ms"]
bare1_rps = 1000.0 / bare1["median_ms"]
conns = sorted(int(f[4:-4]) for f in os.listdir(work) if re.match(r"wrk_\d+\.txt$", f))
runs = {c: parse_wrk(os.path.join(work, f"wrk_{c}.txt")) for c in conns}
for c in conns:
    runs[c]["loadavg"] = open(os.path.join(work, f"load_{c}.txt")).read().split()[:3]
soak = parse_wrk(os.path.join(work, "wrk_soak.txt"))
rss = [tuple(map(int, l.split())) for l in open(os.path.join(work, "rss.txt")) if len(l.split()) == 2]
served_200 = metric_total(os.path.join(work, "metrics_soak.txt"), "ledge_requests_total", 'code="200"')
served_503 = metric_total(os.path.join(work, "metrics_soak.txt"), "ledge_requests_total", 'code="503"')
served_all = metric_total(os.path.join(work, "metrics_soak.txt"), "ledge_requests_total")
wrk_total = sum(r["requests"] for r in runs.values()) + soak["requests"]

mqtt_ids = []
if os.path.exists(os.path.join(work, "mqtt_replies.txt")):
    for line in open(os.path.join(work, "mqtt_replies.txt")):
        try:
            j = json.loads(line)
            mqtt_ids.append((j["id"], j["code"]))
        except ValueError:
            pass
t0, t1 = map(float, open(os.path.join(work, "mqtt_time.txt")).read().split())
mqtt_n = len(open(os.path.join(work, "stream.txt")).readlines())
mqtt_unique = len({i for i, _ in mqtt_ids})
mqtt_ok = sum(1 for _, c in mqtt_ids if c == 200)

best = max(runs.values(), key=lambda r: r["ok_rps"]) if runs else {"ok_rps": 0}
ratio = best["ok_rps"] / bare_rps if bare_rps else float("nan")
ratio1 = best["ok_rps"] / (2 * bare1_rps) if bare1_rps else float("nan")
git = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                     cwd=out_dir).stdout.strip()
cpus = os.cpu_count()
stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

L = []
# wrk and the server share the machine's CPUs by design; load beyond the CPU
# count means other jobs ran too.
peak_load = max((float(r["loadavg"][0]) for r in runs.values()), default=0.0)
if peak_load > cpus + 1:
    setting = (f"**shared with other jobs** (1-minute load average up to {peak_load:.1f}): absolute "
               "numbers are depressed and noisy; the ratio to the bare runtime measured in the same "
               "minutes is the meaningful figure")
else:
    setting = (f"with nothing else running (1-minute load average at most {peak_load:.1f}: the "
               "server and wrk themselves)")
L.append(f"Measured {stamp} at commit `{git}` on this {cpus}-CPU machine, {setting}. Load averages "
         "per run are in the table. Reproduce with:\n")
L.append("```\n" + command + "\n```\n")
L.append(f"Model `{model}` (ImageNet preprocessing from a sidecar: resize 256, crop 224, mean/std), "
         f"a 512x512 JPEG photo (scikit-image's astronaut, quality 90) POSTed as `image/jpeg` to "
         f"`/invocations`; the server decodes, resizes, crops, normalizes, runs and answers the "
         f"1000 probabilities as JSON. `ledge serve --threads 2` (2 worker sessions, 1 thread each, "
         f"queue 8); wrk with 1 thread on the same machine.\n")
L.append(f"Bare runtime, same minutes: `ledge bench {model} --threads 2` median "
         f"{bare['median_ms']:.1f} ms = **{bare_rps:.1f} inferences/s**; `--threads 1` median "
         f"{bare1['median_ms']:.1f} ms ({bare1_rps:.1f}/s per session).\n")
L.append("| connections | answered 200/s | p50 ms | p99 ms | requests | non-2xx (all 503) | socket errors | 200/s / bare 2-thread | load avg 1/5/15 |")
L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for c in conns:
    r = runs[c]
    L.append(f"| {c} | {r['ok_rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['requests']} | {r['non2xx']} | "
             f"{r['socket_errors']} | {r['ok_rps'] / bare_rps:.2f} | {' '.join(r['loadavg'])} |")
L.append("")
L.append("Latencies include the 503s where there are any (answered at once, so p50 can drop above "
         "saturation).\n")
L.append(f"Overhead ratio at saturation: best answered/s over the bare `--threads 2` session's "
         f"inferences/s = **{ratio:.2f}**; over two bare 1-thread sessions (what the server runs) = "
         f"**{ratio1:.2f}**. The server's figure includes JPEG decoding and preprocessing, the bare "
         f"runtime's does not.\n")
if rss:
    L.append(f"Soak: {rss[-1][0]} s at {os.environ.get('SOAK_CONNS', '?')} connections: "
             f"{soak['requests']} requests, {soak['rps']:.1f} req/s, p50 {soak['p50_ms']:.0f} ms, "
             f"p99 {soak['p99_ms']:.0f} ms, non-2xx {soak['non2xx']}, socket errors {soak['socket_errors']}. "
             f"RSS at start {rss[0][1] / 1024:.1f} MB, at end {rss[-1][1] / 1024:.1f} MB "
             f"(min {min(v for _, v in rss) / 1024:.1f}, max {max(v for _, v in rss) / 1024:.1f} MB over "
             f"{len(rss)} samples, every 10 s).\n")
L.append(f"Accounting: the server counted {served_all:.0f} requests ({served_200:.0f} answered 200, "
         f"{served_503:.0f} answered 503) over the wrk runs and the soak, which completed {wrk_total} "
         f"(wrk does not count requests still in flight when it stops).\n")
L.append(f"MQTT: {mqtt_n} requests (the same JPEG, base64 in the JSON envelope) published at QoS 1 in "
         f"one burst through Mosquitto on loopback: {mqtt_unique} distinct ids answered "
         f"({len(mqtt_ids)} replies, {mqtt_ok} with code 200) in {t1 - t0:.1f} s = "
         f"{mqtt_n / (t1 - t0):.1f} req/s; the worker reads at the pace of its queue and the broker "
         f"holds the rest.\n")
section = "\n".join(L)

os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
    f.write("# ledge serve under load (bench/serve)\n\n" + section)
for r in runs.values():
    r.pop("raw")
soak.pop("raw")
with open(os.path.join(out_dir, "results.json"), "w") as f:
    json.dump({"stamp": stamp, "git": git, "command": command, "model": model, "bare": bare,
               "bare_1thread": bare1, "wrk": runs, "soak": soak, "ratio_2thread": ratio, "ratio_2x1thread": ratio1, "rss_kb": rss,
               "mqtt": {"published": mqtt_n, "answered_ids": mqtt_unique, "replies": len(mqtt_ids),
                        "ok": mqtt_ok, "seconds": t1 - t0}}, f, indent=1)

BEGIN, END = "<!-- bench/serve: begin -->", "<!-- bench/serve: end -->"
block = f"{BEGIN}\n## ledge serve under load (bench/serve)\n\n{section}\n{END}\n"
text = open(results_md).read() if os.path.exists(results_md) else ""
if BEGIN in text and END in text:
    text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END) + 1:]
else:
    text = text.rstrip("\n") + "\n\n" + block
with open(results_md, "w") as f:
    f.write(text)
print(section)
