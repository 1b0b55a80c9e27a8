#!/usr/bin/env bash
# make bench: the API key authentication benchmark (bench/auth_bench.py), on 127.0.0.1 only.
# Bounded: the whole run is killed after BENCH_TIMEOUT seconds (default 900; a normal run
# takes about 3 minutes). Every process it starts is stopped on exit, error or Ctrl-C.
# Extra arguments go to auth_bench.py, e.g.  bash bench/run.sh --duration 5 --repeat 3
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
[[ -x $PY ]] || { echo "bench: no $PY; run 'make install' first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
mkdir -p bench/results

child=""
cleanup() {
    # auth_bench.py stops its own server and wrk on SIGTERM; SIGKILL its group if it lingers.
    if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$child" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# setsid: the benchmark and everything it starts share one process group of our own.
setsid --wait timeout --signal=TERM --kill-after=30 "${BENCH_TIMEOUT:-900}" \
    "$PY" bench/auth_bench.py "$@" &
child=$!
wait "$child"
