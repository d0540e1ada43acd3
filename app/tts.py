"""TTS wiring for the gateway lifespan: backends, the voice catalogue, the speech service, and the
"tts" readiness component. Adding a backend is one `catalog.add(...)` line in `start_tts`'s caller.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common.aio import cancel_and_wait
from common.states import ComponentState
from tts_engine.catalog import VoiceCatalog, load_aliases
from tts_engine.piper_backend import PiperBackend
from tts_engine.svara.catalogue import load_voices
from tts_engine.svara.config import SvaraConfig
from tts_engine.svara.errors import SnacLoadError
from tts_engine.text import load_lexicons
from tts_engine.unavailable import UnavailableBackend

from .clients.svara import create_svara_backend, svara_config
from .components import ComponentRegistry, Probe, ProbeResult
from .limits import EngineLimiter
from .services.speech import SpeechLimits, SpeechService
from .settings import GatewaySettings

if TYPE_CHECKING:  # the module imports torch: loaded only when Svara is enabled
    from tts_engine.svara.backend import SvaraBackend

log = logging.getLogger(__name__)


@dataclass
class TTSRuntime:
    catalog: VoiceCatalog
    service: SpeechService
    piper: PiperBackend | None
    loading: list[asyncio.Task[None]]

    async def close(self) -> None:
        await cancel_and_wait(self.loading)
        for backend in self.catalog.backends:
            await backend.close()


class SvaraLoader:
    """Lists the Svara voices at once (unavailable), loads SNAC in the background, then swaps the
    real backend in; its probe is the "svara" component of /health."""

    def __init__(self, config: SvaraConfig, catalog: VoiceCatalog) -> None:
        self.config = config
        self.catalog = catalog
        voices = load_voices(Path(config.voices_path) if config.voices_path else None)
        self.placeholder = UnavailableBackend(
            "svara",
            [v.voice for v in voices.values()],
            "the Svara voices are loading (SNAC decoder); retry shortly",
            retry_after_s=config.retry_after_s,
        )
        self.backend: SvaraBackend | None = None
        self.error: str | None = None
        catalog.add(self.placeholder)

    async def load(self) -> None:
        try:
            backend = await create_svara_backend(self.config)
        except (SnacLoadError, ValueError) as exc:
            self.error = str(exc)
            self.placeholder.reason = f"the Svara voices cannot load: {exc}"
            log.error("svara backend failed to load", extra={"fields": {"error": self.error}})
            return
        self.catalog.replace(self.placeholder, backend)
        self.backend = backend

    async def probe(self) -> ProbeResult:
        if self.backend is not None:
            state = ComponentState.READY if self.backend.is_available() else ComponentState.DOWN
            detail = {"model": self.config.model, "vllm": self.config.vllm_url}
            if state is ComponentState.DOWN:
                detail["error"] = "vLLM is not answering its /health"
            return ProbeResult(state, detail)
        if self.error is not None:
            return ProbeResult(ComponentState.DOWN, {"error": self.error})
        return ProbeResult(ComponentState.STARTING)


def _piper_probe(piper: PiperBackend, loading: asyncio.Task[None]) -> Probe:
    async def probe() -> ProbeResult:
        detail = piper.status()
        if piper.is_available():
            return ProbeResult(ComponentState.READY, detail)
        if piper.error is not None:
            return ProbeResult(ComponentState.DOWN, {**detail, "error": piper.error})
        return ProbeResult(ComponentState.STARTING if not loading.done() else ComponentState.DOWN, detail)

    return probe


def start_tts(
    settings: GatewaySettings, registry: ComponentRegistry, limiter: EngineLimiter | None = None
) -> TTSRuntime:
    """Build the TTS side and start loading the Piper voice in the background (the gateway answers
    at once; requests for a voice still loading get 503 + Retry-After)."""
    aliases_path = Path(settings.tts_voice_aliases_path) if settings.tts_voice_aliases_path else None
    catalog = VoiceCatalog(default_voice=settings.default_voice, aliases=load_aliases(aliases_path))
    # A malformed lexicon stops the start here, its path and line in the message (LexiconError).
    lexicons = load_lexicons(Path(settings.tts_lexicon_dir) if settings.tts_lexicon_dir else None)
    service = SpeechService(
        catalog,
        SpeechLimits(
            max_text_chars=settings.max_text_chars,
            first_piece_chars=settings.tts_first_piece_chars,
            max_piece_chars=settings.tts_max_piece_chars,
            crossfade_ms=settings.tts_crossfade_ms,
        ),
        retry_after_s=settings.retry_after_s,
        limiter=limiter,
        lexicons=lexicons,
    )
    piper: PiperBackend | None = None
    loading: list[asyncio.Task[None]] = []
    if settings.piper_enabled:
        piper = PiperBackend(
            max_concurrency=settings.tts_piper_threads, first_audio_first=settings.tts_first_audio_first
        )
        catalog.add(piper)
        loading.append(asyncio.create_task(piper.load()))
        registry.add("tts", _piper_probe(piper, loading[-1]))
    else:
        registry.add("tts", None)
    if settings.svara_enabled:
        svara = SvaraLoader(svara_config(settings), catalog)
        loading.append(asyncio.create_task(svara.load()))
        registry.add("svara", svara.probe)
    else:
        # Listed, so clients see what the appliance offers, but refused with the reason.
        voices = load_voices(Path(settings.svara_voices_path) if settings.svara_voices_path else None)
        catalog.add(UnavailableBackend(
            "svara",
            [v.voice for v in voices.values()],
            f"the Svara voices are disabled in this deployment (PROFILE={settings.profile}; "
            "they need vLLM, see TTS_SVARA_ENABLED)",
            retry_after_s=settings.retry_after_s,
        ))
        registry.add("svara", None)
    return TTSRuntime(catalog=catalog, service=service, piper=piper, loading=loading)
