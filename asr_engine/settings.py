"""ASR worker configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.callback_guard import DEFAULT_BLOCKED_NETWORKS, Networks
from common.serving import ServingSettings


class AsrSettings(ServingSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    profile: Literal["cpu", "gpu"] = Field("cpu", description="Deployment profile.")
    asr_host: str = Field("127.0.0.1", description="Address the worker binds to (loopback by default).")
    asr_port: int = Field(2233, description="Port of the worker's HTTP/WebSocket API.")
    asr_model: str = Field(
        "",
        description="faster-whisper model: a CTranslate2 directory or a model name. tiny.en and base come "
        "from PyPI packages (extras cpu, cpu-multilingual). Empty: tiny.en in the cpu profile, large-v3 "
        "in the gpu profile.",
    )
    asr_model_cache_dir: str = Field(
        str(Path.home() / ".cache" / "speech-appliance" / "models"),
        description="Where a model shipped in parts (base) is joined once on first use.",
    )
    asr_device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the model runs.")
    asr_compute_type: str = Field(
        "auto", description="CTranslate2 compute type; auto: float16 on CUDA, int8 on CPU."
    )
    asr_inter_threads: int = Field(
        0,
        ge=0,
        description="CTranslate2 workers (inter-op threads): model calls that run at once, sharing the "
        "weights; each runs a batch of live decodes or a batch job. 0: one per core on CPU, 1 on CUDA.",
    )
    asr_cpu_threads: int = Field(
        0,
        ge=0,
        description="CTranslate2 intra-op threads of each worker. 0: the cores divided among the workers "
        "(1 each on CPU by default).",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis holding the batch job stream.")
    redis_password: str = Field(
        "", description="Redis password, when REDIS_URL carries none (the embedded Redis, the chart's Secret)."
    )
    log_level: str = Field("info", description="Log level.")
    internal_token: str = Field(
        "", description="Shared token the gateway must present (Authorization: Bearer) to open a streaming "
        "session; empty: not checked (a warning at start-up)."
    )

    # --- batch jobs ----------------------------------------------------------------------------
    asr_consumer_name: str = Field(
        "", description="This worker's consumer name in the job group; empty: hostname-pid (unique)."
    )
    asr_claim_idle_s: float = Field(
        30.0, description="A job unacknowledged this long (its worker died) is claimed by another worker."
    )
    asr_max_deliveries: int = Field(
        3, description="A job delivered this many times without finishing (it crashes workers) is failed."
    )
    asr_job_stall_s: float = Field(
        300.0,
        gt=0,
        description="A batch job whose thread neither asks for nor ends a model turn this long is stuck: the "
        "worker logs its stack, leaves the job to another worker and answers /health with 500 to be restarted.",
    )
    asr_result_ttl_s: int = Field(86400, description="How long job results (and audio) are kept in Redis.")
    asr_batched_min_s: float = Field(
        60.0, description="Audio at least this long uses faster-whisper's BatchedInferencePipeline."
    )
    asr_batch_size: int = Field(8, description="Batch size of the batched pipeline.")
    asr_beam_size: int = Field(5, description="Beam size for batch jobs.")
    asr_batch_fair_turns: int = Field(
        4,
        ge=0,
        description="A batch job's next 30 s window waits for live decodes, but for at most this many "
        "live batches in a row (0: batch jobs take turns with live work).",
    )
    asr_callback_attempts: int = Field(6, description="Attempts to POST a result to a callback_url.")
    asr_callback_backoff_s: float = Field(
        1.0, description="First retry delay of callback delivery; doubles on every attempt."
    )
    asr_callback_timeout_s: float = Field(10.0, description="Timeout of one callback POST.")
    callback_blocked_networks: Networks = Field(
        DEFAULT_BLOCKED_NETWORKS,
        description="CIDRs a callback_url may never reach (loopback and link-local by default).",
    )
    callback_allowed_networks: Networks = Field(
        "", description="Private (not globally routable) CIDRs a callback_url may reach; others are refused."
    )
    callback_signing_secret: str = Field(
        "", description="HMAC-SHA256 key that signs every callback delivery (X-Appliance-Signature); empty: "
        "deliveries are unsigned (a warning at start-up, and /health says so)."
    )

    # --- streaming -----------------------------------------------------------------------------
    asr_max_sessions: int = Field(
        64, ge=1, description="Streaming sessions this worker takes at once; one more is refused (1013)."
    )
    asr_discovery: Literal["fixed", "registry"] = Field(
        "fixed",
        description="registry: announce this worker in Redis (address, capacity, open sessions, "
        "heartbeat) so gateways spread streaming sessions over every worker. fixed: not announced.",
    )
    asr_advertise_url: str = Field(
        "", description="URL gateways reach this worker at; empty: http://<bind address or host IP>:ASR_PORT."
    )
    asr_heartbeat_s: float = Field(
        2.0, gt=0, description="Registry heartbeat; a worker silent for 3 heartbeats drops out."
    )
    asr_stream_max_session_s: float = Field(3600.0, description="Longest streaming session (audio seconds).")
    asr_stream_idle_timeout_s: float = Field(
        30.0, description="A streaming session that receives nothing for this long is closed."
    )
    asr_stream_vad_threshold: float = Field(0.5, description="Silero VAD speech probability threshold.")
    asr_stream_endpoint_ms: int = Field(
        500, description="Silence after speech that ends an utterance (and sends its final result)."
    )
    asr_stream_speculate_ms: int = Field(
        150,
        description="Silence after speech at which the final is decoded ahead of the endpoint (the final "
        "keeps this much audio after the speech); 0: decode only when the endpoint confirms, keeping 300 ms.",
    )
    asr_stream_partial_interval_s: float = Field(
        1.0, description="Audio seconds between partial results within an utterance."
    )
    asr_stream_max_utterance_s: float = Field(
        25.0, gt=0, le=29, description="An utterance this long is finalised even without a pause (Whisper sees 30 s)."
    )
    asr_stream_beam_size: int = Field(
        1,
        ge=1,
        description="Beam size of streaming finals (partials are greedy). Greedy finals of tiny.en are "
        "within 0.01 WER of beam 5 at about half the decoder time (README, streaming capacity).",
    )
    asr_stream_max_batch: int = Field(
        16, ge=1, description="Most live decodes in one batch; finals first, then partials."
    )
    asr_stream_tick_budget_ms: int = Field(
        300,
        gt=0,
        description="Partials join a batch only while its estimated decode time stays within this "
        "(at least one a batch): a final that comes meanwhile waits for about this long at most.",
    )
    asr_stream_window_margin_s: float = Field(
        4.0,
        ge=0,
        description="Silence after the audio in a live decode's encoder window (less makes Whisper "
        "repeat itself); 30: every decode pays the full 30 s window.",
    )
    asr_stream_window_step_s: float = Field(
        5.0, gt=0, description="Encoder windows are multiples of this many seconds (few shapes, fuller batches)."
    )

    # --- speaker labels, vocabulary --------------------------------------------------------------
    asr_diarization_model: str = Field(
        "",
        description="The CAM++ speaker-embedding model exported to ONNX (python -m asr_engine.diarization.export, "
        "run by scripts/install.sh). Empty: campplus-<weights hash>.onnx in ASR_MODEL_CACHE_DIR.",
    )
    asr_diarization_threads: int = Field(
        1, ge=0, description="CPU threads of one speaker-embedding run (0: onnxruntime's default, every core)."
    )
    asr_vocabulary_file: str = Field(
        "",
        description="An operator vocabulary: one word or phrase per line (# starts a comment), added to every "
        "request's keywords. Empty: none.",
    )
