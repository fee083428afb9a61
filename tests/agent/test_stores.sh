#!/bin/bash
# agent.stores: where artifacts come from, and kill -9 at the worst moments.
#   s3:// through a local S3-compatible server (npm s3rver; real S3 and MinIO
#   are the production targets), SigV4-signed by libcurl, for publish and
#   download; an https:// store (TLS verified against the fleet CA) served
#   slowly: the agent is killed -9 in the middle of the download and, restarted,
#   resumes it with a Range request; killed -9 again during activation (health
#   check of the new set), it restarts into the new deployment with only the
#   new set's processes running.
source "$(dirname "$0")/lib.sh"
make_fleet
start_broker
watch_status
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1

# ---- s3:// ------------------------------------------------------------------------------
S3_PORT=$(free_port)
mkdir -p s3data/models
"$SRC/node_modules/.bin/s3rver" -d "$WORK/s3data" -a 127.0.0.1 -p "$S3_PORT" --configure-bucket models >s3rver.log 2>&1 &
PIDS+=("$!")
wait_for 20 "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$S3_PORT" || fail "s3rver did not start"
S3=http://127.0.0.1:$S3_PORT
"$LEDGE" fleet publish clf@1.0 --model m/tiny.onnx --fleet "$FLEET" --store s3://models/fleet --s3-endpoint "$S3" >/dev/null ||
  fail "publish to s3"
provision car1 cars s3://models/fleet --s3-endpoint "$S3"
grep -q "s3_secret_key = S3RVER" car1/ledged.conf || fail "S3 credentials not in the config"
start_agent car1
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars clf@1.0 >/dev/null
wait_state car1 succeeded
cmp car1/components/clf/1.0/tiny.onnx m/tiny.onnx || fail "model from s3 differs"
ok "s3:// store (s3rver, SigV4): publish, signed download, install"

# ---- https:// with a kill -9 mid-download, resumed with Range ------------------------------------
# A file store that a (slow, 300 KB/s) HTTPS server publishes; TLS verified with the fleet CA.
mkdir -p web svc1 svc2
"$PY" "$HERE/slow_https.py" "$WORK/web" "$FLEET/broker.pem" "$FLEET/broker.key" 300000 "$WORK/ranges.txt" >port.txt &
PIDS+=("$!")
wait_for 10 test -s port.txt || fail "https server did not start"
HTTPS=https://127.0.0.1:$(cat port.txt)
echo 'echo $$ > pid; exec sleep 1000' >svc1/run.sh
cp svc1/run.sh svc2/run.sh
"$PY" -c 'import os; open("svc2/data.bin","wb").write(os.urandom(1500000))'
cat >svc1/recipe.json <<'JSON'
{"name": "svc", "version": "1", "kind": "command", "artifacts": [{"path": "run.sh"}],
 "lifecycle": {"run": "sh run.sh"}, "health": {"type": "none", "window_s": 1}}
JSON
cat >svc2/recipe.json <<'JSON'
{"name": "svc", "version": "2", "kind": "command", "artifacts": [{"path": "run.sh"}, {"path": "data.bin"}],
 "lifecycle": {"run": "sh run.sh"}, "health": {"type": "command", "script": "sleep 4", "window_s": 1}}
JSON
for c in svc1 svc2; do "$LEDGE" fleet publish $c --fleet "$FLEET" --store "file://$WORK/web" --public-url "$HTTPS" >/dev/null; done
printf 'store = %s\ns3_ca_file = %s\n' "$HTTPS" "$FLEET/ca.pem" >>car1/ledged.conf
kill -HUP "$(agent_pid car1)"
wait_for 10 grep -q "configuration reloaded" car1.log || fail "SIGHUP did not reload"
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars svc@1 >/dev/null
wait_for 30 test -s car1/components/svc/1/pid || fail "svc@1 never ran"
wait_for 30 bash -c "[[ \$(grep -c '\"state\":\"succeeded\"' $WORK/transitions.txt) -ge 2 ]]" || fail "svc@1 did not succeed"
OLD_PID=$(cat car1/components/svc/1/pid)
ok "https:// store over TLS (fleet CA), config reloaded with SIGHUP; svc@1 running"

"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars svc@2 >/dev/null
part() { ls "$WORK"/car1/store/partial/* 2>/dev/null | head -n 1; }
wait_for 30 bash -c "f=\$(ls $WORK/car1/store/partial/* 2>/dev/null | head -n 1); [[ -n \$f && \$(stat -c %s \$f) -gt 300000 ]]" ||
  fail "the download never got going"
kill9_agent car1
got=$(stat -c %s "$(part)")
((got > 0 && got < 1500000)) || fail "partial file has $got bytes"
start_agent car1
wait_for 5 bash -c "! kill -0 $OLD_PID" || fail "svc@1 of the killed agent is still running"
# Activation of svc@2 (health check: sleep 4): kill -9 again in the middle of it.
wait_for 60 test -s car1/components/svc/2/pid || fail "svc@2 never started after the resumed download"
grep -q "bytes=[1-9]" ranges.txt || fail "no Range request: $(cat ranges.txt)"
[[ $(state car1 pending_id) != "" ]] || fail "the deployment was committed before its health check"
NEW_PID=$(cat car1/components/svc/2/pid)
kill9_agent car1
start_agent car1
wait_for 5 bash -c "! kill -0 $NEW_PID" || fail "svc@2 of the killed agent is still running"
wait_for 30 bash -c "[[ \$(grep -c '\"state\":\"succeeded\"' $WORK/transitions.txt) -ge 3 ]]" || fail "svc@2 did not succeed after the restart"
[[ $(state car1 committed_components) == svc@2 && -z $(state car1 pending_id) ]] || fail "state after restart: $(state car1 committed_components)"
cmp car1/components/svc/2/data.bin svc2/data.bin || fail "resumed download differs"
n_svc=0
for p in $(pgrep -x sleep); do
  [[ $(readlink /proc/$p/cwd 2>/dev/null) == $WORK/car1/components/svc/* ]] && { n_svc=$((n_svc + 1)); cwd=$(readlink /proc/$p/cwd); }
done
[[ $n_svc == 1 && $cwd == */svc/2 ]] || fail "$n_svc component processes running (last in ${cwd:-none})"
ok "kill -9 during the download: resumed with a Range request; during activation: restarted into svc@2 alone (no mix)"

# ---- a newer deployment supersedes one still downloading ------------------------------------------
mkdir -p svc3 svc4
cp svc1/run.sh svc3/ && cp svc1/run.sh svc4/
"$PY" -c 'import os; open("svc3/data.bin","wb").write(os.urandom(3000000))'
sed 's/"version": "2"/"version": "3"/' svc2/recipe.json >svc3/recipe.json
sed 's/"version": "1"/"version": "4"/' svc1/recipe.json >svc4/recipe.json
for c in svc3 svc4; do "$LEDGE" fleet publish $c --fleet "$FLEET" --store "file://$WORK/web" --public-url "$HTTPS" >/dev/null; done
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars svc@3 >/dev/null
wait_for 30 bash -c "grep '\"state\":\"downloading\"' $WORK/transitions.txt | grep -q '\"svc\":\"3\"'" || fail "svc@3 never started downloading"
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars svc@4 >/dev/null
wait_for 30 bash -c "grep '\"state\":\"superseded\"' $WORK/transitions.txt | grep -q '\"svc\":\"3\"'" || fail "svc@3 was not superseded"
wait_for 30 bash -c "[[ \$(grep -c '\"state\":\"succeeded\"' $WORK/transitions.txt) -ge 4 ]]" || fail "svc@4 did not succeed"
[[ $(state car1 committed_components) == svc@4 ]] || fail "running $(state car1 committed_components)"
ok "a newer deployment supersedes one still downloading"

# ---- SIGTERM (systemctl stop) mid-download: not a failure, resumed at the next start ---------------
mkdir -p svc5
cp svc1/run.sh svc5/
"$PY" -c 'import os; open("svc5/data.bin","wb").write(os.urandom(3000000))'
sed 's/"version": "2"/"version": "5"/; s/"script": "sleep 4"/"script": "true"/' svc2/recipe.json >svc5/recipe.json
"$LEDGE" fleet publish svc5 --fleet "$FLEET" --store "file://$WORK/web" --public-url "$HTTPS" >/dev/null
"$LEDGE" fleet deploy --fleet "$FLEET" --broker "$BROKER" --group cars svc@5 >/dev/null
wait_for 30 bash -c "grep '\"state\":\"downloading\"' $WORK/transitions.txt | grep -q '\"svc\":\"5\"'" || fail "svc@5 never started downloading"
stop_agent car1
[[ -n $(state car1 pending_id) && $(state car1 committed_components) == svc@4 ]] || fail "after SIGTERM: pending '$(state car1 pending_id)', running $(state car1 committed_components)"
grep '"svc":"5"' transitions.txt | grep -q '"state":"failed"' && fail "a shutdown was reported as a failure"
start_agent car1
wait_for 60 bash -c "grep '\"state\":\"succeeded\"' $WORK/transitions.txt | grep -q '\"svc\":\"5\"'" || fail "svc@5 did not resume"
ok "SIGTERM mid-download leaves the deployment pending; the next start resumes and commits it"
