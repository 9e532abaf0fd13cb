#!/usr/bin/env bash
# The whole test suite (what CI runs): lint, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
# PostgreSQL (127.0.0.1:5432, trust auth) backs the production-instance tests: start it if it is down
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "test: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
# Redis (127.0.0.1:6379) is the Celery broker of the two-worker tests: start it if it is down
if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "test: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/whisper-pipeline-redis.log" || true
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
"$VENV/bin/ruff" check whisper_pipeline whisper_pipeline_tests
"$VENV/bin/ruff" format --check whisper_pipeline whisper_pipeline_tests
# Two test processes, a file's tests together in one (module fixtures: a database, a broker,
# workers). Most tests wait on daemons, workers and subprocesses, so two share the cores well,
# provided nothing oversubscribes them: every process (and the workers the tests start) gets one
# inference thread; torch's and CTranslate2's spinning threads otherwise slow each other down
# several times over.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -n "${TEST_PROCESSES:-2}" --dist loadfile \
  --durations=25 "$@"
