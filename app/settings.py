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

    # --- TTS -----------------------------------------------------------------------------------
    tts_default_voice: str = Field("en_us_joe", description="Voice used when a request names none.")
    tts_piper_enabled: bool | None = Field(
        None,
        description="Load the Piper CPU voice. Unset: on in the cpu profile, and in the gpu profile "
        "when the optional piper-tts package is installed.",
    )
    tts_piper_threads: int = Field(2, ge=1, description="Piper syntheses that may run at the same time.")
    max_text_chars: int = Field(
        5000, ge=1, description="Longest text one TTS request may carry (413 beyond)."
    )
    tts_first_piece_chars: int = Field(
        80, ge=10, description="Longest first piece of a text: audio starts once it is synthesised."
    )
    tts_max_piece_chars: int = Field(300, ge=20, description="Longest later piece sent to a backend at once.")
    tts_crossfade_ms: float = Field(15.0, ge=0, description="Crossfade between consecutive pieces.")
    tts_ws_idle_timeout_s: float = Field(
        30.0, gt=0, description="WS /v1/speak/stream: close a client that sends nothing for this long."
    )

    # --- license -------------------------------------------------------------------------------

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
    def svara_enabled(self) -> bool:
        """The Svara backend runs only in the GPU profile or when vLLM is pointed at explicitly."""
        return self.profile == "gpu"
