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
        10_000, description="Usage records the gateway holds while the proxy is unreachable (then drops)."
    )

    @property
    def asr_url(self) -> str:
        return f"http://{self.asr_host}:{self.asr_port}"

    @property
    def license_proxy_url(self) -> str:
        return f"http://{self.license_proxy_host}:{self.license_proxy_port}"

    @property
    def effective_license_mode(self) -> str:
        if self.license_mode is not None:
            return self.license_mode
        return "online" if self.profile == "gpu" else "disabled"

    @property
    def svara_enabled(self) -> bool:
        """The Svara backend runs only in the GPU profile or when vLLM is pointed at explicitly."""
        return self.profile == "gpu"
