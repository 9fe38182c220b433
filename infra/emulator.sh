#!/usr/bin/env bash
# The local AWS API emulator (moto's server) for tests: DynamoDB, SNS, SQS, EventBridge
# on one HTTP endpoint at 127.0.0.1, which the Rust SDK reaches through AWS_ENDPOINT_URL.
#
#   infra/emulator.sh start    start it in the background (no-op if running); prints env
#   infra/emulator.sh env      print the environment for the running emulator
#   infra/emulator.sh status   say whether it runs (exit 0) or not (exit 1)
#   infra/emulator.sh stop     stop it and remove its state files
#
# `eval "$(infra/emulator.sh start)"` points the current shell at it. The port is a free
# one unless MOTO_PORT is set. The pid, port and log live in target/moto/ (git-ignored).
# moto keeps everything in memory: a restart is a clean slate.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STATE="$ROOT/target/moto"
PIDFILE="$STATE/moto.pid"
PORTFILE="$STATE/moto.port"
LOG="$STATE/moto.log"
START_TIMEOUT="${MOTO_START_TIMEOUT:-30}"

say() { echo "infra/emulator.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

# True when the pid file names a live moto_server process (not a recycled pid).
running() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q moto_server
  else
    ps -o args= -p "$pid" 2>/dev/null | grep -q moto_server # macOS: no /proc
  fi
}

# True when the emulator answers HTTP on $1.
answers() {
  "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/data.json", timeout=2).read()
PY
}

print_env() {
  local port
  port="$(cat "$PORTFILE")"
  cat <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
EOF
}

free_port() {
  "$VENV/bin/python" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

cleanup_files() { rm -f "$PIDFILE" "$PORTFILE"; }

# Test processes may call start/stop at the same moment: one at a time.
lock() {
  mkdir -p "$STATE"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE/.lock"
    flock 9
  fi
}

start() {
  if running; then
    print_env
    return 0
  fi
  cleanup_files
  if [ ! -x "$VENV/bin/moto_server" ]; then
    "$ROOT/infra/setup.sh"
  fi

  local port="${MOTO_PORT:-}"
  if [ -z "$port" ]; then
    port="$(free_port)"
  elif answers "$port"; then
    die "MOTO_PORT=$port is already taken by another server"
  fi

  # setsid: the server outlives this script and the caller's Ctrl-C.
  local launcher=()
  command -v setsid >/dev/null 2>&1 && launcher=(setsid)
  # 9>&-: the server must not inherit (and so hold forever) the lock.
  # infra/moto_server.py: moto's server with each DynamoDB request atomic, as on AWS.
  "${launcher[@]}" "$VENV/bin/python" "$ROOT/infra/moto_server.py" -H 127.0.0.1 -p "$port" \
    </dev/null >"$LOG" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  echo "$port" >"$PORTFILE"

  local deadline=$((SECONDS + START_TIMEOUT))
  until answers "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      cleanup_files
      tail -n 20 "$LOG" >&2 || true
      die "moto_server exited during start-up (log: $LOG)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill "$pid" 2>/dev/null || true
      cleanup_files
      tail -n 20 "$LOG" >&2 || true
      die "moto_server did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s (log: $LOG)"
    fi
    sleep 0.2
  done
  say "moto_server pid $pid on http://127.0.0.1:$port (log: $LOG)"
  print_env
}

stop() {
  if running; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    say "stopped moto_server pid $pid"
  fi
  cleanup_files
}

status() {
  if running; then
    echo "running: pid $(cat "$PIDFILE"), http://127.0.0.1:$(cat "$PORTFILE")"
  else
    echo "not running"
    return 1
  fi
}

case "${1:-}" in
  start) lock; start ;;
  stop) lock; stop ;;
  status) status ;;
  env) running || die "the emulator is not running (infra/emulator.sh start)"; print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
