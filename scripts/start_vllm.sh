#!/usr/bin/env bash
# Runs vLLM's OpenAI-compatible server for the Svara model on loopback (the supervisord program
# `vllm`). Memory budget: README "Svara" section. Every setting is in .env.example ("Svara").
set -euo pipefail
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import vllm' 2>/dev/null; then
  echo "vllm is not installed in $PY: use the GPU image, or pip install '.[gpu]'" >&2
  exit 1
fi
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "no CUDA GPU visible (docker run --gpus all?); vLLM cannot start. The cpu profile does not run it." >&2
  exit 1
fi

args=(
  --host "${VLLM_BIND_HOST:-127.0.0.1}"
  --port "${VLLM_PORT:-8000}"
  --model "${VLLM_MODEL:-kenpath/svara-tts-v1}"
  --served-model-name "${VLLM_SERVED_MODEL_NAME:-svara}"
  # vLLM takes this share of the WHOLE card (weights + KV cache); Whisper and SNAC live in the rest.
  --gpu-memory-utilization "${VLLM_GPU_MEMORY_UTILIZATION:-0.6}"
  # Prompt + generated audio tokens: 4096 = about 45 s of speech per request at ~82 tokens/s.
  --max-model-len "${VLLM_MAX_MODEL_LEN:-4096}"
  --max-num-seqs "${VLLM_MAX_NUM_SEQS:-32}"
  --dtype "${VLLM_DTYPE:-auto}"
  --download-dir "${MODELS_DIR:-/models}"
)
# Only models whose code lives in their repository need this; Svara is a plain Llama architecture.
if [ "${VLLM_TRUST_REMOTE_CODE:-false}" = true ]; then args+=(--trust-remote-code); fi

# Request logging prints prompts (user text): keep it off unless the operator opted in. Newer vLLM
# has it off by default (--enable-log-requests); older versions need --disable-log-requests.
if [ "${LOG_CONTENT:-false}" != true ]; then
  help="$("$PY" -m vllm.entrypoints.openai.api_server --help=all 2>/dev/null || "$PY" -m vllm.entrypoints.openai.api_server --help 2>/dev/null || true)"
  if ! grep -q -- '--enable-log-requests' <<<"$help" && grep -q -- '--disable-log-requests' <<<"$help"; then
    args+=(--disable-log-requests)
  fi
fi
# shellcheck disable=SC2086  # VLLM_EXTRA_ARGS is a list of flags by design
exec "$PY" -m vllm.entrypoints.openai.api_server "${args[@]}" ${VLLM_EXTRA_ARGS:-}
