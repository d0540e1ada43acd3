"""The Piper backend without its optional package, and the service's answer for a voice not ready."""

from __future__ import annotations

import sys

import pytest

from app.errors import UpstreamUnavailable
from app.services.speech import SpeechRequest, SpeechService
from tts_engine.base import TTSBackend
from tts_engine.piper_backend import PiperBackend
from tts_engine.voices import VoiceCatalog


async def test_missing_piper_is_an_actionable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "piper", None)  # what `import piper` sees when it is not installed
    backend = PiperBackend()
    assert isinstance(backend, TTSBackend)
    await backend.load()
    assert not backend.is_available()
    assert backend.error is not None and "speech-appliance[cpu-voice]" in backend.error
    catalog = VoiceCatalog(default_voice="en_us_joe")
    catalog.add(backend)
    assert [e.available for e in catalog.entries()] == [False]  # listed, not available
    with pytest.raises(UpstreamUnavailable) as caught:
        SpeechService(catalog).prepare(SpeechRequest(text="Hello.", voice_id="en_us_joe"))
    assert caught.value.headers["Retry-After"]
    await backend.close()
