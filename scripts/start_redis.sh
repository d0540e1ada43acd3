#!/usr/bin/env bash
# The embedded Redis (the supervisord program `redis`): loopback only, with the password and memory
# bound that scripts/start.sh exported. The password goes in on stdin (a config file "-"), never on the
# command line, where any process on the host could read it. maxmemory with noeviction: when full,
# writes are refused (the gateway answers 503) and accepted work is never evicted; the append-only
# file keeps queued jobs across restarts.
set -euo pipefail
exec redis-server - \
  --bind 127.0.0.1 --port "${REDIS_PORT:-6379}" --protected-mode yes \
  --dir "${STATE_DIR:?}/redis" --appendonly yes --save "" \
  --maxmemory "${REDIS_MAXMEMORY:-2gb}" --maxmemory-policy noeviction <<EOF
${REDIS_PASSWORD:+requirepass $REDIS_PASSWORD}
EOF
