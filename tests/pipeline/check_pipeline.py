#!/usr/bin/env python3
"""ledge pipeline run, end to end on a real clip (opencv-doc's Megamind.avi).

  replay  recorded probabilities over the clip: state events, one
          long-distraction alert with its annotated JPEG, the trip summary,
          the same events received from a real Mosquitto broker, bad
          configurations refused with one line
  cues    cue mode with the pretrained face/mesh/iris, hands, pose and object
          models: calibration, then a driver seen and judged; per-stage figures
  status  the live status page in headless Chromium (check_status_page.js)
  classifier  classifier mode with an ensemble of two small ONNX classifiers:
          every perceived frame runs both, each timed; bad models refused
  privacy two people in the frame (skimage's astronaut twice): the driver's
          face is kept, the other is pixelated in frames that leave the device
  agent   under a real ledged (offline: no broker reachable): every event
          lands in the agent's durable outbox, in order, for its device

usage: check_pipeline.py LEDGE WORKDIR {replay|cues|status|classifier|privacy|agent} [LEDGED]
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

LEDGE, WORK, WHAT = sys.argv[1], sys.argv[2], sys.argv[3]
HERE = os.path.dirname(os.path.abspath(__file__))
CLIP = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"
STATES = ["normal", "texting", "looking-away", "on-phone"]
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write(path, obj):
    with open(path, "w") as f:
        if isinstance(obj, list):
            f.write("".join(json.dumps(x) + "\n" for x in obj))
        else:
            json.dump(obj, f)
    return path


def replay_frames():
    """Looking away from 6 s to 11 s of the 11.2 s clip, normal before."""
    out, t = [], 0.0
    while t < 12:
        st = "looking-away" if 6 <= t < 11 else "normal"
        p = {s: 0.05 for s in STATES}
        p[st] = 0.85
        out.append({"t": round(t, 3), "probs": p})
        t += 0.1
    return out


def events_of(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def run(*args, timeout=600, expect=0):
    p = subprocess.run([LEDGE, "pipeline", "run", *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode != expect:
        raise SystemExit(f"FAIL exit {p.returncode} (wanted {expect}): {p.stderr.strip()}")
    return p


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)

if WHAT == "replay":
    rp = write(f"{WORK}/replay.jsonl", replay_frames())
    port = free_port()
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", "ledge/car-9/events", "-q", "1",
                                "-C", "4", "-W", "120"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        cfg = write(f"{WORK}/replay.json", {
            "perception": "replay", "replay": rp, "device": "car-9", "version": "replay-1",
            "source": {"input": CLIP},
            "sinks": {"events": f"{WORK}/events.jsonl", "alerts_dir": f"{WORK}/alerts",
                      "mqtt": {"url": f"mqtt://127.0.0.1:{port}"}}})
        p = run(cfg, "--json")
        stats = json.loads(p.stdout)
        got, _ = sub.communicate(timeout=120)
    finally:
        broker.terminate()
        broker.wait()
    ev = events_of(f"{WORK}/events.jsonl")
    states = [e["state"] for e in ev if e["type"] == "state"]
    alerts = [e for e in ev if e["type"] == "alert"]
    summary = [e for e in ev if e["type"] == "summary"]
    check("all 270 frames read, 10 per second perceived", stats["frames"] == 270 and 105 <= stats["perceived"] <= 118, stats)
    check("states normal then looking-away", states == ["normal", "looking-away"], states)
    check("one long-distraction alert at ~9.2 s", len(alerts) == 1 and alerts[0]["rule"] == "long-distraction"
          and 8.9 <= alerts[0]["t"] <= 9.6 and abs(alerts[0]["start"] - 6.0) < 0.4, alerts)
    if alerts:
        img = alerts[0]["image"]
        check("alert frame written", os.path.isfile(img), img)
        r = subprocess.run(["/usr/bin/python3", "-c", f"from PIL import Image; im=Image.open('{img}'); print(im.format, *im.size)"],
                           capture_output=True, text=True)
        check("alert frame is a 720x528 JPEG", r.stdout.split() == ["JPEG", "720", "528"], r.stdout + r.stderr)
    check("summary", len(summary) == 1 and summary[0]["alerts"]["long-distraction"] == 1 and
          abs(summary[0]["seconds_in_state"]["looking-away"] - 4.6) < 0.7, summary)
    if summary and alerts:
        s = summary[0]
        check("bytes: the alert frame, not a stream", s["bytes_sent"] >= os.path.getsize(alerts[0]["image"]) and
              s["bytes_sent"] < s["streaming_bytes"] / 10 and
              abs(s["streaming_bytes"] - 1500 * 1000 / 8 * s["seconds"]) < 1000, s)
    mq = [json.loads(l) for l in got.splitlines() if l.strip()]
    check("the same events through Mosquitto", mq == ev, (mq, ev))
    # Bad configurations: one line, exit 1.
    for bad, words in [({"sources": {}}, "unknown member 'sources'"),
                       ({"perception": "dreams"}, "\"perception\" must be"),
                       ({"perception": "replay", "replay": "/nonexistent.jsonl", "source": {"input": CLIP}}, "cannot open replay"),
                       ({"perception": "replay", "replay": rp, "source": {"input": "/nonexistent.avi"}}, "nonexistent"),
                       ({"perception": "replay", "replay": rp}, "no source")]:
        p = run(write(f"{WORK}/bad.json", bad), expect=1)
        lines = p.stderr.strip().splitlines()
        check(f"refused: {words}", len(lines) == 1 and words in lines[0], p.stderr)

elif WHAT == "cues":
    cfg = write(f"{WORK}/cues.json", {
        "perception": "cues", "device": "car-1", "source": {"input": CLIP, "max_frames": 60},
        "schedule": {"mode": "fixed", "rate_hz": 0}, "cues": {"calibration_s": 1.0},
        "sinks": {"events": f"{WORK}/events.jsonl"}})
    p = run(cfg, "--json")
    stats = json.loads(p.stdout)
    ev = events_of(f"{WORK}/events.jsonl")
    states = [e["state"] for e in ev if e["type"] == "state"]
    summary = [e for e in ev if e["type"] == "summary"][0]
    check("every frame perceived", stats["frames"] == 60 and stats["perceived"] == 60, stats)
    check("a driver is seen and judged after calibration", "normal" in states and
          summary["seconds_in_state"]["normal"] > 0.8, (states, summary))
    check("calibration counts as unknown", summary["seconds_in_state"]["unknown"] >= 0.9, summary)
    st = stats["stages_ms"]
    check("per-stage figures", all(st[k] > 0 for k in ["face+mesh+iris", "hands", "pose", "objects"]), st)

elif WHAT == "status":
    rp = write(f"{WORK}/replay.jsonl", replay_frames())
    port = free_port()
    cfg = write(f"{WORK}/status.json", {
        "perception": "replay", "replay": rp, "source": {"input": CLIP, "realtime": True},
        "sinks": {"events": "", "status": {"port": port}}})
    pl = subprocess.Popen([LEDGE, "pipeline", "run", cfg], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        env = dict(os.environ, NODE_PATH=os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules"))
        r = subprocess.run(["node", f"{HERE}/check_status_page.js", f"http://127.0.0.1:{port}/", f"{WORK}/status.png"],
                           capture_output=True, text=True, timeout=120, env=env)
        print(r.stdout, end="")
        check("status page in Chromium", r.returncode == 0, r.stderr)
    finally:
        pl.terminate()
        _, err = pl.communicate(timeout=30)
    check("pipeline stops cleanly on SIGTERM", pl.returncode == 0, err)

elif WHAT == "classifier":
    prog = ("import numpy as np, onnx\nfrom onnx import TensorProto, helper, numpy_helper\n"
            "def save(path, seed, outputs):\n"
            "    r = np.random.default_rng(seed)\n"
            "    w = (r.standard_normal((8, 3, 3, 3)) * 0.5).astype(np.float32)\n"
            "    fw = (r.standard_normal((outputs, 8)) * 0.5).astype(np.float32)\n"
            "    fb = np.zeros(outputs, np.float32)\n"
            "    nodes = [helper.make_node('Conv', ['x', 'w'], ['c'], pads=[1, 1, 1, 1], strides=[2, 2]),\n"
            "             helper.make_node('Relu', ['c'], ['r']), helper.make_node('GlobalAveragePool', ['r'], ['g']),\n"
            "             helper.make_node('Flatten', ['g'], ['f']), helper.make_node('Gemm', ['f', 'fw', 'fb'], ['y'], transB=1)]\n"
            "    g = helper.make_graph(nodes, 'states', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 3, 64, 64])],\n"
            "        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, outputs])],\n"
            "        [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(fw, 'fw'), numpy_helper.from_array(fb, 'fb')])\n"
            "    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), path)\n"
            f"save('{WORK}/a.onnx', 1, 4); save('{WORK}/b.onnx', 2, 4); save('{WORK}/one.onnx', 3, 1)\n")
    subprocess.run(["/usr/bin/python3", "-c", prog], check=True)
    base = {"perception": "classifier", "source": {"input": CLIP, "max_frames": 60},
            "schedule": {"rate_hz": 0}, "sinks": {"events": f"{WORK}/events.jsonl"}}
    cfg = write(f"{WORK}/cls.json", dict(base, classifier={"model": f"{WORK}/a.onnx", "ensemble": [f"{WORK}/b.onnx"]}))
    stats = json.loads(run(cfg, "--json").stdout)
    check("every frame through both models", stats["perceived"] == 60 and
          stats["stage_runs"] == {"a.onnx": 60, "b.onnx": 60} and all(v > 0 for v in stats["stages_ms"].values()), stats)
    ev = events_of(f"{WORK}/events.jsonl")
    check("states and a summary", ev[-1]["type"] == "summary" and ev[0]["type"] == "state" and
          ev[0]["state"] in STATES, ev[:2])
    for bad, words in [({"model": f"{WORK}/one.onnx"}, "outputs"), ({"model": f"{WORK}/none.onnx"}, "none.onnx"),
                       ({"model": f"{WORK}/a.onnx", "labels": ["normal", "sleeping"]}, "not a state")]:
        p = run(write(f"{WORK}/bad.json", dict(base, classifier=bad)), expect=1)
        check(f"refused: {words}", words in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr)

elif WHAT == "privacy":
    import urllib.request
    os.makedirs(f"{WORK}/frames")
    prog = ("from PIL import Image\n"
            "a = Image.open('/usr/lib/python3/dist-packages/skimage/data/astronaut.png').convert('RGB')\n"
            "im = Image.new('RGB', (640, 400), (40, 40, 40))\n"
            "im.paste(a.resize((320, 320)), (0, 40)); im.paste(a.resize((220, 220)), (400, 100))\n"
            f"[im.save('{WORK}/frames/f%03d.png' % i) for i in range(80)]\n")
    subprocess.run(["/usr/bin/python3", "-c", prog], check=True)
    port = free_port()
    cfg = write(f"{WORK}/privacy.json", {
        "perception": "cues", "source": {"input": f"{WORK}/frames", "fps": 10, "realtime": True},
        "schedule": {"rate_hz": 0}, "cues": {"calibration_s": 0.5, "hands_every": 0, "pose_every": 0, "objects_every": 0},
        "sinks": {"events": "", "privacy_blur": True, "draw": False, "status": {"port": port}}})
    pl = subprocess.Popen([LEDGE, "pipeline", "run", cfg], stderr=subprocess.PIPE, text=True)
    try:
        jpeg = None
        for _ in range(300):
            try:
                st = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=2))
                if st["perceived"] >= 3:
                    jpeg = urllib.request.urlopen(f"http://127.0.0.1:{port}/frame.jpg", timeout=2).read()
                    break
            except OSError:
                pass
            time.sleep(0.1)
    finally:
        pl.terminate()
        pl.communicate(timeout=30)
    check("a frame from the status page", jpeg is not None)
    if jpeg:
        with open(f"{WORK}/frame.jpg", "wb") as f:
            f.write(jpeg)
        # Flat neighbours (|difference| <= 2 grey levels) in each face, in the
        # frame sent and in the source: the driver's face (larger, left)
        # keeps its texture, the other's becomes flat blocks.
        prog = ("import numpy as np\nfrom PIL import Image\n"
                "def flat(path, x0, y0, x1, y1):\n"
                "    im = np.asarray(Image.open(path).convert('L'), dtype=float)[y0:y1, x0:x1]\n"
                "    return float((np.abs(np.diff(im, axis=1)) <= 2).mean())\n"
                f"for p in ['{WORK}/frame.jpg', '{WORK}/frames/f000.png']:\n"
                "    print(flat(p, 120, 80, 190, 170), flat(p, 470, 130, 520, 190))\n")
        r = subprocess.run(["/usr/bin/python3", "-c", prog], capture_output=True, text=True)
        (driver, other), (driver0, other0) = [tuple(map(float, l.split())) for l in r.stdout.splitlines()]
        check("driver's face kept", abs(driver - driver0) < 0.1, (driver, driver0))
        check("the other face pixelated", other > other0 + 0.3, (other, other0))

elif WHAT == "agent":
    import sqlite3
    LEDGED = sys.argv[4]
    rp = write(f"{WORK}/replay.jsonl", replay_frames())
    subprocess.run([LEDGE, "fleet", "keygen", "--fleet", f"{WORK}/fleet"], check=True, capture_output=True)
    subprocess.run([LEDGE, "fleet", "provision", "car-7", "--fleet", f"{WORK}/fleet", "--group", "cars",
                    "--broker", f"mqtt://127.0.0.1:{free_port()}", "--out", f"{WORK}/dev"],
                   check=True, capture_output=True)
    agent = subprocess.Popen([LEDGED, "--config", f"{WORK}/dev/ledged.conf"], stdout=subprocess.DEVNULL,
                             stderr=open(f"{WORK}/ledged.log", "w"))
    try:
        sock = f"{WORK}/dev/agent.sock"
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        cfg = write(f"{WORK}/agent.json", {"perception": "replay", "replay": rp, "source": {"input": CLIP},
                                            "sinks": {"events": f"{WORK}/events.jsonl",
                                                      "alerts_dir": f"{WORK}/alerts"}})
        env = dict(os.environ, LEDGE_AGENT_SOCKET=sock, LEDGE_DEVICE="car-7")
        p = subprocess.run([LEDGE, "pipeline", "run", cfg], capture_output=True, text=True, timeout=300, env=env)
        check("pipeline under the agent", p.returncode == 0, p.stderr)
        # The alert frame goes through the agent's upload queue to its default
        # store: DEVDIR/uploads/<device>/<yyyy>/<mm>/<dd>/<event-id>.jpg.
        ev = events_of(f"{WORK}/events.jsonl")
        alert = [e for e in ev if e["type"] == "alert"]
        uploaded = []
        for _ in range(200):
            uploaded = [os.path.join(d, f) for d, _, fs in os.walk(f"{WORK}/dev/uploads") for f in fs
                        if alert and f == alert[0]["event_id"] + ".jpg"]
            if uploaded:
                break
            time.sleep(0.1)
        check("the alert frame uploaded by the agent", len(alert) == 1 and len(uploaded) == 1 and
              uploaded[0].startswith(f"{WORK}/dev/uploads/car-7/" + time.strftime("%Y/%m/%d", time.gmtime())) and
              open(uploaded[0], "rb").read() == open(alert[0]["image"], "rb").read(), (alert, uploaded))
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    ev = events_of(f"{WORK}/events.jsonl")
    db = sqlite3.connect(f"{WORK}/dev/outbox.db")
    rows = [(t, json.loads(bytes(pl))) for t, pl in db.execute("select topic, payload from outbox order by seq")]
    check("every event in the agent's outbox, in order", [r[1]["data"] for r in rows] == ev and len(ev) == 4,
          (rows, ev))
    check("for the agent's device, on its events topic",
          all(t == "ledge/car-7/events" and r["device"] == "car-7" for t, r in rows) and
          all(e["device"] == "car-7" for e in ev), rows)
    check("alerts outrank state changes", [r[1]["priority"] for r in rows] == [5, 5, 8, 7], rows)

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
