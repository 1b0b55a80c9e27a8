#!/usr/bin/env bash
# A throwaway Redis server on a loopback port.
#   scripts/redis.sh start DIR PORT  -> prints the URL
#   scripts/redis.sh stop DIR
set -euo pipefail
case "$1" in
  start)
    dir=$2 port=$3
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
    for _ in $(seq 50); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    echo "redis://127.0.0.1:$port/0"
    ;;
  stop)
    dir=$2
    # Wait for the server to be gone before removing its directory: it writes its log (and
    # removes its pid file) while shutting down, and a file appearing under `rm -rf` fails it.
    if [ -f "$dir/redis.pid" ]; then
      pid=$(cat "$dir/redis.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir" || { sleep 0.5; rm -rf "$dir"; }
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
