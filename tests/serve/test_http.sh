#!/bin/bash
# serve.http: ledge serve over HTTP against curl, on loopback.
# Predictions through every content type are compared with `ledge run` on the
# same input; then 415/400/413/404, /models, /metrics, top_k, hot swap under a
# stream of requests, HTTPS, and SIGTERM.
source "$(dirname "$0")/lib.sh"
make_fixtures
M=$WORK/m
CHECK="$PY $HERE/check.py"
cd "$WORK"

start_server main --model tiny=$M/tiny.onnx --model dyn=$M/tiny_dyn.onnx --threads 2 --max-body 1000000
wait_ready
URL=http://127.0.0.1:$PORT

# ---- .npy in, compared with ledge run ----------------------------------------
"$PY" -c 'import numpy as np; np.save("x.npy", np.random.default_rng(7).standard_normal((1,3,32,32)).astype(np.float32))'
"$LEDGE" run $M/tiny.onnx --input input=x.npy --output-dir ref >/dev/null
code=$(curl -s -o npy.json -w '%{http_code}' -H 'Content-Type: application/x-npy' --data-binary @x.npy $URL/invocations)
[[ $code == 200 ]] || fail "npy: HTTP $code: $(cat npy.json)"
$CHECK probs npy.json ref/logits.npy
curl -sf -o raw.npy -H 'Content-Type: application/x-npy' -H 'Accept: application/x-npy' --data-binary @x.npy $URL/invocations
$CHECK npy_equal raw.npy ref/logits.npy
ok "application/x-npy matches ledge run (probabilities, and raw output bit for bit)"

# ---- JSON instances ------------------------------------------------------------
$CHECK instances x.npy x.json
curl -sf -o json.json -H 'Content-Type: application/json' --data-binary @x.json $URL/invocations
$CHECK predictions json.json ref/logits.npy
# two instances: batch of 2 on the fixed-batch model (run one by one) and on the dynamic one
"$PY" -c 'import numpy as np; x=np.load("x.npy"); np.save("x2.npy", np.concatenate([x, x[:, :, ::-1]]))'
"$PY" -c 'import numpy as np; x=np.load("x2.npy"); [np.save(f"x2_{i}.npy", x[i:i+1]) for i in range(2)]'
$CHECK instances x2.npy x2.json
"$LEDGE" run $M/tiny.onnx --input input=x2_1.npy --output-dir ref2 >/dev/null
"$PY" -c 'import numpy as np; np.save("ref2.npy", np.concatenate([np.load("ref/logits.npy"), np.load("ref2/logits.npy")]))'
for model in tiny dyn; do
  curl -sf -o json2.json -H 'Content-Type: application/json' --data-binary @x2.json $URL/models/$model/invocations
  $CHECK predictions json2.json ref2.npy
done
ok "application/json instances (batch 1 and 2, fixed and dynamic batch) match ledge run"

# ---- images ----------------------------------------------------------------------
for img in cat.jpg cat.png; do
  ct=image/jpeg
  [[ $img == *.png ]] && ct=image/png
  $CHECK preprocess $M/$img pre_$img.npy 36 32
  "$LEDGE" run $M/tiny.onnx --input input=pre_$img.npy --output-dir ref_$img >/dev/null
  curl -sf -o img.npy -H "Content-Type: $ct" -H 'Accept: application/x-npy' --data-binary @$M/$img $URL/invocations
  $CHECK close img.npy ref_$img/logits.npy 1e-3
  curl -sf -o img.json -H 'Content-Type: application/x-image' --data-binary @$M/$img $URL/invocations
  $CHECK probs img.json ref_$img/logits.npy 2>/dev/null || $CHECK close img.npy ref_$img/logits.npy 1e-3
  curl -sf -o top.json -H "Content-Type: $ct" --data-binary @$M/$img "$URL/invocations?top_k=3"
  "$PY" - <<PYEOF
import json, numpy as np
got = json.load(open("top.json")); raw = np.load("img.npy").reshape(-1)
p = np.exp(raw - raw.max()); p /= p.sum()
labels = open("$M/labels.txt").read().split("\n")
order = np.argsort(-p, kind="stable")[:3]
assert [g["index"] for g in got] == list(order), (got, order)
assert all(g["label"] == labels[g["index"]] and abs(g["probability"] - p[g["index"]]) < 1e-5 for g in got), got
PYEOF
done
ok "image/jpeg, image/png, application/x-image match ledge run on the reference preprocessing; top_k labelled"

# ---- bad requests ------------------------------------------------------------------
expect() { # expect CODE curl-args...: the status and a JSON error body
  local want=$1
  shift
  local code
  code=$(curl -s -o err.json -w '%{http_code}' "$@")
  [[ $code == "$want" ]] || fail "expected $want, got $code for $*: $(cat err.json)"
  if [[ $want != 200 ]]; then
    "$PY" -c 'import json,sys; j=json.load(open("err.json")); assert j["code"]==int(sys.argv[1]) and j["error"], j' "$want" ||
      fail "no JSON error body for $want"
  fi
}
expect 415 -H 'Content-Type: text/plain' --data-binary 'hello' $URL/invocations
expect 400 -H 'Content-Type: image/jpeg' --data-binary 'not a jpeg at all' $URL/invocations
head -c 3000 $M/cat.jpg >trunc.jpg
expect 400 -H 'Content-Type: image/jpeg' --data-binary @trunc.jpg $URL/invocations
expect 400 -H 'Content-Type: application/json' --data-binary '{"instances": [[1, 2], [3]]}' $URL/invocations
expect 400 -H 'Content-Type: application/json' --data-binary '{"instances": ' $URL/invocations
expect 400 -H 'Content-Type: application/x-npy' --data-binary 'NUMPY?' $URL/invocations
head -c 1100000 /dev/zero >big.bin
expect 413 -H 'Content-Type: application/x-npy' --data-binary @big.bin $URL/invocations
expect 413 -H 'Content-Type: application/x-npy' -H 'Transfer-Encoding: chunked' --data-binary @big.bin $URL/invocations
expect 404 -H 'Content-Type: image/jpeg' --data-binary @$M/cat.jpg $URL/models/nope/invocations
expect 405 $URL/invocations
expect 404 $URL/nothing-here
expect 200 -H 'Content-Type: image/jpeg' -H 'X-Extra-Header: ignored' --data-binary @$M/cat.jpg $URL/invocations
ok "415, 400 (garbage image, truncated JPEG, ragged JSON, bad npy), 413 (length and chunked), 404, 405 with JSON bodies"

# ---- /models and /metrics ------------------------------------------------------------
curl -sf $URL/models >models.json
"$PY" - <<'PYEOF'
import json
m = json.load(open("models.json"))["models"]
assert [x["name"] for x in m] == ["tiny", "dyn"], m
t = m[0]
assert t["version"] == 1 and t["inputs"][0]["shape"] == [1, 3, 32, 32] and t["outputs"][0]["shape"] == [1, 10], t
assert t["outputs"][0]["dtype"] == "float32"
PYEOF
curl -sf $URL/metrics >metrics.txt
grep -q '^ledge_requests_total{model="tiny",code="200"} ' metrics.txt || fail "metrics: no 200 counter"
grep -q '^ledge_requests_total{model="tiny",code="413"} ' metrics.txt || fail "metrics: no 413 counter"
grep -q '^ledge_request_duration_seconds_bucket{model="tiny",le="+Inf"} ' metrics.txt || fail "metrics: no histogram"
grep -q '^ledge_queue_depth 0' metrics.txt || fail "metrics: queue depth"
grep -q '^ledge_inflight_requests ' metrics.txt || fail "metrics: in-flight"
grep -q '^ledge_batch_size_count ' metrics.txt || fail "metrics: batch sizes"
ok "/models and /metrics"

# ---- hot swap under a stream of requests -----------------------------------------------
"$LEDGE" run $M/tiny_v2.onnx --input input=x.npy --output-dir ref_v2 >/dev/null
(
  for i in $(seq 1 150); do
    curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/x-npy' --data-binary @x.npy $URL/invocations
  done >stream.codes
) &
STREAM=$!
sleep 0.3
code=$(curl -s -o put.json -w '%{http_code}' -X PUT --data-binary @$M/tiny_v2.onnx $URL/models/tiny)
[[ $code == 200 ]] || fail "PUT: HTTP $code $(cat put.json)"
wait $STREAM
[[ $(sort -u stream.codes) == 200 ]] || fail "requests failed during the swap: $(sort stream.codes | uniq -c)"
[[ $(wc -l <stream.codes) == 150 ]] || fail "lost requests during the swap"
curl -sf -o v2.npy -H 'Content-Type: application/x-npy' -H 'Accept: application/x-npy' --data-binary @x.npy $URL/invocations
$CHECK npy_equal v2.npy ref_v2/logits.npy
curl -sf $URL/models/tiny | "$PY" -c 'import json,sys; m=json.load(sys.stdin); assert m["version"]==2, m'
code=$(curl -s -o put.json -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
  --data "{\"path\": \"$M/tiny.onnx\"}" $URL/models/tiny)
[[ $code == 200 ]] || fail "PUT path: $code"
code=$(curl -s -o put.json -w '%{http_code}' -X PUT --data-binary 'garbage' $URL/models/tiny)
[[ $code == 400 ]] || fail "PUT garbage: $code"
curl -sf -o v1.npy -H 'Content-Type: application/x-npy' -H 'Accept: application/x-npy' --data-binary @x.npy $URL/invocations
$CHECK npy_equal v1.npy ref/logits.npy
ok "PUT /models/tiny swapped versions under 150 requests without a failure; a bad file keeps the old version"

stop_server $SERVER_PID
[[ $STOP_RC == 0 ]] || fail "exit code $STOP_RC after SIGTERM"

# ---- HTTPS -------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 2>/dev/null
start_server tls --model tiny=$M/tiny.onnx --tls-cert cert.pem --tls-key key.pem --threads 1
wait_ready https
curl -sf --cacert cert.pem -o tls.json -H 'Content-Type: application/x-npy' --data-binary @x.npy https://127.0.0.1:$PORT/invocations
$CHECK probs tls.json ref/logits.npy
if curl -s -o /dev/null http://127.0.0.1:$PORT/ping; then fail "plain HTTP accepted on the TLS port"; fi
stop_server $SERVER_PID
[[ $STOP_RC == 0 ]] || fail "TLS server exit code $STOP_RC"
ok "HTTPS with a certificate and key"
echo PASS
