"""The gateway in-process under a real uvicorn on a free port, for the TTS tests (session-scoped:
the Piper voice loads once). A spy backend wraps the real Piper voice so tests can see when the
synthesis underneath a request stops."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

import av
import numpy as np
import pytest

from app.main import create_app
from app.settings import GatewaySettings
from tests.support import ServerThread, free_port, voice_ready, wait_until
from tts_engine.base import SynthesisRequest, Voice
from tts_engine.piper_backend import PiperBackend

SPY_VOICE = "test_spy_joe"


def audio_seconds(data: bytes) -> float:
    """How long an encoded clip plays, by decoding it (its header is not trusted)."""
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(audio=0))
    return sum(f.samples for f in frames) / frames[0].sample_rate


class SpyBackend:
    """Delegates to the real Piper backend under another voice id; counts what happened."""

    name = "spy"
    clones_voices = False

    def __init__(self, inner: PiperBackend) -> None:
        self.inner = inner
        self.started = 0
        self.finished = 0  # generators that ran to their end
        self.closed_early = 0  # generators closed before their end (consumer went away)
        self.chunks = 0

    def voices(self) -> list[Voice]:
        return [replace(v, id=SPY_VOICE, backend=self.name) for v in self.inner.voices()]

    def is_available(self) -> bool:
        return self.inner.is_available()

    def check(self, request: SynthesisRequest) -> None:
        self.inner.check(request)

    async def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray]:
        self.started += 1
        completed = False
        try:
            async for chunk in self.inner.synthesize(replace(request, voice=self.inner.voices()[0])):
                self.chunks += 1
                yield chunk
            completed = True
        finally:
            if completed:
                self.finished += 1
            else:
                self.closed_early += 1

    async def close(self) -> None:
        return None


@dataclass
class Gateway:
    url: str
    app: object
    spy: SpyBackend

    @property
    def piper(self) -> PiperBackend:
        return self.app.state.tts.piper  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(scope="session")
def tts_gateway(redis_url: str) -> Iterator[Gateway]:
    settings = GatewaySettings(
        redis_url=redis_url,
        asr_port=free_port(),
        license_proxy_port=free_port(),
        profile="cpu",
        tts_piper_enabled=True,
        max_text_chars=5000,
        ws_idle_timeout_s=2.0,
    )
    app = create_app(settings)
    with ServerThread(app) as server:
        wait_until(lambda: voice_ready(server.url), 60, "the Piper voice to load")
        spy = SpyBackend(app.state.tts.piper)
        app.state.tts.catalog.add(spy)
        yield Gateway(url=server.url, app=app, spy=spy)
