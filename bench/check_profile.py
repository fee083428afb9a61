#!/usr/bin/python3
"""check_profile.py LEDGE MODEL: `ledge bench --profile` prints a per-node,
per-op-type and per-kernel profile, as a table and as JSON (a CTest test:
tests/CMakeLists.txt registers it as cli.bench_profile). Asserts on shape,
never on time."""
import json
import subprocess
import sys

ledge, model = sys.argv[1], sys.argv[2]


def run(*args, expect=0):
    p = subprocess.run([ledge, "bench", model, *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == expect, f"{args}: exit {p.returncode}: {p.stderr}"
    return p


j = json.loads(run("--runs", "3", "--warmup", "1", "--threads", "2", "--profile", "--json").stdout)
for key in ("median_ms", "load_ms", "plan_ms", "macs", "gflops", "peak_rss_kb", "profile"):
    assert key in j, key
prof = j["profile"]
assert prof["runs"] == 3, prof["runs"]
assert prof["nodes"], "no nodes"
for n in prof["nodes"]:
    for key in ("index", "name", "op_type", "kernel", "algorithm", "isa", "ms", "percent", "macs", "gflops"):
        assert key in n, key
    assert n["ms"] >= 0 and n["macs"] >= 0
assert sum(o["nodes"] for o in prof["op_types"]) == len(prof["nodes"])
assert abs(sum(o["percent"] for o in prof["op_types"]) - 100) < 0.5 or prof["node_ms_sum"] == 0
assert all(k["macs"] > 0 for k in prof["kernels"])

text = run("--runs", "2", "--profile").stdout
assert "op type" in text and "GFLOP/s" in text, text
top = json.loads(run("--runs", "2", "--profile", "--top", "1", "--json").stdout)
assert len(top["profile"]["nodes"]) == 1
plain = json.loads(run("--runs", "2", "--json").stdout)
assert "profile" not in plain
bad = run("--top", "0", expect=2)
assert bad.stderr.strip().count("\n") == 0 and bad.stderr.strip(), bad.stderr
print("check_profile: ok")
