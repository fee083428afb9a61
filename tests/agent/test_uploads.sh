#!/bin/bash
# agent.uploads: the upload queue for the frames that matter.
#   With no store configured, images land in the local default directory under
#   <device>/<yyyy>/<mm>/<dd>/<event-id>.jpg with a metadata sidecar. With an
#   S3 store (s3rver) that is down at first, uploads are retried with backoff and
#   arrive once it is up, with x-amz-meta-* metadata; a bandwidth budget of
#   1.5 images per hour lets one through and holds the rest, which survive a
#   kill -9 of the agent. While an upload hangs on a store that does not
#   answer, the agent still confirms its components' events.
source "$(dirname "$0")/lib.sh"
make_fleet
start_broker
provision car1 cars
start_agent car1
JPG=$WORK/m/cat.jpg
SIZE=$(stat -c %s "$JPG")
"$LEDGED" --config car1/ledged.conf --upload "$JPG" --event-id ev1 --model-version clf@1.0 >/dev/null || fail "upload refused"
day=$(date -u +%Y/%m/%d)
wait_for 10 test -f "car1/uploads/car1/$day/ev1.json" || fail "not uploaded to the local store: $(find car1/uploads)"
cmp "$JPG" "car1/uploads/car1/$day/ev1.jpg" || fail "uploaded image differs"
"$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["device"]=="car1" and m["event_id"]=="ev1" and m["model_version"]=="clf@1.0" and m["time"].endswith("Z"), m' \
  "car1/uploads/car1/$day/ev1.json" || fail "sidecar metadata"
"$LEDGED" --config car1/ledged.conf --upload "$WORK/m/tiny.onnx" --event-id bad 2>err.txt && fail "a non-JPEG was queued"
grep -q "not a JPEG" err.txt || fail "unclear error: $(cat err.txt)"
"$LEDGED" --config car1/ledged.conf --upload "$JPG" --event-id "../x" 2>err.txt && fail "a bad event id was queued"
ok "local default store: <device>/$day/ev1.jpg and its metadata; a non-JPEG and a bad id refused"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
S3_PORT=$(free_port)
provision car2 cars
budget=$((SIZE * 3 / 2))
printf 'upload_store = s3://frames/cars\ns3_endpoint = http://127.0.0.1:%s\ns3_access_key = S3RVER\ns3_secret_key = S3RVER\nupload_budget_bytes_per_hour = %s\n' \
  "$S3_PORT" "$budget" >>car2/ledged.conf
start_agent car2
for e in ev2 ev3 ev4; do "$LEDGED" --config car2/ledged.conf --upload "$JPG" --event-id $e --model-version clf@2.0 >/dev/null; done
wait_for 10 grep -q "upload of ev2 failed" car2.log || fail "no failed attempt while the store is down"
mkdir -p s3data
"$SRC/node_modules/.bin/s3rver" -d "$WORK/s3data" -a 127.0.0.1 -p "$S3_PORT" --configure-bucket frames >s3rver.log 2>&1 &
PIDS+=("$!")
key=cars/car2/$day/ev2.jpg
get() { curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
wait_for 60 "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$S3_PORT" ||
  fail "s3rver did not start"
# s3rver (a filesystem store) can answer a GET with an empty body while it
# is still writing the object, so the image is waited for whole; an upload
# that stored anything else never matches and fails here.
fetched_whole() { get -o got.jpg "http://127.0.0.1:$S3_PORT/frames/$key" && cmp -s got.jpg "$JPG"; }
wait_for 120 fetched_whole || fail "ev2 never reached the store whole ($(stat -c %s got.jpg 2>/dev/null || echo no) bytes of $SIZE)"
get -I "http://127.0.0.1:$S3_PORT/frames/$key" | tr -d '\r' >head.txt
grep -qi "^x-amz-meta-event-id: ev2" head.txt && grep -qi "^x-amz-meta-model-version: clf@2.0" head.txt &&
  grep -qi "^x-amz-meta-device: car2" head.txt || fail "metadata: $(cat head.txt)"
ok "S3 store down at first: retried with backoff, then uploaded with its metadata"

pending() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from uploads").fetchone()[0])' "$WORK/car2/outbox.db"; }
sleep 2
[[ $(pending) == 2 ]] || fail "the budget let $(pending) of 3 through"
get -o /dev/null "http://127.0.0.1:$S3_PORT/frames/cars/car2/$day/ev3.jpg" && fail "ev3 uploaded beyond the budget"
kill9_agent car2
start_agent car2
sleep 1
[[ $(pending) == 2 && -f car2/uploads-queue/ev3.jpg && -f car2/uploads-queue/ev4.jpg ]] || fail "queued uploads lost across kill -9"
ok "budget of $budget bytes/hour: one image through, two held, kept across a kill -9"

# A store that takes the upload and then does not answer (a stalled link):
# the agent keeps confirming its components' events meanwhile. The store
# holds the PUT until the test creates release; the event is confirmed while
# it is held (ordering, not timing: a blocked agent would never answer
# `--emit` before the release, and --emit gives up after 10 s).
STALL_PORT=$(free_port)
"$PY" - "$STALL_PORT" "$WORK" <<'PYEOF' >stall.log 2>&1 &
import http.server, os, sys, time
port, work = int(sys.argv[1]), sys.argv[2]
class Stall(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        open(os.path.join(work, "stall.holding"), "w").close()
        while not os.path.exists(os.path.join(work, "stall.release")):
            time.sleep(0.05)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Stall).serve_forever()
PYEOF
PIDS+=("$!")
wait_for 30 "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$STALL_PORT" ||
  fail "the stalling store did not start"
provision car3 cars
printf 'upload_store = s3://frames/cars\ns3_endpoint = http://127.0.0.1:%s\ns3_access_key = S3RVER\ns3_secret_key = S3RVER\n' \
  "$STALL_PORT" >>car3/ledged.conf
start_agent car3
"$LEDGED" --config car3/ledged.conf --upload "$JPG" --event-id ev5 >/dev/null || fail "upload refused"
wait_for 30 test -f stall.holding || fail "the upload never reached the stalling store"
"$LEDGED" --config car3/ledged.conf --emit events '{"during": "a stalled upload"}' >emit.txt 2>&1 ||
  fail "the agent did not confirm an event while an upload hung: $(cat emit.txt)"
[[ ! -e stall.release ]] || fail "the test released the store too early; it proves nothing"
touch stall.release
wait_for 30 bash -c "[[ \$(\"$PY\" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from uploads\").fetchone()[0])' '$WORK/car3/outbox.db') == 0 ]]" ||
  fail "the upload did not finish after the store answered"
ok "an upload hanging on the store: the agent confirmed a component's event meanwhile, then finished the upload"
