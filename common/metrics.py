"""Every Prometheus metric of the gateway process, defined once: the gateway's own and those of the
engines it hosts in-process (tts_engine). All live in the default registry that `GET /metrics`
exposes; code that records one imports it from here."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- requests (app.middleware.MetricsMiddleware) ---------------------------------------------------
REQUESTS = Counter(
    "gateway_requests_total", "Requests by route template, method and status.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "Time from request to the end of the response (whole stream for streaming responses).",
    ["route", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ACTIVE_STREAMS = Gauge("gateway_active_streams", "Open streaming responses and WebSocket sessions.", ["kind"])

# --- admission (app.sessions.admission) ------------------------------------------------------------
ENGINE_ACTIVE = Gauge("gateway_engine_active", "Requests running on an engine.", ["engine"])
ENGINE_WAITING = Gauge("gateway_engine_waiting", "Requests queued for an engine.", ["engine"])

# --- components, queue, license (sampled when /metrics is read) ------------------------------------
COMPONENT_READY = Gauge("gateway_component_ready", "1 when the component is ready, else 0.", ["component"])
MONITOR_RESTARTS = Gauge("health_monitor_restarts", "Hung programs the health monitor restarted.", ["program"])
ASR_QUEUE = Gauge("asr_queue_jobs", "Batch transcription jobs in the Redis queue, by state.", ["state"])
LICENSE_VALID = Gauge("license_valid", "1 when the license is valid (or LICENSE_MODE=disabled), else 0.")
LICENSE_GRACE = Gauge("license_grace_remaining_seconds", "Offline grace left while the license server is unreachable.")

# --- speech (app.services.speech: one encode loop for every surface) -------------------------------
TTS_FIRST_AUDIO = Histogram(
    "tts_time_to_first_audio_seconds",
    "From the start of synthesis to the first encoded audio bytes.",
    ["backend"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2.5, 5, 10),
)
TTS_RTF = Histogram(
    "tts_real_time_factor",
    "Synthesis time divided by the audio duration of a completed TTS request (below 1: faster than real time).",
    ["backend"],
    buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5),
)

# --- the Svara engine (tts_engine.svara) -----------------------------------------------------------
SVARA_DROPPED_FRAMES = Counter(
    "svara_dropped_frames_total",
    "SNAC frames dropped from Svara token streams (invalid code, or cut off at the end).",
    ["reason"],
)
SVARA_UPSTREAM_ERRORS = Counter(
    "svara_upstream_errors_total", "Failed or cut Svara token streams from vLLM, by kind.", ["kind"]
)
SVARA_REFERENCE_CACHE = Counter(
    "svara_reference_cache_total",
    "Cloning reference encodes, by outcome: hit (frames reused) or miss (SNAC encoder ran).",
    ["result"],
)
