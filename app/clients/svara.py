"""The Svara backend as the gateway hosts it, configured from GatewaySettings. Its errors are engine
errors (tts_engine.base), mapped onto HTTP errors by app.errors.from_engine_error.

The backend module (and with it torch) is imported only when a backend is created: a gateway with
Svara off never loads torch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from app.settings import GatewaySettings
from tts_engine.svara.config import DecoderOptions, SvaraConfig

if TYPE_CHECKING:
    from tts_engine.svara.backend import SvaraBackend


def svara_config(settings: GatewaySettings) -> SvaraConfig:
    """The one place the gateway's settings become the Svara backend's configuration."""
    return SvaraConfig(
        vllm_url=settings.tts_llm_base_url,
        vllm_api_key=settings.vllm_api_key,
        model=settings.vllm_served_model_name,
        max_model_len=settings.vllm_max_model_len,
        connect_timeout_s=settings.svara_connect_timeout_s,
        stall_timeout_s=settings.svara_stall_timeout_s,
        health_interval_s=settings.svara_health_interval_s,
        retry_after_s=settings.retry_after_s,
        template=settings.svara_prompt_template,
        templates_path=settings.svara_templates_path,
        voices_path=settings.svara_voices_path,
        snac_model=settings.snac_model_path,
        snac_device=settings.snac_device,
        snac_cpu_threads=settings.snac_cpu_threads,
        snac_batching={"auto": None, "on": True, "off": False}[settings.snac_batching],
        decoder=DecoderOptions(fast_start=settings.snac_fast_start, max_span=settings.snac_max_span_frames),
        frame_processor=settings.svara_frame_processor,
    )


async def create_svara_backend(config: SvaraConfig) -> SvaraBackend:
    """Load SNAC off the event loop and start probing vLLM. Raises SnacLoadError (a clear message,
    meant for the start-up log and /health) when SNAC_MODEL_PATH is unusable."""
    from tts_engine.svara.backend import SvaraBackend  # torch: only when Svara is on

    backend = await asyncio.to_thread(SvaraBackend.create, config)
    await backend.start()
    return backend
