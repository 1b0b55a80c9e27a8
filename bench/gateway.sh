#!/usr/bin/env bash
# The gateway benchmark: one stub upstream measured four ways, in one bounded run.
#
#   direct      wrk -> bench/stub_upstream.py
#   relay       wrk -> bench/byte_relay.py -> stub   (bytes copied, no HTTP: the hop itself)
#   bare_proxy  wrk -> bench/bare_proxy.py -> stub   (aiohttp pass-through, nothing else)
#   serika      wrk -> serika serve --workers 1 -> stub   (auth, permission, routing, metering)
#
# For each: non-streaming req/s and p50/p99 at 1 and 32 connections (wrk), then the time to
# the first SSE event over sequential streams. Everything listens on 127.0.0.1; every process
# started here is stopped by the EXIT trap. See bench/GATEWAY.md.
#
# The machine may be shared, so each wrk run is repeated BENCH_ROUNDS times with the targets
# taking turns (medians reported), the streams alternate target by target, and the CPU time
# each server spends per request is measured too: it moves much less with the neighbours.
#
# Knobs (environment): BENCH_DURATION (s per wrk run, 5), BENCH_ROUNDS (4), BENCH_WARMUP (2 s),
# BENCH_STREAMS (200), BENCH_PIN (1: pin with taskset), BENCH_SERVER_CPU (0),
# BENCH_LOAD_CPU (1), BENCH_RT (0; 1: every process measured runs SCHED_FIFO),
# BENCH_PROFILE (1: also py-spy the Serika worker under load),
# BENCH_OUT (results directory; default bench/results/gateway-<timestamp>).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-4}
WARMUP=${BENCH_WARMUP:-2}
STREAMS=${BENCH_STREAMS:-200}
PROFILE=${BENCH_PROFILE:-0}
OUT=${BENCH_OUT:-$ROOT/bench/results/gateway-$(date +%Y%m%d-%H%M%S)}
BENCH=("$PY" "$ROOT/bench/gateway_bench.py")

command -v wrk >/dev/null || { echo "gateway.sh: wrk is not installed" >&2; exit 2; }
[ -x "$PY" ] || { echo "gateway.sh: no Python at $PY (run make run once)" >&2; exit 2; }

# The caller's Serika settings (a PostgreSQL URL, a config file...) must not leak in.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^SERIKA_' || true)

if [ "${BENCH_PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  SERVER_CPU=${BENCH_SERVER_CPU:-0}
  LOAD_CPU=${BENCH_LOAD_CPU:-1}
  ON_SERVER=(taskset -c "$SERVER_CPU")
  ON_LOAD=(taskset -c "$LOAD_CPU")
  PINNING="relay, proxy and Serika on CPU $SERVER_CPU; stub, wrk and stream client on CPU $LOAD_CPU"
else
  ON_SERVER=()
  ON_LOAD=()
  PINNING="no CPU pinning"
fi
# BENCH_RT=1: run the stub, the proxy, Serika and the load generators SCHED_FIFO, so that on a
# shared machine a wake-up never waits behind a neighbour's time slice (see GATEWAY.md,
# "Latency at 1 connection"). Every target gets the same treatment.
if [ "${BENCH_RT:-0}" = 1 ]; then
  command -v chrt >/dev/null || { echo "gateway.sh: BENCH_RT=1 needs chrt" >&2; exit 2; }
  ON_SERVER+=(chrt -f 10)
  ON_LOAD+=(chrt -f 10)
  PINNING="$PINNING; SCHED_FIFO (BENCH_RT=1)"
fi

PIDS=()
STEP=
DATA=$(mktemp -d "${TMPDIR:-/tmp}/serika-gateway-bench.XXXXXX")
cleanup() {
  local pid n
  # The measuring step under way (wrk runs as its child: the whole process group).
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
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One measuring step, in its own process group and waited for with `wait`, so that a stop
# (Ctrl-C, TERM) is handled at once and reaches the step's children too.
step() {
  setsid "$@" &
  STEP=$!
  local rc=0
  wait "$STEP" || rc=$?
  STEP=
  return "$rc"
}

mkdir -p "$OUT"
read -r STUB_PORT RELAY_PORT PROXY_PORT SERIKA_PORT < <("$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
)
STUB=http://127.0.0.1:$STUB_PORT
RELAY=http://127.0.0.1:$RELAY_PORT
PROXY=http://127.0.0.1:$PROXY_PORT
SERIKA=http://127.0.0.1:$SERIKA_PORT

echo "gateway bench: results in ${OUT#"$ROOT"/}; $PINNING"
"${BENCH[@]}" meta "$OUT" --duration "$DURATION" --pinning "$PINNING" \
  --command-line "bash bench/gateway.sh (BENCH_DURATION=$DURATION BENCH_ROUNDS=$ROUNDS BENCH_STREAMS=$STREAMS)"

"${ON_LOAD[@]}" "$PY" bench/stub_upstream.py --port "$STUB_PORT" >"$OUT/stub.log" 2>&1 &
STUB_PID=$!
PIDS+=("$STUB_PID")
"${ON_SERVER[@]}" "$PY" bench/byte_relay.py --port "$RELAY_PORT" \
  --upstream "127.0.0.1:$STUB_PORT" >"$OUT/byte_relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
"${ON_SERVER[@]}" "$PY" bench/bare_proxy.py --port "$PROXY_PORT" --upstream "$STUB" \
  >"$OUT/bare_proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")

# Limits stay on (every call still takes its counters) but are set far above what a few
# minutes of load can reach, so no request is refused.
LOTS=1000000000000
SERIKA_ENV=(
  env "SERIKA_OPENROUTER_API_KEY=bench-key" "SERIKA_OPENROUTER_BASE_URL=$STUB/v1"
  "SERIKA_FREE_REQUESTS_PER_MINUTE=$LOTS" "SERIKA_FREE_TOKENS_PER_MINUTE=$LOTS"
  "SERIKA_FREE_MONTHLY_TOKENS=$LOTS"
)
"${SERIKA_ENV[@]}" "$PY" -m serika migrate --data-dir "$DATA" >"$OUT/serika-migrate.log" 2>&1
"${SERIKA_ENV[@]}" "${ON_SERVER[@]}" "$PY" -m serika serve --host 127.0.0.1 \
  --port "$SERIKA_PORT" --data-dir "$DATA" --workers 1 >"$OUT/serika.log" 2>&1 &
SERIKA_PID=$!
PIDS+=("$SERIKA_PID")

"${BENCH[@]}" wait "$STUB/healthz"
"${BENCH[@]}" wait "$SERIKA/healthz"
"${BENCH[@]}" wait "$PROXY/healthz"
"${BENCH[@]}" wait "$RELAY/healthz"
KEY=$("${BENCH[@]}" setup "$SERIKA")

declare -A URL=(
  [direct]="$STUB/v1/chat/completions"
  [relay]="$RELAY/v1/chat/completions"
  [bare_proxy]="$PROXY/v1/chat/completions"
  [serika]="$SERIKA/api/openai/v1/chat/completions"
)
declare -A AUTH=([direct]="" [relay]="" [bare_proxy]="" [serika]="$KEY")
# Whose CPU time per request to measure (the stub's, and the middle process's).
declare -A CPU=(
  [direct]="--pid stub=$STUB_PID"
  [relay]="--pid relay=$RELAY_PID --pid stub=$STUB_PID"
  [bare_proxy]="--pid proxy=$PROXY_PID --pid stub=$STUB_PID"
  [serika]="--pid serika=$SERIKA_PID --pid stub=$STUB_PID"
)

echo "non-streaming (wrk, $ROUNDS rounds of ${DURATION} s runs, the targets taking turns):"
for target in direct relay bare_proxy serika; do
  step "${ON_LOAD[@]}" "${BENCH[@]}" wrk "$target" "${URL[$target]}" -c 32 -d "$WARMUP" \
    --key "${AUTH[$target]}"
done
TARGETS=(direct relay bare_proxy serika)
for round in $(seq "$ROUNDS"); do
  # Each round starts with the next target: a machine that slows down (or speeds up) during a
  # round must not always favour the same one.
  first=$(((round - 1) % ${#TARGETS[@]}))
  for target in "${TARGETS[@]:$first}" "${TARGETS[@]:0:$first}"; do
    for c in 1 32; do
      # shellcheck disable=SC2086 # CPU holds several words on purpose
      step "${ON_LOAD[@]}" "${BENCH[@]}" wrk "$target" "${URL[$target]}" -c "$c" \
        -d "$DURATION" --key "${AUTH[$target]}" --out "$OUT" --round "$round" ${CPU[$target]}
    done
  done
done

echo "streaming ($STREAMS sequential requests per target, the targets taking turns):"
step timeout 600 "${ON_LOAD[@]}" "${BENCH[@]}" stream -n "$STREAMS" --out "$OUT" \
  -t direct "${URL[direct]}" "" -t relay "${URL[relay]}" "" -t bare_proxy "${URL[bare_proxy]}" "" \
  -t serika "${URL[serika]}" "$KEY"

if [ "$PROFILE" = 1 ]; then
  echo "profiling the Serika worker (pid $SERIKA_PID) under 32 connections:"
  "${ON_LOAD[@]}" "$ROOT/.venv/bin/py-spy" record --pid "$SERIKA_PID" --rate 250 --gil \
    --duration "$DURATION" --format raw --output "$OUT/serika-c32.pyspy.txt" \
    >"$OUT/py-spy.log" 2>&1 &
  SPY=$!
  PIDS+=("$SPY")
  sleep 0.5
  step "${ON_LOAD[@]}" "${BENCH[@]}" wrk serika "${URL[serika]}" -c 32 -d "$DURATION" \
    --key "${AUTH[serika]}"
  wait "$SPY" || echo "py-spy failed: see $OUT/py-spy.log"
  [ -s "$OUT/serika-c32.pyspy.txt" ] &&
    "${BENCH[@]}" profile "$OUT/serika-c32.pyspy.txt" | tee "$OUT/serika-c32.profile.txt"
fi

echo
"${BENCH[@]}" report "$OUT" | tee "$OUT/summary.md"
