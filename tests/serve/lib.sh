# tests/serve/lib.sh: helpers for the ledge serve tests (sourced).
# Every service runs on 127.0.0.1 on a free port, in $WORK, and is stopped on exit.
set -euo pipefail
PY=${LEDGE_PYTHON:-/usr/bin/python3}
LEDGE=${LEDGE:?set LEDGE to the ledge binary}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ledge-serve-test.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Test fixtures: the tiny models, sidecars, cat.jpg/cat.png.
make_fixtures() {
  "$PY" "$HERE/make_model.py" "$WORK/m" >/dev/null
}

# start_server NAME [ledge serve args...]: runs ledge serve on a free port;
# sets SERVER_PID and PORT; logs in $WORK/NAME.log.
start_server() {
  local name=$1
  shift
  local out="$WORK/$name.out"
  "$LEDGE" serve --host 127.0.0.1 --port 0 "$@" >"$out" 2>"$WORK/$name.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 1 600); do
    if grep -q '"listening"' "$out" 2>/dev/null; then
      PORT=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["port"])' "$out")
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; fail "server $name exited"; }
    sleep 0.05
  done
  fail "server $name did not start"
}

# wait_ready: polls /ping until 200 (at most 2 minutes).
wait_ready() {
  local scheme=${1:-http} i
  for i in $(seq 1 1200); do
    [[ $(curl -s -k -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$PORT/ping") == 200 ]] && return 0
    sleep 0.1
  done
  fail "server never became ready"
}

# stop_server PID: SIGTERM, then wait; sets STOP_RC to the exit code.
stop_server() {
  kill -TERM "$1"
  STOP_RC=0
  wait "$1" || STOP_RC=$?
}

# start_broker NAME PORT [extra config lines]: a Mosquitto broker on 127.0.0.1:PORT
# persisting to $WORK/NAME.db (so a restart with the same NAME keeps sessions);
# sets BROKER_PID.
start_broker() {
  local name=$1 port=$2
  shift 2
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "user $(id -un)"  # as root, stay root: the files are in our private folder
    echo "persistence true"
    echo "persistence_location $WORK/"
    echo "persistence_file $name.db"
    for line in "$@"; do echo "$line"; done
  } >"$WORK/$name.conf"
  mosquitto -c "$WORK/$name.conf" >>"$WORK/$name.broker.log" 2>&1 &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  local i
  for i in $(seq 1 200); do
    "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null && return 0
    sleep 0.05
  done
  cat "$WORK/$name.broker.log" >&2
  fail "broker $name did not start"
}

# start_worker NAME ARGS...: ledge serve --no-http with the tiny model; waits
# until it has subscribed; sets WORKER_PID.
start_worker() {
  local name=$1
  shift
  "$LEDGE" serve --model tiny=$WORK/m/tiny.onnx --no-http "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  WORKER_PID=$!
  PIDS+=("$WORKER_PID")
  local i
  for i in $(seq 1 600); do
    grep -q 'subscribed' "$WORK/$name.log" && return 0
    kill -0 $WORKER_PID 2>/dev/null || { cat "$WORK/$name.log" >&2; fail "worker $name exited"; }
    sleep 0.05
  done
  fail "worker $name never subscribed"
}

