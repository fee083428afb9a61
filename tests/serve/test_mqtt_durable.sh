#!/bin/bash
# serve.mqtt_durable: what survives restarts, against a real Mosquitto broker.
#   1. the broker restarts (SIGTERM, same persistence file) in the middle of a
#      stream of 200 QoS 1 requests: every request is answered, exactly once by id;
#   2. the worker is away (SIGKILL while idle; SIGTERM with a plain subscription):
#      requests published meanwhile are answered when it returns (persistent session);
#   3. the worker is SIGKILLed while it holds acknowledged requests: with
#      --mqtt-journal it answers them after the restart (without it they would be lost);
#   4. one of two workers in a shared group is SIGKILLed for good: with
#      --mqtt-session-expiry 0 the other answers every later request.
source "$(dirname "$0")/lib.sh"
make_fixtures
cd "$WORK"

# make_stream PREFIX N FILE: N 3.1.1-style envelopes with ids PREFIX0..PREFIX(N-1)
make_stream() {
  "$PY" - "$@" <<'PYEOF'
import base64, io, json, sys
from PIL import Image
prefix, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
buf = io.BytesIO()
Image.open("m/cat.jpg").resize((48, 36)).save(buf, "JPEG", quality=80)
data = base64.b64encode(buf.getvalue()).decode()
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": f"{prefix}{i}", "client": "load", "data": data}) + "\n")
PYEOF
}

# check_replies FILE PREFIX N: every id PREFIX0.. answered with 200. A reply may
# reach the consumer twice (QoS 1 is at least once between the broker and the
# consumer: a restarted broker resends what it had not seen acknowledged), but
# then as the same message, not a second computation.
check_replies() {
  "$PY" - "$@" <<'PYEOF'
import collections, json, sys
path, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [l for l in open(path) if l.strip()]
replies = [json.loads(l) for l in lines]
mine = [r for r in replies if r["id"].startswith(prefix)]
ids = collections.Counter(r["id"] for r in mine)
missing = [f"{prefix}{i}" for i in range(n) if f"{prefix}{i}" not in ids]
assert not missing, f"{len(missing)} unanswered: {missing[:10]}"
assert set(ids) == {f"{prefix}{i}" for i in range(n)}, ids
copies = collections.defaultdict(set)
for line, r in zip(lines, replies):
    copies[r["id"]].add(line)
assert all(len(c) == 1 for c in copies.values()), "an id answered with two different replies"
bad = [r for r in mine if r["code"] != 200]
assert not bad, bad[:3]
print(f"{prefix}: {n} answered, {sum(ids.values()) - n} repeated")
PYEOF
}

# wait_lines FILE N: until FILE has N lines (a hang guard of 120 s). Lines,
# not ids: a repeated reply counts, so use it only where that errs on the safe
# side (to know that something arrived); wait_ids waits for a set of answers.
wait_lines() {
  local i
  for i in $(seq 1 2400); do
    (($(wc -l <"$1") >= $2)) && return 0
    sleep 0.05
  done
  fail "$1: only $(wc -l <"$1") of $2 lines"
}

# answered FILE PREFIX: how many distinct ids PREFIX<n> FILE holds
answered() {
  "$PY" - "$@" <<'PYEOF'
import json, re, sys
path, prefix = sys.argv[1], sys.argv[2]
ids = set()
for line in open(path):
    try:
        ids.add(json.loads(line)["id"])
    except (ValueError, KeyError):
        pass  # a line still being written
print(sum(1 for i in ids if re.fullmatch(re.escape(prefix) + r"[0-9]+", i)))
PYEOF
}

# wait_ids FILE PREFIX N: until ids PREFIX0..PREFIX(N-1) are all answered (120 s guard)
wait_ids() {
  local i
  for i in $(seq 1 1200); do
    (($(answered "$1" "$2") >= $3)) && return 0
    sleep 0.1
  done
  fail "$1: only $(answered "$1" "$2") of $3 answers to $2*"
}

BP=$(free_port)
MQ="-h 127.0.0.1 -p $BP"
start_broker b $BP
# The consumer keeps a persistent session too: replies published while the
# broker is down are delivered to it afterwards.
mosquitto_sub -V 5 $MQ -c -i consumer -q 1 -t ledge/infer/tiny/response/load >replies.txt 2>consumer.log &
CONSUMER=$!
PIDS+=("$CONSUMER")
sleep 0.5

# ---- 1. broker restart in the middle of a stream ---------------------------------------
# A plain subscription: Mosquitto 2.0 restores it from its persistence file,
# while a shared subscription ($share/...) is restored only when the worker
# resubscribes (see docs/serve.md).
export LEDGE_SERVE_TEST_DELAY_MS=15 # each run sleeps: the stream is still flowing at the restart
start_worker w --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id w-durable --mqtt-group '' --threads 1
unset LEDGE_SERVE_TEST_DELAY_MS
W=$WORKER_PID
make_stream r 200 stream.txt
head -100 stream.txt | mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -l
wait_lines replies.txt 20
kill -TERM $BROKER_PID
wait $BROKER_PID || true
(($(wc -l <replies.txt) < 100)) || fail "the stream ended before the broker restart; the test proves nothing"
echo "broker stopped after $(wc -l <replies.txt) of 200 replies"
start_broker b $BP
tail -100 stream.txt | mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -l
wait_ids replies.txt r 200
sleep 1 # a late duplicate would show here
check_replies replies.txt r 200
grep -q 'lost' w.log || fail "the worker never noticed the broker going away"
kill -TERM $W
wait $W || fail "worker exit code"
grep -q 'answered 200 request(s)' w.log || fail "the worker did not answer exactly 200: $(grep answered w.log)"
ok "broker restart mid-stream: 200 QoS 1 requests, each answered once by the worker ($(grep -o 'ignored [0-9]* repeated' w.log))"

# ---- 2. the worker away ----------------------------------------------------------------------
start_worker w --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id w-shared --threads 1
W=$WORKER_PID
kill -KILL $W
wait $W 2>/dev/null || true
make_stream k 20 away1.txt
mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -l <away1.txt
sleep 0.5
start_worker w --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id w-shared --threads 1
W=$WORKER_PID
wait_ids replies.txt k 20
grep -q 'session resumed' w.log || fail "the worker's session was not resumed: $(cat w.log)"
check_replies replies.txt k 20
ok "worker SIGKILLed while idle: 20 requests published while it was away answered when it came back"

kill -TERM $W
wait $W || fail "worker exit code"
start_worker w2 --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id w-plain --mqtt-group '' --threads 1
W=$WORKER_PID
kill -TERM $W
wait $W || fail "worker exit code"
make_stream t 20 away2.txt
mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -l <away2.txt
start_worker w2 --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id w-plain --mqtt-group '' --threads 1
W=$WORKER_PID
wait_ids replies.txt t 20
check_replies replies.txt t 20
ok "worker stopped with SIGTERM (plain subscription): requests published meanwhile answered on its return"
kill -TERM $W
wait $W || fail "worker exit code"

# ---- 3. SIGKILL while requests are acknowledged but not answered ---------------------------------
J=(--mqtt mqtt://127.0.0.1:$BP --mqtt-client-id w-journal --mqtt-group '' --threads 1 --mqtt-journal "$WORK/w.journal")
export LEDGE_SERVE_TEST_DELAY_MS=300 # requests are held by the worker when it is killed
start_worker wj "${J[@]}"
unset LEDGE_SERVE_TEST_DELAY_MS
W=$WORKER_PID
make_stream j 20 crash.txt
mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -l <crash.txt
wait_ids replies.txt j 2
kill -KILL $W
wait $W 2>/dev/null || true
before_kill=$(answered replies.txt j)
((before_kill < 20)) || fail "all 20 answered before the kill; the test proves nothing"
start_worker wj "${J[@]}"
W=$WORKER_PID
wait_ids replies.txt j 20
sleep 0.5
check_replies replies.txt j 20
replayed=$(grep -o 'answering [0-9]* request' wj.log | grep -o '[0-9]*' || echo 0)
((replayed > 0)) || fail "nothing was taken from the journal: $(cat wj.log)"
ok "worker SIGKILLed after $before_kill of 20 replies: $replayed acknowledged requests answered from the journal after the restart, none lost"
kill -TERM $W
wait $W || fail "worker exit code"

# ---- 4. a shared group member killed for good, with --mqtt-session-expiry 0 --------------------------
start_worker g1 --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id g1 --mqtt-session-expiry 0 --threads 1
G1=$WORKER_PID
start_worker g2 --mqtt mqtt://127.0.0.1:$BP --mqtt-client-id g2 --mqtt-session-expiry 0 --threads 1
G2=$WORKER_PID
kill -KILL $G2
wait $G2 2>/dev/null || true
sleep 0.5 # the broker sees the connection close
make_stream s 20 group.txt
mosquitto_pub -V 5 $MQ -q 1 -t ledge/infer/tiny/request -l <group.txt
wait_ids replies.txt s 20
check_replies replies.txt s 20
ok "shared group, one member SIGKILLed and gone: with --mqtt-session-expiry 0 the survivor answers all 20"
kill -TERM $G1
wait $G1 || fail "worker exit code"
echo PASS
