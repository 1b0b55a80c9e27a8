#!/usr/bin/env bash
# `make test`: system packages, the virtualenv, a throwaway PostgreSQL, lint, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Playwright drives Debian's chromium (scripts/system-packages.sh); it never downloads one.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
bash scripts/system-packages.sh
make --no-print-directory install
bin=.venv/bin
# The official openai npm package, for the node end-to-end test (pinned in package.json).
[ -d tests/e2e/node/node_modules/openai ] || \
  npm install --prefix tests/e2e/node --no-audit --no-fund --silent

pgdir=$(mktemp -d /tmp/serika-test-pg.XXXXXX)
redisdir=$(mktemp -d /tmp/serika-test-redis.XXXXXX)
# The servers are stopped whatever happened; a failure to tidy up is reported but does not
# change the outcome of the tests.
cleanup() {
  local status=$?
  bash scripts/pg.sh stop "$pgdir" || echo "warning: could not remove $pgdir" >&2
  bash scripts/redis.sh stop "$redisdir" || echo "warning: could not remove $redisdir" >&2
  exit "$status"
}
trap cleanup EXIT
export SERIKA_TEST_PG_URL SERIKA_TEST_REDIS_URL SERIKA_TEST_PG_THROWAWAY=1
SERIKA_TEST_PG_URL=$(bash scripts/pg.sh start "$pgdir" "$($bin/python scripts/free-port.py)")
SERIKA_TEST_REDIS_URL=$(bash scripts/redis.sh start "$redisdir" "$($bin/python scripts/free-port.py)")
echo "PostgreSQL for the tests: $SERIKA_TEST_PG_URL"
echo "Redis for the tests: $SERIKA_TEST_REDIS_URL"

$bin/ruff check serika tests bench
$bin/ruff format --check serika tests bench
$bin/mypy
$bin/python -m pytest --durations=15 "$@"
