#!/usr/bin/env bash
# What the limit check costs (issue 7): the gateway benchmark through Serika three ways, in one
# bounded run, against the same stub with the same request, the configurations taking turns.
#
#   off       SERIKA_FREE_*=0 (unlimited: the limiter counts nothing), no Redis
#   on_local  limits on (high enough never to refuse), in-process counters
#   on_redis  limits on (same), SERIKA_REDIS_URL=<throwaway redis-server>: one Redis round
#             trip (the Lua script) per request, settled in the background
#
# Three Serika servers (SQLite, --workers 1, each its own data directory and key) all run
# pinned on the same CPU; only the one under load is busy. wrk, the stub and Redis run on the
# other CPU. Each round runs every configuration at 1 and at 32 connections, starting with a
# different one each round. See bench/LIMITS.md.
#
# Knobs (environment): BENCH_DURATION (s per wrk run, 5), BENCH_ROUNDS (4), BENCH_WARMUP (2 s),
# BENCH_CONNECTIONS ("1 32"; "32" alone puts the configurations' runs back to back, the pairs
# a machine whose speed drifts compares best), BENCH_PIN (1), BENCH_SERVER_CPU (0), BENCH_LOAD_CPU (1),
# BENCH_OUT (results directory; default bench/results/limits-<timestamp>).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-4}
WARMUP=${BENCH_WARMUP:-2}
read -r -a CONNECTIONS <<<"${BENCH_CONNECTIONS:-1 32}"
OUT=${BENCH_OUT:-$ROOT/bench/results/limits-$(date +%Y%m%d-%H%M%S)}
BENCH=("$PY" "$ROOT/bench/limits_bench.py")
REDIS_DIR=/tmp/limits-bench-redis

command -v wrk >/dev/null || { echo "limits.sh: wrk is not installed" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "limits.sh: redis-server is not installed" >&2; exit 2; }
[ -x "$PY" ] || { echo "limits.sh: no Python at $PY (run make run once)" >&2; exit 2; }

# The caller's Serika settings must not leak in.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^SERIKA_' || true)

if [ "${BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  SERVER_CPU=${BENCH_SERVER_CPU:-0}
  LOAD_CPU=${BENCH_LOAD_CPU:-1}
  ON_SERVER=(taskset -c "$SERVER_CPU")
  ON_LOAD=(taskset -c "$LOAD_CPU")
  PINNING="the three Serika servers on CPU $SERVER_CPU; stub, Redis and wrk on CPU $LOAD_CPU"
else
  ON_SERVER=()
  ON_LOAD=()
  PINNING="no CPU pinning"
fi

PIDS=()
STEP=
REDIS_STARTED=0
DATA=$(mktemp -d "${TMPDIR:-/tmp}/serika-limits-bench.XXXXXX")
cleanup() {
  local pid n
  [ -n "$STEP" ] && kill -TERM -- "-$STEP" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for n in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$REDIS_STARTED" = 1 ]; then
    [ -f "$REDIS_DIR/redis.log" ] && cp "$REDIS_DIR/redis.log" "$OUT/redis.log" 2>/dev/null
    bash "$ROOT/scripts/redis.sh" stop "$REDIS_DIR" || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
  setsid "$@" &
  STEP=$!
  local rc=0
  wait "$STEP" || rc=$?
  STEP=
  return "$rc"
}

mkdir -p "$OUT"
read -r STUB_PORT REDIS_PORT OFF_PORT LOCAL_PORT REDISON_PORT < <("$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
)
STUB=http://127.0.0.1:$STUB_PORT
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

echo "limits bench: results in ${OUT#"$ROOT"/}; $PINNING; load average before: $LOADAVG"
COMMAND="bash bench/limits.sh (BENCH_DURATION=$DURATION BENCH_ROUNDS=$ROUNDS BENCH_CONNECTIONS=${CONNECTIONS[*]})"
"${BENCH[@]}" meta "$OUT" --duration "$DURATION" --pinning "$PINNING" \
  --command-line "$COMMAND" --loadavg-before "$LOADAVG"

"${ON_LOAD[@]}" "$PY" bench/stub_upstream.py --port "$STUB_PORT" >"$OUT/stub.log" 2>&1 &
STUB_PID=$!
PIDS+=("$STUB_PID")

# Redis is daemonized by redis-server itself: it inherits the load CPU's affinity.
REDIS_STARTED=1
REDIS_URL=$("${ON_LOAD[@]}" bash scripts/redis.sh start "$REDIS_DIR" "$REDIS_PORT")
REDIS_PID=$(cat "$REDIS_DIR/redis.pid")
echo "redis at $REDIS_URL (pid $REDIS_PID)"

BASE_ENV=("SERIKA_OPENROUTER_API_KEY=bench-key" "SERIKA_OPENROUTER_BASE_URL=$STUB/v1")
HIGH=(
  "SERIKA_FREE_REQUESTS_PER_MINUTE=1000000000" "SERIKA_FREE_TOKENS_PER_MINUTE=1000000000000"
  "SERIKA_FREE_MONTHLY_TOKENS=1000000000000"
)
NONE=(
  "SERIKA_FREE_REQUESTS_PER_MINUTE=0" "SERIKA_FREE_TOKENS_PER_MINUTE=0"
  "SERIKA_FREE_MONTHLY_TOKENS=0"
)
declare -A PORT=([off]=$OFF_PORT [on_local]=$LOCAL_PORT [on_redis]=$REDISON_PORT)
declare -A PID KEY
start_serika() {  # NAME ENV...
  local name=$1
  shift
  mkdir -p "$DATA/$name"
  env "${BASE_ENV[@]}" "$@" "$PY" -m serika migrate --data-dir "$DATA/$name" \
    >"$OUT/serika-$name-migrate.log" 2>&1
  env "${BASE_ENV[@]}" "$@" "${ON_SERVER[@]}" "$PY" -m serika serve --host 127.0.0.1 \
    --port "${PORT[$name]}" --data-dir "$DATA/$name" --workers 1 >"$OUT/serika-$name.log" 2>&1 &
  PID[$name]=$!
  PIDS+=("${PID[$name]}")
}
start_serika off "${NONE[@]}"
start_serika on_local "${HIGH[@]}"
start_serika on_redis "${HIGH[@]}" "SERIKA_REDIS_URL=$REDIS_URL"

"${BENCH[@]}" wait "$STUB/healthz"
TARGETS=(off on_local on_redis)
for name in "${TARGETS[@]}"; do
  "${BENCH[@]}" wait "http://127.0.0.1:${PORT[$name]}/healthz"
  # setup checks the x-ratelimit-* headers: present with limits on, absent with them off.
  KEY[$name]=$("${BENCH[@]}" setup "http://127.0.0.1:${PORT[$name]}" --expect "$name")
done
url() { echo "http://127.0.0.1:${PORT[$1]}/api/openai/v1/chat/completions"; }

echo "warm-up (${WARMUP} s at 32 connections each):"
for name in "${TARGETS[@]}"; do
  step "${ON_LOAD[@]}" "${BENCH[@]}" wrk "$name" "$(url "$name")" -c 32 -d "$WARMUP" \
    --key "${KEY[$name]}"
done
redis-cli -p "$REDIS_PORT" info commandstats >"$OUT/redis-commandstats-before.txt"

echo "measuring ($ROUNDS rounds of ${DURATION} s wrk runs, the configurations taking turns):"
for round in $(seq "$ROUNDS"); do
  # Each round starts with the next configuration: a machine that slows down (or speeds up)
  # during a round must not always favour the same one.
  first=$(((round - 1) % ${#TARGETS[@]}))
  ORDER=("${TARGETS[@]:$first}" "${TARGETS[@]:0:$first}")
  for name in "${ORDER[@]}"; do
    for c in "${CONNECTIONS[@]}"; do
      extra=()
      [ "$name" = on_redis ] && extra=(--pid "redis=$REDIS_PID")
      step "${ON_LOAD[@]}" "${BENCH[@]}" wrk "$name" "$(url "$name")" -c "$c" -d "$DURATION" \
        --key "${KEY[$name]}" --out "$OUT" --round "$round" --pid "serika=${PID[$name]}" \
        --pid "stub=$STUB_PID" "${extra[@]}"
    done
  done
done

# Evidence that the Redis server really took the per-request script calls.
redis-cli -p "$REDIS_PORT" info commandstats >"$OUT/redis-commandstats-after.txt"
redis-cli -p "$REDIS_PORT" --scan >"$OUT/redis-keys.txt" || true
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/loadavg-after.txt"

echo
"${BENCH[@]}" report "$OUT" | tee "$OUT/summary.md"
