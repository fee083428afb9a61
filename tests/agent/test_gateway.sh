#!/bin/bash
# agent.gateway: a device serves its group. A component whose run step is the
# `ledge serve` MQTT worker, deployed and supervised by ledged, answers a
# weaker neighbour's inference request on the group's local broker (MQTT 5
# response topic), and its answer matches `ledge run` on the same input.
source "$(dirname "$0")/lib.sh"
make_fleet
start_broker
LOCAL_PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\n' "$LOCAL_PORT" "$(id -un)" >local.conf
/usr/sbin/mosquitto -c local.conf >local-broker.log 2>&1 &
PIDS+=("$!")
wait_for 10 "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$LOCAL_PORT"
mkdir -p gw
cp m/tiny.onnx m/tiny.json gw/
cat >gw/recipe.json <<JSON
{"name": "gateway", "version": "1", "kind": "command",
 "artifacts": [{"path": "tiny.onnx"}, {"path": "tiny.json"}],
 "lifecycle": {"run": "exec '$LEDGE' serve --model tiny=tiny.onnx --no-http --mqtt mqtt://127.0.0.1:$LOCAL_PORT --mqtt-client-id gw-car1",
               "shutdown": {"timeout_s": 5}},
 "health": {"type": "inference", "artifact": "tiny.onnx", "timeout_s": 20, "window_s": 3}}
JSON
"$LEDGE" fleet publish gw --fleet "$FLEET" --store "file://$WORK/store" >/dev/null
provision car1 cars
start_agent car1
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars gateway@1 >/dev/null
wait_state car1 succeeded
wait_for 30 grep -q subscribed car1/logs/gateway.log || fail "the worker never subscribed: $(tail -n 5 car1/logs/gateway.log)"
"$PY" "$SRC/tests/serve/check.py" preprocess m/cat.jpg pre.npy 36 32
"$LEDGE" run m/tiny.onnx --input input=pre.npy --output-dir ref >/dev/null
mosquitto_sub -V 5 -h 127.0.0.1 -p "$LOCAL_PORT" -t 'replies/#' -C 1 -W 30 >reply.json &
SUB=$!
sleep 0.5
mosquitto_pub -V 5 -h 127.0.0.1 -p "$LOCAL_PORT" -q 1 -t ledge/infer/tiny/request -D publish response-topic replies/n1 \
  -D publish content-type image/jpeg -f m/cat.jpg
wait $SUB || fail "no reply from the gateway"
"$PY" -c 'import json; j=json.load(open("reply.json")); assert j["code"]==200, j; json.dump(j["result"], open("result.json","w"))'
"$PY" "$SRC/tests/serve/check.py" probs result.json ref/logits.npy || fail "the gateway's answer differs from ledge run"
ok "a deployed gateway component answers a neighbour's MQTT inference request like ledge run"
