"""The Svara backend as the gateway hosts it, built from GatewaySettings. Its errors are engine
errors (tts_engine.base), mapped onto HTTP errors by app.errors.from_engine_error."""

from __future__ import annotations

import asyncio

from app.settings import GatewaySettings
from tts_engine.svara.backend import DecoderOptions, SvaraBackend


async def create_svara_backend(settings: GatewaySettings) -> SvaraBackend:
    """Load SNAC off the event loop and start probing vLLM. Raises SnacLoadError (a clear message,
    meant for the start-up log and /health) when SNAC_MODEL_PATH is unusable."""
    batching = {"auto": None, "on": True, "off": False}[settings.snac_batching]
    backend = await asyncio.to_thread(
        SvaraBackend.create,
        base_url=settings.tts_llm_base_url,
        model=settings.vllm_served_model_name,
        snac_model=settings.snac_model_path,
        device=settings.snac_device,
        template=settings.svara_prompt_template,
        templates_path=settings.svara_templates_path,
        voices_path=settings.svara_voices_path,
        max_model_len=settings.vllm_max_model_len,
        connect_timeout_s=settings.svara_connect_timeout_s,
        stall_timeout_s=settings.svara_stall_timeout_s,
        health_interval_s=settings.svara_health_interval_s,
        retry_after_s=settings.retry_after_s,
        batching=batching,
        decoder=DecoderOptions(fast_start=settings.snac_fast_start, max_span=settings.snac_max_span_frames),
        frame_processor=settings.svara_frame_processor,
    )
    await backend.start()
    return backend
