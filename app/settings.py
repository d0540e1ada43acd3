"""Gateway configuration: read from the environment here and nowhere else."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import SettingsConfigDict

from common.callback_guard import DEFAULT_BLOCKED_NETWORKS, Networks
from common.serving import ServingSettings


class KeyLimits(BaseModel):
    """One API key's own limits (API_KEY_LIMITS); a field left out keeps the default."""

    model_config = {"extra": "forbid"}

    max_concurrent: int | None = Field(None, ge=0, description="KEY_MAX_CONCURRENT for this key; 0: no limit.")
    requests_per_minute: int | None = Field(None, ge=0, description="RATE_LIMIT_PER_MINUTE for this key; 0: off.")


class GatewaySettings(ServingSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # --- process -------------------------------------------------------------------------------
    profile: Literal["cpu", "gpu"] = Field("cpu", description="Deployment profile: cpu (small models) or gpu.")
    gateway_host: str = Field("0.0.0.0", description="Address the gateway binds to.")
    gateway_port: int = Field(8080, description="The appliance's public port.")
    log_level: str = Field("info", description="Log level of every process.")
    log_content: bool = Field(False, description="Operator opt-in: allow text/transcripts in logs.")

    # --- dependencies --------------------------------------------------------------------------
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for jobs, health and limits.")
    redis_password: str = Field(
        "", description="Redis password, when REDIS_URL carries none (the embedded Redis, the chart's Secret)."
    )
    internal_token: str = Field(
        "", description="Shared token presented to the ASR workers and the license proxy (Authorization: Bearer)."
    )
    asr_host: str = Field("127.0.0.1", description="Address of the ASR worker's HTTP/WebSocket API.")
    asr_port: int = Field(2233, description="Port of the ASR worker.")
    asr_discovery: Literal["fixed", "registry"] = Field(
        "fixed",
        description="fixed: streaming sessions go to ASR_HOST:ASR_PORT. registry: to the least-loaded "
        "ready worker announced in Redis (several workers, split roles).",
    )
    license_proxy_host: str = Field("127.0.0.1", description="Address of the license proxy.")
    license_proxy_port: int = Field(6699, description="Port of the license proxy.")
    tts_llm_base_url: str = Field(
        "http://127.0.0.1:8000", description="vLLM OpenAI-compatible server that runs the Svara model."
    )
    vllm_api_key: str = Field("", description="API key vLLM was started with (sent as Authorization: Bearer).")

    # --- health --------------------------------------------------------------------------------
    health_probe_interval_s: float = Field(1.0, description="How often the gateway probes its components.")
    health_probe_timeout_s: float = Field(2.0, description="Timeout of one component probe.")
    retry_after_s: int = Field(5, description="Retry-After sent with 503 while a component is not ready.")

    # --- ASR -----------------------------------------------------------------------------------
    max_upload_bytes: int = Field(
        100_000_000, ge=1, description="Largest audio upload for transcription (raw or multipart body) in bytes; "
        "413 above, counted as it is read."
    )
    callback_blocked_networks: Networks = Field(
        DEFAULT_BLOCKED_NETWORKS,
        description="CIDRs a callback_url may never reach (loopback and link-local by default).",
    )
    callback_allowed_networks: Networks = Field(
        "", description="Private (not globally routable) CIDRs a callback_url may reach; others are refused (422)."
    )
    max_audio_seconds: float = Field(7200.0, description="Longest accepted audio in seconds (413 above).")
    asr_job_timeout_s: float = Field(
        600.0, description="How long a synchronous transcription waits for its queued job before 504."
    )
    asr_result_ttl_s: int = Field(86400, description="How long queued audio and job results stay in Redis.")
    asr_max_queued_jobs: int = Field(
        1000, description="Jobs waiting in the queue above which new batch requests get 503."
    )
    asr_queued_audio_max_bytes: int = Field(
        1_000_000_000, ge=1,
        description="Audio of queued jobs (16 kHz PCM, 32 kB per second) Redis may hold at once, shared by every "
        "gateway; a job that does not fit gets 503 + Retry-After. Keep it well under REDIS_MAXMEMORY.",
    )

    # --- TTS -----------------------------------------------------------------------------------
    tts_default_voice: str = Field(
        "", description="Voice used when a request names none. Empty: en_us_joe (Piper) in the cpu profile, "
        "en_female (Svara) in the gpu profile."
    )
    tts_voice_aliases_path: str | None = Field(
        None, description="JSON map of other APIs' voice names (OpenAI's alloy, nova, …) onto this "
        "appliance's voices; empty: the map shipped in tts_engine/data/voice_aliases.json."
    )
    tts_lexicon_dir: str | None = Field(
        None, description="Folder of operator pronunciation lexicons, <language>.tsv (word TAB spoken form) "
        "or <language>.json, read once at start (a malformed file stops the start); empty: none."
    )
    tts_piper_enabled: bool | None = Field(
        None,
        description="Load the Piper CPU voice. Unset: on in the cpu profile, and in the gpu profile "
        "when the optional piper-tts package is installed.",
    )
    tts_svara_enabled: bool | None = Field(
        None,
        description="Serve the Svara voices (vLLM + SNAC). Unset: on in the gpu profile, off in the cpu "
        "profile, where they are listed as unavailable. SNAC decodes on CPU when no GPU is present.",
    )
    tts_piper_threads: int = Field(
        2,
        ge=1,
        description="Piper syntheses that may run at the same time. One running alone uses every core; "
        "overlapping ones get cores / this each, from their own ONNX sessions (about 90 MB each).",
    )
    tts_first_audio_first: bool = Field(
        True,
        description="Schedule Piper work by sentence, running the step that gives a stream its first audio "
        "ahead of later sentences of other streams; false: first come, first served.",
    )
    max_text_chars: int = Field(
        5000, ge=1, description="Longest text one TTS request may carry (413 beyond)."
    )
    max_json_bytes: int = Field(
        1_000_000, ge=1, description="Largest JSON request body in bytes (text, lexicon, options); 413 above, "
        "counted as it is read. Raise it with MAX_TEXT_CHARS."
    )
    max_reference_bytes: int = Field(
        12_000_000, ge=1, description="Largest body of a request that may carry a cloning reference (JSON with "
        "base64 audio, or multipart) in bytes; 413 above, counted as it is read."
    )
    tts_first_piece_chars: int = Field(
        80, ge=10, description="Longest first piece of a text: audio starts once it is synthesised."
    )
    tts_max_piece_chars: int = Field(300, ge=20, description="Longest later piece sent to a backend at once.")
    tts_crossfade_ms: float = Field(15.0, ge=0, description="Crossfade between consecutive pieces.")
    # Svara on vLLM (hosted in-process by the gateway; TTS_LLM_BASE_URL above is the vLLM server).
    vllm_served_model_name: str = Field("svara", description="Model name vLLM serves Svara under.")
    vllm_max_model_len: int = Field(4096, description="vLLM's context length; bounds prompt + max_tokens.")
    svara_prompt_template: str = Field("svara-v1", description="Prompt template (per model card) to use.")
    svara_templates_path: str | None = Field(
        None, description="JSON file of prompt templates; empty: the one shipped in tts_engine/svara."
    )
    svara_voices_path: str | None = Field(
        None, description="JSON voice catalogue; empty: the 38 voices shipped in tts_engine/svara."
    )
    svara_connect_timeout_s: float = Field(3.0, description="Connecting to vLLM longer than this: 503.")
    svara_stall_timeout_s: float = Field(15.0, description="vLLM silent this long: 504 or the stream ends.")
    svara_health_interval_s: float = Field(2.0, description="How often vLLM's /health and keyed /v1/models are probed.")
    svara_frame_processor: bool = Field(
        True,
        description="Ask vLLM's Svara frame processor (loaded by scripts/start_vllm.sh) to keep every "
        "generated frame valid; false for a vLLM started without it.",
    )
    snac_model_path: str = Field(
        "hubertsiuzdak/snac_24khz",
        description="SNAC decoder: a directory with config.json + pytorch_model.bin, or a hub name.",
    )
    snac_device: str = Field("auto", description="auto (CUDA when present), cpu, cuda or cuda:N.")
    snac_cpu_threads: int = Field(
        1,
        ge=1,
        description="Threads of a SNAC decode on CPU. One by default: with vLLM on the same cores, a "
        "multi-threaded decode waits at every step for a thread that vLLM's busy workers keep off the CPU.",
    )
    snac_batching: Literal["auto", "on", "off"] = Field(
        "auto", description="Decode concurrent streams in one call: auto = on for CUDA, off for CPU."
    )
    snac_fast_start: bool = Field(
        False, description="First audio after 2 frames instead of 3; that first frame is approximate."
    )
    snac_max_span_frames: int = Field(
        32, ge=1, description="After the first audio, decode steps double from 1 frame up to this size."
    )

    # --- license -------------------------------------------------------------------------------
    license_mode: Literal["online", "offline", "disabled"] | None = Field(
        None,
        description="Same variable as the proxy's: disabled skips enforcement and metering (unlicensed). "
        "Unset: online in the gpu profile, disabled in the cpu profile.",
    )
    license_refresh_interval_s: float = Field(
        1.0, description="How often the gateway refreshes its cached license status from the proxy."
    )
    license_proxy_timeout_s: float = Field(2.0, description="Timeout of one call to the license proxy.")
    license_usage_outbox_max: int = Field(
        10_000, description="Usage records the gateway holds (in Redis) while the proxy is unreachable (then drops)."
    )

    # --- access, limits, metrics ---------------------------------------------------------------
    api_keys: str = Field(
        "", description="Comma-separated API keys (kept only as SHA-256 digests in memory). Empty and no "
        "API_KEYS_FILE: the API is open, and start-up and /health say so."
    )
    api_keys_file: str = Field(
        "", description="File with one API key per line, or `sha256:<hex digest>` lines so no plain key is stored."
    )
    metrics_require_key: bool = Field(False, description="Whether GET /metrics needs an API key too.")
    rate_limit_per_minute: int = Field(
        0, description="Requests per minute per API key (per client address without keys), shared through "
        "Redis by every gateway replica; 0 turns it off."
    )
    tts_max_active: int = Field(
        16, ge=1, description="TTS syntheses in progress at once (per gateway); the CPU voice shares its "
        "threads between them sentence by sentence, first audio first."
    )
    tts_max_waiting: int = Field(16, ge=0, description="TTS requests queued for a slot; beyond: 503.")
    asr_max_active: int = Field(
        8, ge=1, description="Uploads being decoded, and synchronous transcriptions until their result, at once "
        "(per gateway)."
    )
    asr_max_waiting: int = Field(32, ge=0, description="Synchronous transcriptions queued for a slot; beyond: 503.")
    engine_max_wait_s: float = Field(
        10.0, gt=0, description="Longest wait for an engine slot before 503 + Retry-After."
    )
    max_stream_sessions: int = Field(
        64, ge=1, description="Open WebSocket sessions at once on this gateway; beyond: 503."
    )
    key_max_concurrent: int = Field(
        32, ge=0, description="Requests in progress and open WebSocket sessions per API key (per client address "
        "without keys), counted in Redis across every gateway; beyond: 429 + Retry-After. 0: no limit."
    )
    api_key_limits: dict[str, KeyLimits] = Field(
        default_factory=dict,
        description="JSON: per-key limits by key id (the first 12 hex digits of the key's SHA-256), e.g. "
        '{"3f2a9c1b7d4e": {"max_concurrent": 4, "requests_per_minute": 600}}.',
    )
    ws_idle_timeout_s: float = Field(
        30.0, gt=0, description="Every WebSocket: a client that sends nothing for this long, while nothing is owed "
        "to it, gets an error and is closed (1008)."
    )
    ws_max_session_s: float = Field(
        3600.0, gt=0, description="Every WebSocket: a session's wall-clock limit; at it, an error and a close (1008)."
    )
    playground_enabled: bool = Field(
        True, description="Serve the web playground at / (static page; it calls the API with the user's key)."
    )

    @field_validator("api_key_limits")
    @classmethod
    def _key_ids(cls, value: dict[str, KeyLimits]) -> dict[str, KeyLimits]:
        for name in value:
            if len(name) != 12 or any(c not in "0123456789abcdef" for c in name):
                raise ValueError(
                    f"API_KEY_LIMITS: {name!r} is not a key id (the first 12 hex digits of the key's SHA-256: "
                    "printf %s \"$KEY\" | sha256sum | cut -c1-12)"
                )
        return value

    @property
    def asr_url(self) -> str:
        return f"http://{self.asr_host}:{self.asr_port}"

    @property
    def license_proxy_url(self) -> str:
        return f"http://{self.license_proxy_host}:{self.license_proxy_port}"

    @property
    def piper_enabled(self) -> bool:
        if self.tts_piper_enabled is not None:
            return self.tts_piper_enabled
        import importlib.util  # only to see whether the optional package is there

        return self.profile == "cpu" or importlib.util.find_spec("piper") is not None

    @property
    def effective_license_mode(self) -> str:
        if self.license_mode is not None:
            return self.license_mode
        return "online" if self.profile == "gpu" else "disabled"

    @property
    def default_voice(self) -> str:
        if self.tts_default_voice:
            return self.tts_default_voice
        return "en_female" if self.profile == "gpu" else "en_us_joe"

    @property
    def svara_enabled(self) -> bool:
        if self.tts_svara_enabled is not None:
            return self.tts_svara_enabled
        return self.profile == "gpu"
