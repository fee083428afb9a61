#!/bin/bash
# bench/serve/run.sh: ledge serve under load.
#
#   bench/serve/run.sh [LEDGE]     (default build/bin/ledge)
#
# 1. `ledge bench MODEL --threads 2`: the bare runtime's throughput.
# 2. `ledge serve --threads 2` with the model and its ImageNet preprocessing,
#    driven by wrk (Debian) POSTing a real JPEG to /invocations for DURATION s
#    at each concurrency in CONNS; throughput, p50/p99, non-2xx (they must be
#    clean 503s, and only above saturation) and socket errors.
# 3. A soak: SOAK_S seconds at SOAK_CONNS connections, RSS sampled.
# 4. MQTT: MQTT_N requests through a Mosquitto broker on loopback (mosquitto_pub
#    in, mosquitto_sub out), every id answered once.
# Writes bench/serve/RESULTS.md and bench/serve/results.json, and replaces the
# "ledge serve" section of bench/RESULTS.md.
#
# Environment: MODEL (.cache/networks/models/mobilenet_v2.onnx), DURATION (30),
# CONNS ("1 2 4 8 32"), SOAK_S (300), SOAK_CONNS (4), MQTT_N (300), WORKERS (2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LEDGE=$(realpath "${1:-$ROOT/build/bin/ledge}")
PY=/usr/bin/python3
MODEL=$(realpath "${MODEL:-$ROOT/.cache/networks/models/mobilenet_v2.onnx}")
DURATION=${DURATION:-30}
CONNS=${CONNS:-"1 2 4 8 32"}
SOAK_S=${SOAK_S:-300}
SOAK_CONNS=${SOAK_CONNS:-4}
MQTT_N=${MQTT_N:-300}
WORKERS=${WORKERS:-2}
for tool in wrk mosquitto mosquitto_pub mosquitto_sub curl; do
  command -v $tool >/dev/null || { echo "bench/serve: $tool is missing (scripts/install-deps installs it)" >&2; exit 1; }
done
[[ -f $MODEL ]] || { echo "bench/serve: no model at $MODEL (run make bench once, or set MODEL)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledge-serve-bench.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "bench/serve: $*" >&2; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

name=$(basename "$MODEL" .onnx)
ln -s "$MODEL" "$WORK/$name.onnx"
echo '{"resize": 256, "size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}' >"$WORK/$name.json"
# A real photograph (scikit-image's astronaut, 512 x 512) as a JPEG of a phone camera's quality.
"$PY" -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2], quality=90)' \
  /usr/lib/python3/dist-packages/skimage/data/astronaut.png "$WORK/photo.jpg"
cat >"$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/jpeg"
local f = io.open("$WORK/photo.jpg", "rb")
wrk.body = f:read("*a")
f:close()
EOF

# ---- 1. the bare runtime ---------------------------------------------------------------------
log "ledge bench $name --threads $WORKERS"
"$LEDGE" bench "$MODEL" --threads "$WORKERS" --runs 50 --json >"$WORK/bare.json"
"$LEDGE" bench "$MODEL" --threads 1 --runs 50 --json >"$WORK/bare1.json"

# ---- 2. wrk at each concurrency ------------------------------------------------------------------
PORT=$(free_port)
"$LEDGE" serve --model "$name=$WORK/$name.onnx" --host 127.0.0.1 --port "$PORT" --threads "$WORKERS" \
  >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVER=$!
PIDS+=("$SERVER")
for i in $(seq 1 600); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ping") == 200 ]] && break
  sleep 0.1
done
curl -sf -H 'Content-Type: image/jpeg' --data-binary @"$WORK/photo.jpg" "http://127.0.0.1:$PORT/invocations?top_k=1" \
  >"$WORK/answer.json" || { cat "$WORK/serve.log" >&2; exit 1; }
rss() { awk '/VmRSS/ {print $2}' /proc/$SERVER/status; }
# drain: requests of closed connections still queued from the previous run finish first
drain() {
  local i
  for i in $(seq 1 600); do
    curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^ledge_inflight_requests 0' && return 0
    sleep 0.1
  done
}
for c in $CONNS; do
  drain
  log "wrk -c $c for ${DURATION}s"
  wrk -t1 -c "$c" -d "${DURATION}s" --timeout 60s --latency -s "$WORK/post.lua" "http://127.0.0.1:$PORT/invocations" \
    >"$WORK/wrk_$c.txt" 2>&1
  cat /proc/loadavg >"$WORK/load_$c.txt"
done
curl -s "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics_wrk.txt"

# ---- 3. soak ----------------------------------------------------------------------------------------
drain
log "soak: ${SOAK_S}s at $SOAK_CONNS connections"
echo "0 $(rss)" >"$WORK/rss.txt"
wrk -t1 -c "$SOAK_CONNS" -d "${SOAK_S}s" --timeout 60s --latency -s "$WORK/post.lua" \
  "http://127.0.0.1:$PORT/invocations" >"$WORK/wrk_soak.txt" 2>&1 &
WRK=$!
start=$(date +%s)
while kill -0 $WRK 2>/dev/null; do
  sleep 10
  echo "$(($(date +%s) - start)) $(rss)" >>"$WORK/rss.txt"
done
wait $WRK || true
curl -s "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics_soak.txt"
kill -TERM $SERVER
wait $SERVER || true

# ---- 4. MQTT -------------------------------------------------------------------------------------------
BP=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$BP" >"$WORK/broker.conf"
[[ $(id -u) == 0 ]] && echo "user root" >>"$WORK/broker.conf"
mosquitto -c "$WORK/broker.conf" >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
sleep 0.5
"$LEDGE" serve --model "$name=$WORK/$name.onnx" --no-http --mqtt "mqtt://127.0.0.1:$BP" --mqtt-client-id bench \
  --threads "$WORKERS" >"$WORK/mqtt_serve.out" 2>"$WORK/mqtt_serve.log" &
MQTT_SERVER=$!
PIDS+=("$MQTT_SERVER")
for i in $(seq 1 600); do grep -q subscribed "$WORK/mqtt_serve.log" && break; sleep 0.05; done
"$PY" - "$WORK/photo.jpg" "$MQTT_N" "$WORK/stream.txt" <<'PYEOF'
import base64, json, sys
data = base64.b64encode(open(sys.argv[1], "rb").read()).decode()
with open(sys.argv[3], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"id": str(i), "client": "bench", "data": data}) + "\n")
PYEOF
mosquitto_sub -V 5 -h 127.0.0.1 -p "$BP" -q 1 -t "ledge/infer/$name/response/bench" -C "$MQTT_N" -W 600 \
  >"$WORK/mqtt_replies.txt" &
SUB=$!
sleep 0.5
t0=$(date +%s.%N)
mosquitto_pub -V 5 -h 127.0.0.1 -p "$BP" -q 1 -t "ledge/infer/$name/request" -l <"$WORK/stream.txt"
wait $SUB || log "MQTT: not every request was answered"
t1=$(date +%s.%N)
echo "$t0 $t1" >"$WORK/mqtt_time.txt"
kill -TERM $MQTT_SERVER 2>/dev/null || true
wait $MQTT_SERVER || true

# ---- report ---------------------------------------------------------------------------------------------
COMMAND="bench/serve/run.sh  (MODEL=$(basename "$MODEL") DURATION=$DURATION CONNS=\"$CONNS\" SOAK_S=$SOAK_S SOAK_CONNS=$SOAK_CONNS MQTT_N=$MQTT_N WORKERS=$WORKERS)"
SOAK_CONNS=$SOAK_CONNS "$PY" "$ROOT/bench/serve/report.py" "$WORK" "$name" "$COMMAND" "$ROOT/bench/serve" "$ROOT/bench/RESULTS.md"
