#!/bin/bash
# agent.offline: no broker, no store, no disk space.
#   A signed deployment and its artifacts copied into the agent's inbox (as
#   from a USB stick) are verified and applied with no broker or store
#   reachable, and reported once the broker is back. A data directory on a
#   small tmpfs (RLIMIT_FSIZE when mounting is not allowed) fills up during a
#   download: a clear error, the running deployment untouched, the agent still
#   working.
source "$(dirname "$0")/lib.sh"
make_fleet
start_broker
STORE=file://$WORK/store
# A persistent session that collects status transitions while it is away.
mosquitto_sub $(MQ_TLS) -c -i collector -q 1 -t 'ledge/+/deployment/status' -E
"$LEDGE" fleet publish clf@1.0 --model m/tiny.onnx --fleet "$FLEET" --store "$STORE" >/dev/null
"$LEDGE" fleet deploy --fleet "$FLEET" --group cars --bundle "$WORK/usb" clf@1.0 >/dev/null

# ---- the inbox, offline ----------------------------------------------------------------------
stop_broker
mv store store.away
provision car1 cars "$STORE"
echo "reconnect_max_s = 2" >>car1/ledged.conf
start_agent car1
for f in $(ls usb | grep -E '^[0-9a-f]{64}$'); do cp usb/$f car1/inbox/; done
cp usb/deployment-*.json car1/inbox/.incoming
mv car1/inbox/.incoming car1/inbox/deployment.json
wait_state car1 succeeded
[[ $(state car1 committed_components) == clf@1.0 ]] || fail "inbox deployment not applied"
cmp car1/components/clf/1.0/tiny.onnx m/tiny.onnx || fail "model differs"
[[ -e car1/inbox/done/deployment.json ]] || fail "the inbox file was not moved to done/"
ok "a signed deployment in the inbox is applied with no broker and no store"
start_broker
mv store.away store
wait_for 30 bash -c "[[ \$($PY -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from outbox\").fetchone()[0])' $WORK/car1/outbox.db) == 0 ]]" ||
  fail "status not sent after reconnecting"
timeout 20 mosquitto_sub $(MQ_TLS) -c -i collector -q 1 -t 'ledge/+/deployment/status' -W 3 >offline.txt 2>/dev/null || true
"$PY" - offline.txt <<'PYEOF' || fail "offline transitions: $(cat offline.txt)"
import json, sys
states = [json.loads(l)["state"] for l in open(sys.argv[1]) if '"car1"' in l]
assert states[0] == "received" and states[-1] == "succeeded" and "installing" in states, states
PYEOF
ok "its status transitions are reported once the broker is back"

# ---- a full disk -------------------------------------------------------------------------------
mkdir -p car2
FULL_HOW="a 3 MB tmpfs"
if mount -t tmpfs -o size=3m tmpfs "$WORK/car2" 2>/dev/null; then
  MOUNTED=$WORK/car2
  LIMIT=()
else
  FULL_HOW="RLIMIT_FSIZE of 2 MB (no tmpfs: mount not permitted)"
  LIMIT=(prlimit --fsize=2000000 --)
fi
provision car2 cars "$STORE"
start_agent2() {
  "${LIMIT[@]}" "$LEDGED" --config "$WORK/car2/ledged.conf" >>"$WORK/car2.out" 2>>"$WORK/car2.log" &
  AGENT_PID_car2=$!
  PIDS+=("$AGENT_PID_car2")
  wait_for 10 test -S "$WORK/car2/agent.sock" || fail "car2 did not start"
}
start_agent2
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --device car2 clf@1.0 >/dev/null
wait_state car2 succeeded
"$PY" -c 'import os; open("huge.onnx","wb").write(os.urandom(5000000))'
"$LEDGE" fleet publish huge@1.0 --model huge.onnx --fleet "$FLEET" --store "$STORE" >/dev/null
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --device car2 huge@1.0 >/dev/null
wait_state car2 failed
reason=$(state car2 reason)
[[ $reason == *"No space left"* || $reason == *"too large"* ]] || fail "unclear reason: $reason"
[[ $(state car2 committed_components) == clf@1.0 ]] || fail "the running deployment changed"
kill -0 "$AGENT_PID_car2" || fail "the agent died"
[[ -z $(ls car2/store/partial) ]] || fail "the partial download was left to fill the disk"
"$LEDGED" --config car2/ledged.conf --emit events '{"after":"full"}' >/dev/null || fail "the outbox no longer accepts events"
ok "full disk ($FULL_HOW): '$reason'; clf@1.0 still committed, the agent still takes events"
