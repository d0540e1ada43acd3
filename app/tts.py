"""TTS wiring for the gateway lifespan: backends, the voice catalogue, the speech service, and the
"tts" and "svara" readiness components. Adding a backend is one `catalog.add(...)` line here.

The Svara backend module (and with it torch) is imported only when a backend is created: a gateway
with Svara off never loads torch. Its errors are engine errors (tts_engine.base), mapped onto HTTP
errors by app.errors.from_engine_error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common.aio import cancel_and_wait
from common.states import ComponentState
from tts_engine.piper_backend import PiperBackend
from tts_engine.svara.config import DecoderOptions, SvaraConfig
from tts_engine.svara.errors import SnacLoadError
from tts_engine.text import load_lexicons
from tts_engine.unavailable import UnavailableBackend
from tts_engine.voices import SvaraVoice, VoiceCatalog, load_aliases, load_svara_voices

from .components import ComponentRegistry, Probe, ProbeResult
from .limits import TextLimits
from .services.speech import SpeechService
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
        snac_model=settings.snac_model_path,
        snac_device=settings.snac_device,
        snac_cpu_threads=settings.snac_cpu_threads,
        snac_batching={"auto": None, "on": True, "off": False}[settings.snac_batching],
        decoder=DecoderOptions(fast_start=settings.snac_fast_start, max_span=settings.snac_max_span_frames),
        frame_processor=settings.svara_frame_processor,
    )


async def create_svara_backend(config: SvaraConfig, voices: dict[str, SvaraVoice]) -> SvaraBackend:
    """Load SNAC off the event loop and start probing vLLM. Raises SnacLoadError (a clear message,
    meant for the start-up log and /health) when SNAC_MODEL_PATH is unusable."""
    from tts_engine.svara.backend import SvaraBackend  # torch: only when Svara is on

    backend = await asyncio.to_thread(SvaraBackend.create, config, voices)
    await backend.start()
    return backend


class SvaraLoader:
    """Lists the Svara voices at once (unavailable), loads SNAC in the background, then swaps the
    real backend in; its probe is the "svara" component of /health."""

    def __init__(self, config: SvaraConfig, catalog: VoiceCatalog, voices: dict[str, SvaraVoice]) -> None:
        self.config = config
        self.catalog = catalog
        self.voices = voices
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
            backend = await create_svara_backend(self.config, self.voices)
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
            if self.backend.problem is not None:
                detail["error"] = self.backend.problem
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


def start_tts(settings: GatewaySettings, registry: ComponentRegistry) -> TTSRuntime:
    """Build the TTS side and start loading the Piper voice in the background (the gateway answers
    at once; requests for a voice still loading get 503 + Retry-After)."""
    aliases_path = Path(settings.tts_voice_aliases_path) if settings.tts_voice_aliases_path else None
    catalog = VoiceCatalog(default_voice=settings.default_voice, aliases=load_aliases(aliases_path))
    # A malformed lexicon stops the start here, its path and line in the message (LexiconError).
    lexicons = load_lexicons(Path(settings.tts_lexicon_dir) if settings.tts_lexicon_dir else None)
    service = SpeechService(
        catalog,
        TextLimits(
            max_chars=settings.max_text_chars,
            first_piece_chars=settings.tts_first_piece_chars,
            max_piece_chars=settings.tts_max_piece_chars,
        ),
        crossfade_ms=settings.tts_crossfade_ms,
        retry_after_s=settings.retry_after_s,
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
    voices = load_svara_voices(settings.svara_voices_path)
    if settings.svara_enabled:
        svara = SvaraLoader(svara_config(settings), catalog, voices)
        loading.append(asyncio.create_task(svara.load()))
        registry.add("svara", svara.probe)
    else:
        # Listed, so clients see what the appliance offers, but refused with the reason.
        catalog.add(UnavailableBackend(
            "svara",
            [v.voice for v in voices.values()],
            f"the Svara voices are disabled in this deployment (PROFILE={settings.profile}; "
            "they need vLLM, see TTS_SVARA_ENABLED)",
            retry_after_s=settings.retry_after_s,
        ))
        registry.add("svara", None)
    return TTSRuntime(catalog=catalog, service=service, piper=piper, loading=loading)
