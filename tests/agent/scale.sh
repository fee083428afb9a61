#!/bin/bash
# Rollout to N simulated devices (ledge-fleet-sim) through one Mosquitto on
# loopback: time from `ledge fleet deploy` to the last device's "succeeded",
# and the broker's load (CPU seconds, RSS). Numbers for docs/scale.md.
#   LEDGE=... LEDGED=... SIM=build/bin/ledge-fleet-sim tests/agent/scale.sh [N] [tls] [WORK_MS]
source "$(dirname "$0")/lib.sh"
N=${1:-1000}
MODE=${2:-plain}
WORK_MS=${3:-0}
SIM=${SIM:?set SIM to build/bin/ledge-fleet-sim}
make_fleet
if [[ $MODE == tls ]]; then
  start_broker "max_connections -1"
  SIMTLS=(--tls "$FLEET/ca.pem" "$FLEET/operator.pem" "$FLEET/operator.key")
else
  BROKER_PORT=$(free_port)
  BROKER=mqtt://127.0.0.1:$BROKER_PORT
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_connections -1\nuser %s\n' "$BROKER_PORT" "$(id -un)" >broker.conf
  /usr/sbin/mosquitto -c broker.conf >broker.log 2>&1 &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  wait_for 10 "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$BROKER_PORT"
  SIMTLS=()
fi
"$LEDGE" fleet publish clf@1.0 --model m/tiny.onnx --fleet "$FLEET" --store "file://$WORK/store" >/dev/null
hz=$(getconf CLK_TCK)
broker_cpu() { awk '{print $14 + $15}' /proc/$BROKER_PID/stat; }
broker_rss() { awk '/^VmRSS:/ {print $2}' /proc/$BROKER_PID/status; }
c0=$(broker_cpu)
t0=$(date +%s.%N)
"$SIM" --broker "${BROKER/mqtts/mqtt}" --devices "$N" --group sim --work-ms "$WORK_MS" --timeout 240 "${SIMTLS[@]}" >sim.out 2>sim.log &
SIM_PID=$!
PIDS+=("$SIM_PID")
wait_for 240 grep -q '^ready' sim.out || fail "the simulated devices did not all connect: $(cat sim.log)"
t1=$(date +%s.%N)
c1=$(broker_cpu)
rss_connected=$(broker_rss)
sleep 5
c2=$(broker_cpu)
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group sim clf@1.0 >/dev/null
wait "$SIM_PID" || fail "not every device succeeded: $(tail -n 1 sim.out)"
c3=$(broker_cpu)
rss_after=$(broker_rss)
s0=$(date +%s.%N)
"$LEDGE" fleet status --fleet "$FLEET" --broker "$BROKER" --group sim --json --wait 60 >status.json
s1=$(date +%s.%N)
"$PY" - "$N" "$hz" "$MODE" "$t0" "$t1" "$c0" "$c1" "$c2" "$c3" "$rss_connected" "$rss_after" "$s0" "$s1" sim.out status.json <<'PYEOF'
import json, sys
n, hz, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0, t1, c0, c1, c2, c3 = (float(x) for x in sys.argv[4:10])
rss_c, rss_a, s0, s1 = int(sys.argv[10]), int(sys.argv[11]), float(sys.argv[12]), float(sys.argv[13])
sim = json.loads(open(sys.argv[14]).read().splitlines()[-1])
status = json.load(open(sys.argv[15]))
print(f"{n} devices ({mode}): connect+subscribe {t1 - t0:.2f} s, broker {(c1 - c0) / hz:.2f} CPU s;"
      f" idle 5 s: {(c2 - c1) / hz:.2f} CPU s; rollout p50 {sim['p50_ms']} ms, p95 {sim['p95_ms']} ms,"
      f" max {sim['max_ms']} ms; broker {(c3 - c2) / hz:.2f} CPU s for {sim['messages_out']} device publishes"
      f" + {sim['messages_in']} deliveries; broker RSS {rss_c} kB connected, {rss_a} kB after;"
      f" fleet status read {len(status)} devices in {s1 - s0:.2f} s")
assert len(status) == n and all(d["state"] == "succeeded" for d in status)
PYEOF
