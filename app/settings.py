"""Gateway configuration: read from the environment here and nowhere else."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # --- process -------------------------------------------------------------------------------
    profile: Literal["cpu", "gpu"] = Field("cpu", description="Deployment profile: cpu (small models) or gpu.")
    gateway_host: str = Field("0.0.0.0", description="Address the gateway binds to.")
    gateway_port: int = Field(8080, description="The appliance's public port.")
    log_level: str = Field("info", description="Log level of every process.")
    log_content: bool = Field(False, description="Operator opt-in: allow text/transcripts in logs.")
    drain_timeout_s: float = Field(
        30.0, description="On SIGTERM, how long in-flight requests and streams may take to finish."
    )

    # --- dependencies --------------------------------------------------------------------------
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for jobs, health and limits.")
    asr_host: str = Field("127.0.0.1", description="Address of the ASR worker's HTTP/WebSocket API.")
    asr_port: int = Field(2233, description="Port of the ASR worker.")
    license_proxy_host: str = Field("127.0.0.1", description="Address of the license proxy.")
    license_proxy_port: int = Field(6699, description="Port of the license proxy.")
    tts_llm_base_url: str = Field(
        "http://127.0.0.1:8000", description="vLLM OpenAI-compatible server that runs the Svara model."
    )

    # --- health --------------------------------------------------------------------------------
    health_probe_interval_s: float = Field(1.0, description="How often the gateway probes its components.")
    health_probe_timeout_s: float = Field(2.0, description="Timeout of one component probe.")
    retry_after_s: int = Field(5, description="Retry-After sent with 503 while a component is not ready.")

    # --- ASR -----------------------------------------------------------------------------------
    max_upload_bytes: int = Field(100_000_000, description="Largest accepted upload in bytes (413 above).")
    max_audio_seconds: float = Field(7200.0, description="Longest accepted audio in seconds (413 above).")
    asr_job_timeout_s: float = Field(
        600.0, description="How long a synchronous transcription waits for its queued job before 504."
    )
    asr_result_ttl_s: int = Field(86400, description="How long queued audio and job results stay in Redis.")
    asr_max_queued_jobs: int = Field(
        1000, description="Jobs waiting in the queue above which new batch requests get 503."
    )

    # --- TTS -----------------------------------------------------------------------------------

    # --- license -------------------------------------------------------------------------------

    @property
    def asr_url(self) -> str:
        return f"http://{self.asr_host}:{self.asr_port}"

    @property
    def license_proxy_url(self) -> str:
        return f"http://{self.license_proxy_host}:{self.license_proxy_port}"

    @property
    def svara_enabled(self) -> bool:
        """The Svara backend runs only in the GPU profile or when vLLM is pointed at explicitly."""
        return self.profile == "gpu"
