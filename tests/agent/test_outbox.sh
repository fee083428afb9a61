#!/bin/bash
# agent.outbox: the durable outbox across a broker outage.
#   The broker is stopped for 30 s while events are produced (and the agent is
#   killed with -9 and restarted in the middle of it); afterwards every event
#   reaches a subscriber once and in order (QoS 1, each with a unique id). A
#   second device with a 4 KB outbox drops its lowest-priority, oldest events
#   first, keeps the high-priority ones and reports how many it dropped.
source "$(dirname "$0")/lib.sh"
make_fleet
start_broker
provision car1 cars
provision car2 cars
echo "reconnect_max_s = 2" >>car1/ledged.conf
printf 'reconnect_max_s = 2\noutbox_max_bytes = 4096\n' >>car2/ledged.conf
start_agent car1
start_agent car2
# A persistent session (QoS 1) that collects the events while it is offline.
mosquitto_sub $(MQ_TLS) -c -i collector -q 1 -t 'ledge/+/events' -E
emit() { "$LEDGED" --config "$WORK/$1/ledged.conf" --emit events "$2" "${@:3}" >/dev/null; }
outbox_rows() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from outbox").fetchone()[0])' "$WORK/$1/outbox.db"; }
N=70
for i in $(seq 1 10); do emit car1 "{\"n\":$i}"; done
wait_for 20 bash -c "[[ \$($(declare -f outbox_rows); PY=$PY WORK=$WORK outbox_rows car1) == 0 ]]" || fail "events not sent while online"

stop_broker
t0=$(date +%s)
pad=$(head -c 150 /dev/zero | tr '\0' x)
for i in 1 2 3; do emit car2 "{\"important\":$i}" --priority 9; done
for i in $(seq 1 40); do emit car2 "{\"low\":$i,\"pad\":\"$pad\"}" --priority 1; done
for i in $(seq 11 $N); do
  emit car1 "{\"n\":$i}"
  if ((i == 40)); then
    kill9_agent car1
    start_agent car1
  fi
  sleep 0.25
done
while (($(date +%s) - t0 < 30)); do sleep 0.2; done
[[ $(outbox_rows car1) == $((N - 10)) ]] || fail "car1 outbox holds $(outbox_rows car1) rows, expected $((N - 10))"
start_broker
wait_for 30 bash -c "[[ \$($(declare -f outbox_rows); PY=$PY WORK=$WORK outbox_rows car1) == 0 && \$($(declare -f outbox_rows); PY=$PY WORK=$WORK outbox_rows car2) == 0 ]]" ||
  fail "the outbox did not drain after the broker came back"
timeout 30 mosquitto_sub $(MQ_TLS) -c -i collector -q 1 -t 'ledge/+/events' -v -W 5 >events.txt 2>/dev/null || true
"$PY" - events.txt $N <<'PYEOF' || fail "delivery: $(head -c 600 events.txt)"
import json, sys
car1, car2 = [], []
for line in open(sys.argv[1]):
    topic, payload = line.rstrip("\n").split(" ", 1)
    (car1 if topic == "ledge/car1/events" else car2).append(json.loads(payload))
n = [m["data"]["n"] for m in car1]
assert n == list(range(1, int(sys.argv[2]) + 1)), f"car1 delivered {n}"
assert len({m["id"] for m in car1}) == len(car1), "duplicate ids"
important = [m["data"]["important"] for m in car2 if "important" in m["data"]]
low = [m["data"]["low"] for m in car2 if "low" in m["data"]]
assert important == [1, 2, 3], f"high-priority events lost: {important}"
assert 0 < len(low) < 40 and low == list(range(41 - len(low), 41)), f"low-priority kept: {low}"
print(f"car2 kept the 3 high-priority and the newest {len(low)} of 40 low-priority events")
PYEOF
dropped=$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select value from meta where key=\"dropped\"").fetchone()[0])' car2/outbox.db)
((dropped > 0)) || fail "no dropped count"
sleep 1
"$LEDGE" fleet status --fleet "$FLEET" --broker "$BROKER" --group cars --json >st.json
"$PY" -c 'import json,sys; d={x["device"]:x for x in json.load(open(sys.argv[1]))}; assert d["car2"]["outbox_dropped"]==int(sys.argv[2]), d' st.json "$dropped" ||
  fail "dropped count not reported: $(cat st.json)"
ok "broker down 30 s (agent killed -9 meanwhile): all $N events delivered once, in order; a full outbox dropped $dropped low-priority events and reported it"
