#!/bin/bash
# pipeline.fleet_deploy: the driver-monitor pipeline deployed as a component
# through `ledge fleet publish` and `ledge fleet deploy` to a ledged device
# behind a TLS Mosquitto (client certificates), on a real clip. The agent
# installs and supervises `ledge pipeline run`; the pipeline's state changes,
# alert and trip summary go through the agent's durable outbox and arrive at
# the broker on ledge/<device>/events; the alert frame goes through the
# agent's upload queue into its store; at the end of the clip, the trip summary.
#   usage: LEDGE=... LEDGED=... test_fleet_deploy.sh
source "$(dirname "$0")/../agent/lib.sh"
CLIP=/usr/share/doc/opencv-doc/examples/data/Megamind.avi
make_fleet
start_broker
STORE=file://$WORK/store
provision car1 cars "$STORE"

# The component: the pipeline configuration and its recorded predictions
# (looking away from 6 s to 11 s of the clip), run by the agent.
mkdir -p comp
"$PY" - comp <<'PYEOF'
import json, sys
d = sys.argv[1]
with open(f"{d}/replay.jsonl", "w") as f:
    t = 0.0
    while t < 12:
        st = "looking-away" if 6 <= t < 11 else "normal"
        p = {s: 0.05 for s in ["normal", "texting", "looking-away", "on-phone"]}
        p[st] = 0.85
        f.write(json.dumps({"t": round(t, 3), "probs": p}) + "\n")
        t += 0.1
PYEOF
cat >comp/pipeline.json <<JSON
{"name": "driver-monitor", "version": "1.0", "perception": "replay", "replay": "replay.jsonl",
 "source": {"input": "$CLIP", "realtime": true},
 "sinks": {"events": "", "alerts_dir": "alerts", "summary": true}}
JSON
cat >comp/recipe.json <<JSON
{"name": "driver-monitor", "version": "1.0", "kind": "pipeline",
 "artifacts": [{"path": "pipeline.json"}, {"path": "replay.jsonl"}],
 "lifecycle": {"run": "exec '$LEDGE' pipeline run pipeline.json", "shutdown": {"timeout_s": 10}},
 "health": {"type": "none", "window_s": 5}}
JSON
"$LEDGE" fleet publish comp --fleet "$FLEET" --store "$STORE" >publish.txt || fail "publish: $(cat publish.txt)"

# A persistent session, subscribed before anything is published (-E returns
# once the subscription is acknowledged), so that no event is missed however
# slowly the collector below connects.
mosquitto_sub $(MQ_TLS) -c -i events-collector -q 1 -t 'ledge/car1/events' -E 2>>sub.log
mosquitto_sub $(MQ_TLS) -c -i events-collector -q 1 -t 'ledge/car1/events' >events.jsonl 2>>sub.log &
PIDS+=("$!")
start_agent car1
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars driver-monitor@1.0 >/dev/null
wait_state car1 succeeded 60
[[ $(state car1 committed_components) == driver-monitor@1.0 ]] || fail "car1 runs $(state car1 committed_components)"
ok "driver-monitor@1.0 deployed through ledge fleet and running under ledged"

wait_for 60 grep -q '"rule":"long-distraction"\|"rule": "long-distraction"' events.jsonl ||
  fail "no alert arrived at the broker: $(head -c 2000 events.jsonl)"
"$PY" - events.jsonl "$WORK/car1/uploads" <<'PYEOF' || fail "events at the broker: $(head -c 3000 events.jsonl)"
import json, os, sys, time
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# At least once: a repeat (same event_id) is dropped, as consumers do.
data, seen = [], set()
for e in events:
    if e["data"]["event_id"] not in seen:
        seen.add(e["data"]["event_id"])
        data.append(e["data"])
assert all(e["device"] == "car1" for e in events), events
states = [d["state"] for d in data if d.get("type") == "state"]
assert states[:2] == ["normal", "looking-away"], states
alert = [d for d in data if d.get("type") == "alert"][0]
assert alert["rule"] == "long-distraction" and 8.9 <= alert["t"] <= 10.0 and alert["device"] == "car1", alert
# The alert frame, uploaded by the agent to its store under the event's id.
want = alert["event_id"] + ".jpg"
for _ in range(100):
    found = [os.path.join(r, f) for r, _, fs in os.walk(sys.argv[2]) for f in fs if f == want]
    if found:
        break
    time.sleep(0.1)
assert found and "/car1/" in found[0], (want, found)
print("ok: the alert at the broker (t %.1f s) and its frame in the agent's store" % alert["t"])
PYEOF
ok "state changes and the alert arrived at the broker through the agent's outbox; the frame was uploaded"
wait_for 60 grep -q '"type":"summary"\|"type": "summary"' events.jsonl || fail "no trip summary at the broker"
ok "the trip summary arrived at the end of the clip"
