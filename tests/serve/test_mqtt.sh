#!/bin/bash
# serve.mqtt: the MQTT worker against a real Mosquitto broker on loopback,
# with mosquitto_pub / mosquitto_sub as independent clients.
#   MQTT 5 response topic + correlation data; 3.1.1 envelope and response topic;
#   malformed and oversized requests get error replies; two workers on one shared
#   subscription split 200 requests, one stopped halfway, each answered once; TLS with client certificates
#   (and a wrong certificate refused).
source "$(dirname "$0")/lib.sh"
make_fixtures
M=$WORK/m
cd "$WORK"
CHECK="$PY $HERE/check.py"

BP=$(free_port)
start_broker b1 $BP
MQ="-h 127.0.0.1 -p $BP"
start_worker w1 --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id w1 --threads 2

# ---- MQTT 5: response topic + correlation data ---------------------------------------
$CHECK preprocess $M/cat.jpg pre.npy 36 32
"$LEDGE" run $M/tiny.onnx --input input=pre.npy --output-dir ref >/dev/null
mosquitto_sub -V 5 $MQ -t 'replies/#' -C 3 -W 60 -F '%t %p' >v5.txt &
SUB=$!
sleep 0.5
mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -D publish response-topic replies/a \
  -D publish correlation-data corr-1 -D publish content-type image/jpeg -f $M/cat.jpg
mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -D publish response-topic replies/b -m 'garbage{'
head -c 140000 /dev/zero >big.bin
mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -D publish response-topic replies/c -f big.bin
wait $SUB || fail "MQTT 5 replies missing: $(cat v5.txt)"
grep '^replies/a ' v5.txt | cut -d' ' -f2- >a.json
"$PY" -c 'import json; j=json.load(open("a.json")); assert j["code"]==200; json.dump(j["result"], open("a_result.json","w"))'
$CHECK probs a_result.json ref/logits.npy
grep '^replies/b ' v5.txt | cut -d' ' -f2- | "$PY" -c 'import json,sys; j=json.load(sys.stdin); assert j["code"]==400 and j["error"], j'
grep '^replies/c ' v5.txt | cut -d' ' -f2- | "$PY" -c 'import json,sys; j=json.load(sys.stdin); assert j["code"]==413 and "131072" in j["error"], j'
ok "MQTT 5: JPEG answered on the response topic (matches ledge run); garbage -> 400, 140 KB -> 413 replies"

# ---- MQTT 3.1.1: envelope with id and client ---------------------------------------------
B64=$(base64 -w0 $M/cat.jpg)
mosquitto_sub -V 311 $MQ -t ledge/infer/tiny/response/dev1 -C 1 -W 60 >v311.txt &
SUB=$!
sleep 0.5
mosquitto_pub -V 311 $MQ -q 1 -t ledge/infer/tiny/request -m "{\"id\": \"req-42\", \"client\": \"dev1\", \"data\": \"$B64\"}"
wait $SUB || fail "3.1.1 reply missing"
"$PY" -c 'import json; j=json.load(open("v311.txt")); assert j["id"]=="req-42" and j["code"]==200, j; json.dump(j["result"], open("b_result.json","w"))'
$CHECK probs b_result.json ref/logits.npy
ok "MQTT 3.1.1: envelope answered on ledge/infer/tiny/response/dev1 with its id"

# ---- two workers on one shared subscription, one stopped halfway ----------------------------
"$PY" - <<'PYEOF'
from PIL import Image
import base64, io, json
img = Image.open("m/cat.jpg").resize((64, 48))
buf = io.BytesIO(); img.save(buf, "JPEG", quality=80)
data = base64.b64encode(buf.getvalue()).decode()
with open("stream.txt", "w") as f:
    for i in range(200):
        f.write(json.dumps({"id": str(i), "client": "load", "data": data}) + "\n")
PYEOF
W1=$WORKER_PID
start_worker w2 --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id w2 --threads 1
W2=$WORKER_PID
mosquitto_sub -V 5 $MQ -q 1 -t ledge/infer/tiny/response/load -C 200 -W 180 >shared.txt &
SUB=$!
sleep 0.5
head -100 stream.txt | mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -l
for i in $(seq 1 600); do (($(wc -l <shared.txt) >= 50)) && break; sleep 0.05; done
kill -TERM $W1
tail -100 stream.txt | mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -l
wait $SUB || fail "shared: only $(wc -l <shared.txt) of 200 replies"
wait $W1 || fail "worker w1 did not exit cleanly"
"$PY" - <<'PYEOF'
import collections, json
replies = [json.loads(l) for l in open("shared.txt")]
ids = collections.Counter(r["id"] for r in replies)
assert sorted(ids, key=int) == [str(i) for i in range(200)] and set(ids.values()) == {1}, ids
assert all(r["code"] == 200 for r in replies), [r for r in replies if r["code"] != 200][:3]
workers = collections.Counter(r["worker"] for r in replies)
assert set(workers) == {"w1", "w2"} and min(workers.values()) > 0, workers
print("workers:", dict(workers))
PYEOF
ok "shared subscription: 200 requests, each answered once, split between two workers, one stopped halfway"

kill -TERM $WORKER_PID
wait $WORKER_PID || fail "w2 exit code"

# ---- TLS with client certificates ----------------------------------------------------------------
mkcert() { # mkcert NAME CA CN
  openssl req -newkey rsa:2048 -nodes -keyout $1.key -out $1.csr -subj "/CN=$3" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >ext.cnf
  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -out $1.pem -days 2 -extfile ext.cnf 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=ledge-test-ca 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout evil.key -out evil.pem -days 2 -subj /CN=evil-ca 2>/dev/null
mkcert server ca 127.0.0.1
mkcert client ca device-1
mkcert rogue evil device-2
TP=$(free_port)
start_broker b2 $TP "cafile $WORK/ca.pem" "certfile $WORK/server.pem" "keyfile $WORK/server.key" \
  "require_certificate true" "use_identity_as_username true"
start_worker tls --mqtt mqtts://127.0.0.1:$TP --mqtt-ca ca.pem --mqtt-cert client.pem --mqtt-key client.key \
  --mqtt-client-id tls1 --threads 1
TLS="-h 127.0.0.1 -p $TP --cafile ca.pem --cert client.pem --key client.key"
mosquitto_sub -V 5 $TLS -t replies/tls -C 1 -W 60 >tls.txt &
SUB=$!
sleep 0.5
mosquitto_pub -V 5 $TLS -q 1 -t ledge/infer/tiny/request -D publish response-topic replies/tls -f $M/cat.jpg
wait $SUB || fail "no reply over TLS"
"$PY" -c 'import json; j=json.load(open("tls.txt")); assert j["code"]==200, j'
rc=0
timeout 60 "$LEDGE" serve --model tiny=$M/tiny.onnx --no-http --mqtt mqtts://127.0.0.1:$TP --mqtt-ca ca.pem \
  --mqtt-cert rogue.pem --mqtt-key rogue.key --threads 1 >rogue.out 2>rogue.log || rc=$?
[[ $rc != 0 ]] || fail "a worker with a certificate from another CA was accepted"
grep -q 'cannot connect\|refused\|lost' rogue.log || fail "no clear error for the rogue certificate: $(cat rogue.log)"
ok "mqtts with client certificates; a certificate from another CA is refused"
echo PASS
