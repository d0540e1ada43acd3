"""Health monitor configuration."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MonitorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    supervisor_socket: str = Field(
        "/tmp/appliance/run/supervisor.sock", description="supervisord's unix socket (XML-RPC)."
    )
    monitor_interval_s: float = Field(3.0, description="Seconds between two rounds of health checks.")
    monitor_probe_timeout_s: float = Field(2.0, description="A program that does not answer in this time fails.")
    monitor_failures_before_restart: int = Field(
        3, description="Consecutive failed checks after which a hung program is restarted."
    )
    monitor_startup_grace_s: float = Field(
        60.0,
        description="No restarts within this many seconds after a program started, unless it has already "
        "answered a check: the grace ends at the first healthy check (like a startupProbe).",
    )
    monitor_vllm_startup_grace_s: float = Field(
        900.0,
        description="Start-up grace for vLLM, which may need minutes to load the model (it answers only "
        "once loaded); also ends at its first healthy check.",
    )
    monitor_summary_interval_s: float = Field(60.0, description="Seconds between one-line status summaries.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Where component states are published.")
    redis_password: str = Field("", description="Redis password, when REDIS_URL carries none.")
    gateway_port: int = Field(8080, description="The gateway's port (probed on loopback).")
    asr_host: str = Field("127.0.0.1", description="The ASR worker's address.")
    asr_port: int = Field(2233, description="The ASR worker's port.")
    license_proxy_host: str = Field("127.0.0.1", description="The license proxy's address.")
    license_proxy_port: int = Field(6699, description="The license proxy's port.")
    tts_llm_base_url: str = Field("http://127.0.0.1:8000", description="The vLLM server.")
    log_level: str = Field("info", description="Log level.")
