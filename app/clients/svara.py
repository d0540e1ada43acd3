"""The Svara backend as the gateway hosts it: built from GatewaySettings, engine errors mapped onto
the gateway's one error hierarchy. tts_engine never imports app, so the mapping lives here."""

from __future__ import annotations

import asyncio

from app.errors import ApplianceError, BadRequest, UpstreamTimeout, UpstreamUnavailable
from app.settings import GatewaySettings
from tts_engine.svara.backend import DecoderOptions, SvaraBackend
from tts_engine.svara.errors import (
    SnacLoadError,
    SvaraBadRequest,
    SvaraError,
    SvaraStalled,
    SvaraStreamFailed,
    SvaraUnavailable,
)


class UpstreamStreamFailed(ApplianceError):
    """vLLM failed after the stream had started (the response is already under way)."""

    status_code = 502
    code = "upstream_stream_failed"
    error_type = "server_error"


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
        decoder=DecoderOptions(
            left_context=settings.snac_left_context_frames,
            right_context=settings.snac_right_context_frames,
            first_right_context=settings.snac_first_right_context_frames,
            max_span=settings.snac_max_span_frames,
        ),
    )
    await backend.start()
    return backend


def to_appliance_error(exc: SvaraError) -> ApplianceError:
    """One place that turns Svara engine errors into the gateway's errors (and so its JSON shape)."""
    if isinstance(exc, SvaraUnavailable):
        return UpstreamUnavailable(str(exc), retry_after_s=exc.retry_after_s)
    if isinstance(exc, SvaraStalled):
        return UpstreamTimeout(str(exc))
    if isinstance(exc, SvaraBadRequest):
        return BadRequest(str(exc))
    if isinstance(exc, SvaraStreamFailed):
        return UpstreamStreamFailed(str(exc))
    if isinstance(exc, SnacLoadError):
        return UpstreamUnavailable(f"the SNAC decoder is not loaded: {exc}")
    return ApplianceError(str(exc))
