#!/usr/bin/env bash
# Runs vLLM's OpenAI-compatible server for the Svara model on loopback (a supervisord program).
set -euo pipefail
args=(
  --host 127.0.0.1
  --port "${VLLM_PORT:-8000}"
  --model "${VLLM_MODEL:-kenpath/svara-tts-v1}"
  --served-model-name "${VLLM_SERVED_MODEL_NAME:-svara}"
  --gpu-memory-utilization "${VLLM_GPU_MEMORY_UTILIZATION:-0.6}"
  --max-model-len "${VLLM_MAX_MODEL_LEN:-4096}"
  --download-dir "${MODELS_DIR:-/models}"
)
# Only models whose code lives in the repo need this; Svara is a plain Llama architecture.
if [ "${VLLM_TRUST_REMOTE_CODE:-false}" = true ]; then args+=(--trust-remote-code); fi
# shellcheck disable=SC2086  # VLLM_EXTRA_ARGS is a list of flags by design
exec "${PYTHON:-python3}" -m vllm.entrypoints.openai.api_server "${args[@]}" ${VLLM_EXTRA_ARGS:-}
