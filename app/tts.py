"""TTS wiring for the gateway lifespan: backends, the voice catalogue, the speech service, and the
"tts" readiness component. Adding a backend is one `catalog.add(...)` line in `start_tts`'s caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from common.states import ComponentState
from tts_engine.catalog import VoiceCatalog
from tts_engine.piper_backend import PiperBackend

from .components import ComponentRegistry, Probe, ProbeResult
from .services.speech import SpeechLimits, SpeechService
from .settings import GatewaySettings


@dataclass
class TTSRuntime:
    catalog: VoiceCatalog
    service: SpeechService
    piper: PiperBackend | None
    loading: asyncio.Task[None] | None

    async def close(self) -> None:
        if self.loading is not None:
            self.loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.loading
        for backend in self.catalog.backends:
            await backend.close()


def _piper_probe(piper: PiperBackend, loading: asyncio.Task[None]) -> Probe:
    async def probe() -> ProbeResult:
        detail = piper.status()
        if piper.is_available():
            return ProbeResult(ComponentState.READY, detail)
        if piper.error is not None:
            return ProbeResult(ComponentState.DOWN, {**detail, "error": piper.error})
        return ProbeResult(ComponentState.STARTING if not loading.done() else ComponentState.DOWN, detail)

    return probe


def start_tts(settings: GatewaySettings, registry: ComponentRegistry) -> TTSRuntime:
    """Build the TTS side and start loading the Piper voice in the background (the gateway answers
    at once; requests for a voice still loading get 503 + Retry-After)."""
    catalog = VoiceCatalog(default_voice=settings.tts_default_voice)
    service = SpeechService(
        catalog,
        SpeechLimits(
            max_text_chars=settings.max_text_chars,
            first_piece_chars=settings.tts_first_piece_chars,
            max_piece_chars=settings.tts_max_piece_chars,
            crossfade_ms=settings.tts_crossfade_ms,
        ),
    )
    piper: PiperBackend | None = None
    loading: asyncio.Task[None] | None = None
    if settings.piper_enabled:
        piper = PiperBackend(max_concurrency=settings.tts_piper_threads)
        catalog.add(piper)
        loading = asyncio.create_task(piper.load())
        registry.add("tts", _piper_probe(piper, loading))
    else:
        registry.add("tts", None)
    return TTSRuntime(catalog=catalog, service=service, piper=piper, loading=loading)
