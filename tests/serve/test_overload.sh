#!/bin/bash
# serve.overload: readiness, bounded queue, deadlines, slow clients and SIGTERM.
# LEDGE_SERVE_TEST_DELAY_MS makes every model run (and the warm-up) take that
# long, so that "busy" is a state the test controls, not a race it hopes for.
# Nothing here asserts on time: waits only bound how long a failure takes.
source "$(dirname "$0")/lib.sh"
make_fixtures
M=$WORK/m
cd "$WORK"
"$PY" -c 'import numpy as np; np.save("x.npy", np.random.default_rng(7).standard_normal((1,3,32,32)).astype(np.float32))'
post() { curl -s -o "$1" -D "$1.h" -w '%{http_code}\n' -H 'Content-Type: application/x-npy' --data-binary @x.npy "http://127.0.0.1:$PORT/invocations"; }

# ---- 503 while loading, then 200 once warm ----------------------------------------
LEDGE_SERVE_TEST_DELAY_MS=3000 start_server loading --model tiny=$M/tiny.onnx --threads 1 --queue 1
code=$(curl -s -o ping.json -D ping.h -w '%{http_code}' http://127.0.0.1:$PORT/ping)
[[ $code == 503 ]] || fail "/ping during warm-up: $code"
code=$(post early.json)
[[ $code == 503 ]] || fail "/invocations during warm-up: $code"
grep -qi '^Retry-After: ' early.json.h || fail "no Retry-After while loading"
wait_ready
ok "/ping and /invocations answer 503 while the model loads and warms, then /ping 200"

# ---- queue full: 503 + Retry-After at once; everything else 200 ---------------------
# one worker busy for 3 s per request, one queue slot: of 6 parallel requests at
# most 2 can be taken; the others must be refused at once.
CLIENTS=()
for i in 1 2 3 4 5 6; do post q$i.json >q$i.code & CLIENTS+=($!); done
wait "${CLIENTS[@]}"
codes=$(cat q*.code | sort | uniq -c | tr '\n' ' ')
n503=$(grep -c '^503$' q*.code | awk -F: '{s+=$2} END {print s}')
n200=$(grep -c '^200$' q*.code | awk -F: '{s+=$2} END {print s}')
[[ $((n503 + n200)) == 6 ]] || fail "unexpected codes under overload: $codes"
((n503 >= 4)) || fail "expected at least 4 refusals with queue 1 + 1 worker: $codes"
for i in 1 2 3 4 5 6; do
  if grep -q 503 q$i.code; then
    grep -qi '^Retry-After: 1' q$i.json.h || fail "503 without Retry-After"
    "$PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))["code"] == 503' q$i.json
  fi
done
curl -sf http://127.0.0.1:$PORT/metrics >metrics.txt
grep -q '^ledge_requests_total{model="tiny",code="503"} ' metrics.txt || fail "503s not counted"
ok "bounded queue: $n200 answered, $n503 refused with 503 + Retry-After"
stop_server $SERVER_PID

# ---- deadline: 504 while queued or running; the server stays healthy -----------------
LEDGE_SERVE_TEST_DELAY_MS=3000 start_server deadline --model tiny=$M/tiny.onnx --threads 1 --timeout-ms 500 --queue 8
wait_ready
CLIENTS=()
for i in 1 2 3; do post d$i.json >d$i.code & CLIENTS+=($!); done
wait "${CLIENTS[@]}"
[[ $(cat d*.code | sort -u) == 504 ]] || fail "deadline: $(cat d*.code | tr '\n' ' ')"
"$PY" -c 'import json; j=json.load(open("d1.json")); assert j["code"]==504 and "deadline" in j["error"], j'
[[ $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/ping) == 200 ]] || fail "/ping after deadlines"
ok "requests past --timeout-ms get 504 (queued and running)"
stop_server $SERVER_PID
[[ $STOP_RC == 0 ]] || fail "exit code $STOP_RC"

# ---- slow client: an unfinished request is cut off by the idle timeout ---------------
start_server slow --model tiny=$M/tiny.onnx --threads 1 --io-timeout 1
wait_ready
"$PY" - "$PORT" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-npy\r\nContent-Length: 1000\r\n\r\nabc")
s.settimeout(30)
t = time.time()
data = s.recv(100)   # the server closes the connection (b"") instead of waiting forever
assert data == b"" or data.startswith(b"HTTP/1.1 4"), data
PYEOF
code=$(post ok.json)
[[ $code == 200 ]] || fail "after a slow client: $code"
ok "a slow client is disconnected by --io-timeout; others are served"
stop_server $SERVER_PID

# ---- SIGTERM with requests in flight: all answered, exit 0 ----------------------------
LEDGE_SERVE_TEST_DELAY_MS=1500 start_server term --model tiny=$M/tiny.onnx --threads 2 --queue 8
wait_ready
CLIENTS=()
for i in 1 2 3 4 5 6; do post t$i.json >t$i.code & CLIENTS+=($!); done
for i in $(seq 1 300); do
  n=$(curl -s http://127.0.0.1:$PORT/metrics | awk '/^ledge_inflight_requests/ {print $2}')
  [[ $n == 6 ]] && break
  sleep 0.05
done
[[ $n == 6 ]] || fail "requests never got in flight ($n)"
stop_server $SERVER_PID
wait "${CLIENTS[@]}"
[[ $STOP_RC == 0 ]] || fail "exit code $STOP_RC after SIGTERM"
[[ $(cat t*.code | sort -u) == 200 ]] || fail "in-flight requests not all answered: $(cat t*.code | tr '\n' ' ')"
grep -q 'stopped' "$WORK/term.log" || fail "no clean stop in the log"
ok "SIGTERM with 6 requests in flight: all 6 answered 200, exit 0"
echo PASS
