#!/bin/bash
# agent.rejects: what the agent must refuse or undo, with the running
# deployment untouched each time:
#   an artifact corrupted in the store (digest mismatch); a deployment signed
#   by another fleet's key, one whose payload was altered, an unsigned one; an
#   artifact URI outside the configured stores; a model that fails its health
#   check (load + one inference) -> failed-rolled-back with the reason; a
#   component that crash-loops after the start -> failed-rolled-back; a
#   healthy supervised component restarted after a crash.
source "$(dirname "$0")/lib.sh"
make_fleet
start_broker
watch_status
STORE=file://$WORK/store
"$LEDGE" fleet publish clf@1.0 --model m/tiny.onnx --fleet "$FLEET" --store "$STORE" >/dev/null
provision car1 cars "$STORE"
start_agent car1
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@1.0 >/dev/null
wait_state car1 succeeded
GOOD=$(state car1 committed_id)

# expect_unchanged: car1 still runs clf@1.0 from the first deployment.
expect_unchanged() {
  [[ $(state car1 committed_id) == "$GOOD" && $(state car1 committed_components) == clf@1.0 ]] ||
    fail "the running deployment changed: $(state car1 committed_components)"
  [[ $(readlink car1/components/clf/current) == 1.0 ]] || fail "current link moved"
  kill -0 "$(agent_pid car1)" || fail "the agent died"
}
# wait_transition STATE PATTERN: a status transition with this state whose reason matches.
wait_transition() {
  wait_for 60 bash -c "grep '\"state\":\"$1\"' $WORK/transitions.txt | grep -q -- '$2'" ||
    fail "no '$1' transition matching '$2': $(tail -n 3 transitions.txt)"
}

# ---- an artifact corrupted in the store ---------------------------------------------
"$LEDGE" fleet publish clf@3.0 --model m/tiny_v2.onnx --fleet "$FLEET" --store "$STORE" >/dev/null
art=$(ls -t store/artifacts | head -n 1)
"$PY" -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0xff; open(p,"wb").write(b)' store/artifacts/$art
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@3.0 >/dev/null
wait_transition failed "digest mismatch"
expect_unchanged
[[ ! -e car1/store/sha256/$art && -z $(ls car1/store/partial) ]] || fail "the corrupted artifact was kept"
ok "an artifact corrupted in the store is rejected (digest mismatch), nothing changed"

# ---- signatures ---------------------------------------------------------------------------
"$LEDGE" fleet keygen --fleet "$WORK/other" >/dev/null
"$LEDGE" fleet publish clf@9.0 --model m/tiny.onnx --fleet "$WORK/other" --store "$STORE" >/dev/null
"$LEDGE" fleet deploy --fleet "$WORK/other" --group cars --bundle "$WORK/otherb" clf@9.0 >/dev/null
mosquitto_pub $(MQ_TLS) -q 1 -r -t ledge/groups/cars/deployment -f otherb/deployment-*.json
wait_transition rejected "bad signature"
expect_unchanged
# A genuine deployment with its payload altered (version 1.0 -> 6.6).
"$PY" - fleet/deployments/group-cars/$(ls fleet/deployments/group-cars | head -n 1) tampered.json <<'PYEOF'
import base64, json, sys
env = json.load(open(sys.argv[1]))
payload = base64.b64decode(env["payload"]).replace(b'"version":"1.0"', b'"version":"6.6"').replace(b'"sequence":1', b'"sequence":2')
env["payload"] = base64.b64encode(payload).decode()
json.dump(env, open(sys.argv[2], "w"))
PYEOF
mosquitto_pub $(MQ_TLS) -q 1 -r -t ledge/car1/deployment -f tampered.json
wait_for 20 bash -c "[[ \$(grep -c '\"state\":\"rejected\"' $WORK/transitions.txt) -ge 2 ]]" || fail "altered payload accepted"
mosquitto_pub $(MQ_TLS) -q 1 -r -t ledge/car1/deployment -m '{"id":"x","sequence":99999999999999,"target":{"device":"car1"},"components":[]}'
wait_transition rejected "unsigned"
expect_unchanged
mosquitto_pub $(MQ_TLS) -q 1 -r -t ledge/car1/deployment -n
ok "rejected: another fleet's signature, an altered payload, an unsigned deployment"

# ---- an artifact outside the configured stores ---------------------------------------------
"$LEDGE" fleet publish clf@4.0 --model m/tiny.onnx --fleet "$FLEET" --store "file://$WORK/elsewhere" >/dev/null
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@4.0 >/dev/null
wait_transition failed "outside the configured stores"
expect_unchanged
ok "an artifact URI outside the configured stores is refused"

# ---- a model that fails its health check ------------------------------------------------------
head -c 3000 /dev/urandom >broken.onnx
"$LEDGE" fleet publish clf@5.0 --model broken.onnx --fleet "$FLEET" --store "$STORE" >/dev/null
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@5.0 >/dev/null
wait_transition failed-rolled-back "cannot load the model"
expect_unchanged
[[ $(state car1 state) == failed-rolled-back ]] || fail "state $(state car1 state)"
"$LEDGE" fleet status --fleet "$FLEET" --broker "$BROKER" --group cars --json >st.json
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))[0]; assert d["state"]=="failed-rolled-back" and "model" in d["reason"] and d["components"]=={"clf":"1.0"}, d' st.json ||
  fail "fleet status after the failed health check: $(cat st.json)"
ok "a model that fails its health check is rolled back and reported (reason: $(state car1 reason | cut -c1-60)...)"

# ---- supervised components: crash loop, restart with backoff ----------------------------------
mkdir -p svc1 svc2
echo 'echo starting; exit 3' >svc1/run.sh
cat >svc1/recipe.json <<'JSON'
{"name": "svc", "version": "1", "kind": "command", "artifacts": [{"path": "run.sh"}],
 "lifecycle": {"run": "sh run.sh", "shutdown": {"timeout_s": 5}}, "health": {"type": "none", "window_s": 8}}
JSON
echo 'echo $$ > pid; exec sleep 1000' >svc2/run.sh
sed 's/"version": "1"/"version": "2"/; s/"window_s": 8/"window_s": 2/' svc1/recipe.json >svc2/recipe.json
"$LEDGE" fleet publish svc1 --fleet "$FLEET" --store "$STORE" >/dev/null
"$LEDGE" fleet publish svc2 --fleet "$FLEET" --store "$STORE" >/dev/null
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@1.0 svc@1 >/dev/null
wait_transition failed-rolled-back "crash loop"
expect_unchanged
ok "a component that crash-loops after the start is rolled back"

"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@1.0 svc@2 >/dev/null
wait_for 30 bash -c "grep '\"state\":\"succeeded\"' $WORK/transitions.txt | grep -q 'svc'" || fail "svc@2 did not succeed"
pid1=$(cat car1/components/svc/2/pid)
kill -KILL "$pid1"
wait_for 10 bash -c "[[ -s $WORK/car1/components/svc/2/pid && \$(cat $WORK/car1/components/svc/2/pid) != $pid1 ]]" ||
  fail "the crashed component was not restarted"
kill -0 "$(cat car1/components/svc/2/pid)" || fail "restarted component not running"
ok "a supervised component is restarted after a crash"

# ---- dependencies -----------------------------------------------------------------------------
mkdir -p svc3
cp svc2/run.sh svc3/
sed 's/"version": "2"/"version": "3"/; s/"kind": "command",/"kind": "command", "dependencies": {"clf": ">=2.0"},/' svc2/recipe.json >svc3/recipe.json
"$LEDGE" fleet publish svc3 --fleet "$FLEET" --store "$STORE" >/dev/null
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@1.0 svc@3 2>err.txt && fail "an unmet dependency was deployed"
grep -q "svc needs clf >=2.0, the deployment has 1.0" err.txt || fail "unclear error: $(cat err.txt)"
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars svc@3 2>err.txt && fail "a missing dependency was deployed"
grep -q "does not include" err.txt || fail "unclear error: $(cat err.txt)"
ok "dependencies: an unmet version or a missing component is refused with the reason"

# ---- failure policy do-nothing ----------------------------------------------------------------------
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars --failure-policy do-nothing clf@5.0 >/dev/null
wait_for 60 bash -c "grep -q '\"state\":[[:space:]]*\"failed\"' $WORK/car1/state.json" || fail "do-nothing: state $(state car1 state)"
[[ $(state car1 committed_components) == clf@5.0 ]] || fail "do-nothing rolled back: $(state car1 committed_components)"
ok "failure policy do-nothing: the failed deployment is reported and left in place"
