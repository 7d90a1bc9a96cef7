#!/usr/bin/env bash
# Scale-out on one machine: Redis, PostgreSQL, the API and N Dramatiq workers.
#   make scale WORKERS=2            (or: WORKERS=2 scripts/scale.sh)
# Starts Redis and PostgreSQL only when they do not answer; creates the database
# `sideman` when missing; the API migrates it (Alembic) on start. Ctrl-C stops the API
# and the workers (Redis and PostgreSQL keep running). Override any SIDEMAN_* setting
# from the environment, e.g. SIDEMAN_PORT=8080 or SIDEMAN_STORAGE_BACKEND=s3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
WORKERS=${WORKERS:-2}
REDIS_PORT=${REDIS_PORT:-6379}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_USER=${PG_USER:-postgres}
PG_DB=${PG_DB:-sideman}

if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "starting Redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p var/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log"
fi
if ! pg_isready -h "$PG_HOST" -q; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -h "$PG_HOST" -q && break; sleep 0.5; done
fi
if ! psql -h "$PG_HOST" -U "$PG_USER" -d postgres -tAc \
     "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
  echo "creating database $PG_DB"
  psql -h "$PG_HOST" -U "$PG_USER" -d postgres -qc "CREATE DATABASE \"$PG_DB\""
fi

export SIDEMAN_REDIS_URL=${SIDEMAN_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
export SIDEMAN_DATABASE_URL=${SIDEMAN_DATABASE_URL:-postgresql+psycopg://$PG_USER@$PG_HOST:5432/$PG_DB}
export SIDEMAN_DATA_DIR=${SIDEMAN_DATA_DIR:-var/scale}
export SIDEMAN_STORAGE_BACKEND=${SIDEMAN_STORAGE_BACKEND:-shared}

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap stop INT TERM EXIT

"$BIN/sideman" serve &
pids+=($!)
"$BIN/sideman" worker --processes "$WORKERS" &
pids+=($!)
echo "sideman: API on http://${SIDEMAN_HOST:-127.0.0.1}:${SIDEMAN_PORT:-8000}, $WORKERS worker(s); Ctrl-C stops"
wait -n "${pids[@]}"
