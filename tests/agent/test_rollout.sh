#!/bin/bash
# agent.rollout: three ledged devices behind a TLS Mosquitto (client
# certificates from ledge fleet keygen/provision), a file:// store.
#   a rollout to the group, then a newer version; a device that joins late gets
#   the group's latest; re-delivery is a no-op; ledge fleet rollback; ledge fleet
#   status (table and --json); --check-config; every message within managed
#   brokers' limits (QoS 1, <= 128 KB, <= 7 topic levels).
source "$(dirname "$0")/lib.sh"
make_fleet
start_broker
watch_status
STORE=file://$WORK/store
"$LEDGE" fleet publish clf@1.0 --model m/tiny.onnx --fleet "$FLEET" --store "$STORE" >/dev/null
"$LEDGE" fleet publish clf@2.0 --model m/tiny_v2.onnx --fleet "$FLEET" --store "$STORE" >/dev/null
for d in car1 car2 car3; do provision $d cars "$STORE"; done
[[ $(stat -c %a car1/ledged.conf) == 600 && $(stat -c %a car1/device.key) == 600 && $(stat -c %a fleet/signing.key) == 600 ]] ||
  fail "secrets are not 0600"
"$LEDGED" --config car1/ledged.conf --check-config | grep -q ': ok' || fail "--check-config"
cp car1/ledged.conf bad.conf
echo "outbox_max_bytes = 12" >>bad.conf
"$LEDGED" --config bad.conf --check-config 2>err.txt && fail "a bad config was accepted"
grep -q "outbox_max_bytes" err.txt || fail "the error does not name the key: $(cat err.txt)"
ok "provisioned (secrets 0600); --check-config accepts the config and names a bad key"

start_agent car1
start_agent car2
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@1.0 >/dev/null
for d in car1 car2; do wait_state $d succeeded; done
[[ $(state car1 committed_components) == clf@1.0 ]] || fail "car1 runs $(state car1 committed_components)"
cmp car1/components/clf/1.0/tiny.onnx m/tiny.onnx || fail "installed model differs from the published one"
[[ $(readlink car2/components/clf/current) == 1.0 ]] || fail "current link"
ok "rollout of clf@1.0 to the group: both devices succeeded, model installed byte for byte"

"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@2.0 >/dev/null
wait_for 60 bash -c "[[ \$(grep -c '\"state\":\"succeeded\"' $WORK/transitions.txt) -ge 4 ]]" || fail "clf@2.0 not reported succeeded by both"
for d in car1 car2; do [[ $(state $d committed_components) == clf@2.0 ]] || fail "$d runs $(state $d committed_components)"; done
ok "clf@2.0 supersedes clf@1.0 on both"

start_agent car3
wait_state car3 succeeded
[[ $(state car3 committed_components) == clf@2.0 ]] || fail "the late device got $(state car3 committed_components)"
ok "a device that joins late gets the group's latest deployment (retained)"

received_before=$(grep -c '"device":"car1".*"state":"received"' transitions.txt)
stop_agent car1
start_agent car1
sleep 2
[[ $(grep -c '"device":"car1".*"state":"received"' transitions.txt) == "$received_before" ]] || fail "re-delivery was applied again"
grep -q "already applied" car1.log || grep -q "running deployment" car1.log || fail "car1 did not resume its deployment"
ok "re-delivery of the same deployment after a restart is a no-op"

"$LEDGE" fleet rollback --fleet "$FLEET" --broker "$BROKER" --group cars >/dev/null
for d in car1 car2 car3; do
  wait_for 30 bash -c "[[ \$($(declare -f state); PY=$PY WORK=$WORK state $d committed_components) == clf@1.0 ]]" ||
    fail "$d not rolled back: $(state $d committed_components)"
done
ok "ledge fleet rollback returns the group to clf@1.0"

"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group trucks clf@2.0 >/dev/null
provision truck1 trucks "$STORE"
start_agent truck1
wait_state truck1 succeeded
sed -i 's/^group = cars/group = trucks/' car3/ledged.conf
kill -HUP "$(agent_pid car3)"
wait_for 30 bash -c "[[ \$($(declare -f state); PY=$PY WORK=$WORK state car3 committed_components) == clf@2.0 ]]" ||
  fail "car3 did not take the trucks deployment after joining the group"
sed -i 's/^group = trucks/group = cars/' car3/ledged.conf
kill -HUP "$(agent_pid car3)"
wait_for 30 bash -c "[[ \$($(declare -f state); PY=$PY WORK=$WORK state car3 committed_components) == clf@1.0 ]]" ||
  fail "car3 did not take the cars deployment after coming back"
ok "a device that joins another group (config + SIGHUP) gets that group's latest deployment"

sleep 1
"$LEDGE" fleet status --fleet "$FLEET" --broker "$BROKER" --group cars --json >status.json
"$PY" - status.json <<'PYEOF' || fail "fleet status --json: $(cat status.json)"
import json, sys
s = json.load(open(sys.argv[1]))
assert [d["device"] for d in s] == ["car1", "car2", "car3"], s
for d in s:
    assert d["state"] == "succeeded", d
    assert d["components"] == {"clf": "1.0"}, d
    assert d["last_seen"].endswith("Z"), d
PYEOF
"$LEDGE" fleet status --fleet "$FLEET" --broker "$BROKER" --group cars >status.txt
grep -q "^car2 .*succeeded.*clf@1.0" status.txt || fail "status table: $(cat status.txt)"
ok "ledge fleet status: a table and a JSON list (device, state, components, last_seen)"

"$PY" - transitions.txt <<'PYEOF' || fail "message limits"
import sys
for line in open(sys.argv[1]):
    topic, payload = line.rstrip("\n").split(" ", 1)
    assert len(topic.split("/")) <= 7, topic
    assert len(payload.encode()) <= 128 * 1024
PYEOF
for f in fleet/deployments/group-cars/*.json; do [[ $(stat -c %s "$f") -le 131072 ]] || fail "$f over 128 KB"; done
ok "every status message and deployment fits managed brokers' limits"
