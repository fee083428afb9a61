#!/bin/bash
# Measures ledged's memory and CPU (not a test: numbers, no assertions).
#   PSS summed over the agent's processes (the agent itself and, while
#   deploying, its health-check child; not the components it runs), the way
#   the anchor's agent measures itself; idle over 30 s, then while deploying
#   MODEL (default: torchvision mobilenet_v3_small from .cache, else the tiny
#   test model) over TLS MQTT from a file:// store.
#   LEDGE=build/bin/ledge LEDGED=build/bin/ledged tests/agent/footprint.sh [MODEL]
source "$(dirname "$0")/lib.sh"
MODEL=${1:-$SRC/.cache/networks/models/mobilenet_v3_small.onnx}
make_fleet
[[ -f $MODEL ]] || MODEL=$WORK/m/tiny.onnx
start_broker
provision car1 cars "file://$WORK/store"
start_agent car1
PID=$(agent_pid car1)
sleep 3
pss_kb() { # PSS of the agent and its descendants except the components (cwd under components/)
  local total=0 p
  for p in $PID $(pgrep -P "$PID" || true); do
    [[ $p != "$PID" && $(readlink /proc/$p/cwd 2>/dev/null) == */components/* ]] && continue
    local v
    v=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo $total
}
cpu_ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
idle_pss=$(pss_kb)
rss=$(awk '/^VmRSS:/ {print $2}' /proc/$PID/status)
t0=$(cpu_ticks)
sleep 30
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
idle_cpu=$("$PY" -c "print(f'{($t1-$t0)/$hz/30*100:.3f}')")
echo "idle: PSS ${idle_pss} kB (RSS ${rss} kB), CPU ${idle_cpu}% of one core over 30 s ($((t1 - t0)) ticks)"

"$LEDGE" fleet publish m@1 --model "$MODEL" --fleet "$FLEET" --store "file://$WORK/store" >/dev/null
# Sample in the background: a file:// deployment can finish before deploy returns.
(
  peak=0 peak_agent=0
  while [[ ! -e $WORK/stop-sampling ]]; do
    v=$(pss_kb)
    a=$(awk '/^Pss:/ {print $2}' /proc/$PID/smaps_rollup)
    ((v > peak)) && peak=$v
    ((a > peak_agent)) && peak_agent=$a
    echo "$peak $peak_agent" >"$WORK/peak.txt"
    sleep 0.01
  done
) &
SAMPLER=$!
sleep 0.3
t0=$(cpu_ticks)
start=$(date +%s.%N)
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars m@1 >/dev/null
wait_state car1 succeeded 120
end=$(date +%s.%N)
t1=$(cpu_ticks)
touch "$WORK/stop-sampling"
wait $SAMPLER
read -r peak peak_agent <"$WORK/peak.txt"
sleep 2
after=$(pss_kb)
echo "deploying $(basename "$MODEL") ($(stat -c %s "$MODEL") bytes): peak PSS ${peak} kB with the health-check child" \
  "(the agent alone ${peak_agent} kB); agent CPU $(((t1 - t0) * 1000 / hz)) ms (children not counted);" \
  "$("$PY" -c "print(f'{$end-$start:.2f}')") s from deploy to committed; idle again: ${after} kB"
