# tests/agent/lib.sh: a fleet on one machine (sourced by the agent tests).
# Mosquitto with TLS client certificates made by `ledge fleet keygen/provision`,
# optional s3rver, and ledged processes with their own data directories, all on
# 127.0.0.1 with free ports, in $WORK; everything is stopped on exit.
set -euo pipefail
PY=${LEDGE_PYTHON:-/usr/bin/python3}
LEDGE=${LEDGE:?set LEDGE to the ledge binary}
LEDGED=${LEDGED:?set LEDGED to the ledged binary}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# Under the directory ctest runs us in (the build tree), unless its path is too
# long for the agents' unix sockets (108 bytes).
if ((${#PWD} < 60)) && [[ -w $PWD ]]; then
  WORK=$(mktemp -d "$PWD/work.XXXXXX")
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledge-agent-test.XXXXXX")
fi
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n ${MOUNTED:-} ]] && umount "$MOUNTED" 2>/dev/null || true
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$WORK"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done
  exit 1
}
ok() { echo "ok: $*"; }
cd "$WORK"

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s.
wait_for() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# The fleet: keys, the tiny test models (tests/serve/make_model.py).
make_fleet() {
  "$LEDGE" fleet keygen --fleet "$WORK/fleet" >/dev/null
  "$PY" "$SRC/tests/serve/make_model.py" "$WORK/m" >/dev/null
  FLEET=$WORK/fleet
}

# start_broker [extra config lines]: Mosquitto with TLS and required client
# certificates on BROKER_PORT (chosen once, kept across restarts).
start_broker() {
  BROKER_PORT=${BROKER_PORT:-$(free_port)}
  BROKER=mqtts://127.0.0.1:$BROKER_PORT
  {
    echo "per_listener_settings false"
    echo "listener $BROKER_PORT 127.0.0.1"
    echo "cafile $FLEET/ca.pem"
    echo "certfile $FLEET/broker.pem"
    echo "keyfile $FLEET/broker.key"
    echo "require_certificate true"
    echo "use_identity_as_username true"
    echo "allow_anonymous false"
    echo "user $(id -un)"
    echo "persistence true"
    echo "persistence_location $WORK/"
    echo "max_packet_size 131072"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$WORK/broker.conf"
  /usr/sbin/mosquitto -c "$WORK/broker.conf" >>"$WORK/broker.log" 2>&1 &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  wait_for 10 "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$BROKER_PORT" ||
    fail "broker did not start"
}
stop_broker() {
  kill -TERM "$BROKER_PID"
  wait "$BROKER_PID" 2>/dev/null || true
}

# mosquitto_sub/pub with the operator's certificate.
MQ_TLS() { echo "-h 127.0.0.1 -p $BROKER_PORT --cafile $FLEET/ca.pem --cert $FLEET/operator.pem --key $FLEET/operator.key"; }

# provision NAME GROUP [store URL] [extra provision args]: DEVDIR is $WORK/NAME.
provision() {
  local name=$1 group=$2 store=${3:-file://$WORK/store}
  shift 3 || shift $#
  "$LEDGE" fleet provision "$name" --fleet "$FLEET" --group "$group" --broker "$BROKER" --store "$store" \
    --out "$WORK/$name" "$@" >/dev/null
  echo "status_interval_s = 5" >>"$WORK/$name/ledged.conf"
}

# start_agent NAME [env...]: runs ledged for $WORK/NAME; sets AGENT_PID_<NAME>.
start_agent() {
  local name=$1
  shift
  env "$@" "$LEDGED" --config "$WORK/$name/ledged.conf" >>"$WORK/$name.out" 2>>"$WORK/$name.log" &
  local pid=$!
  PIDS+=("$pid")
  printf -v "AGENT_PID_${name//[^A-Za-z0-9]/_}" %s "$pid"
  wait_for 30 test -S "$WORK/$name/agent.sock" || fail "agent $name did not start"
}
agent_pid() { local v="AGENT_PID_${1//[^A-Za-z0-9]/_}"; echo "${!v}"; }
kill9_agent() { kill -KILL "$(agent_pid "$1")"; wait "$(agent_pid "$1")" 2>/dev/null || true; }
stop_agent() { kill -TERM "$(agent_pid "$1")"; wait "$(agent_pid "$1")" 2>/dev/null || true; }

# state NAME FIELD: a field of the agent's durable state (state.json).
state() {
  "$PY" - "$WORK/$1/state.json" "$2" <<'PYEOF'
import json, sys, base64
s = json.load(open(sys.argv[1]))
f = sys.argv[2]
if f in ("committed_components", "pending_id", "committed_id"):
    key = "pending" if f == "pending_id" else "committed"
    env = s.get(key)
    if not env:
        print("")
    else:
        d = json.loads(base64.b64decode(json.loads(env)["payload"]))
        if f.endswith("_id"):
            print(d["id"])
        else:
            print(",".join(f"{c['name']}@{c['version']}" for c in d["components"]))
else:
    print(s.get(f, ""))
PYEOF
}
# wait_state NAME STATE [SECONDS]: until state.json says STATE for the last deployment.
wait_state() {
  local name=$1 want=$2 limit=${3:-60}
  wait_for "$limit" bash -c "grep -q '\"state\":[[:space:]]*\"$want\"' '$WORK/$name/state.json'" ||
    fail "$name never reached state $want (state: $(state "$name" state), reason: $(state "$name" reason))"
}

# watch_status: records every deployment status transition to $WORK/transitions.txt.
watch_status() {
  # Subscribed (and acknowledged) before returning, in a persistent session
  # that the background collector resumes: no transition is missed.
  mosquitto_sub $(MQ_TLS) -c -i status-watcher -q 1 -t 'ledge/+/deployment/status' -E 2>>"$WORK/sub.log"
  mosquitto_sub $(MQ_TLS) -c -i status-watcher -q 1 -v -t 'ledge/+/deployment/status' >>"$WORK/transitions.txt" 2>>"$WORK/sub.log" &
  PIDS+=("$!")
}
