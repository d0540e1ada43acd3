"""A WebSocket speaking session: text arrives in pieces, each sentence is spoken once complete.

One encoder lives for the whole connection (an Ogg or MP3 stream stays one valid stream); the
speed/rate filters are flushed at the end of each sentence so all of its audio goes out at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from app.audio.encode import PyAVEncoder, make_encoder
from tts_engine.text.split import split_sentences

from .speech import SpeechPlan, SpeechService


class SentenceBuffer:
    """Collects streamed text; hands out sentences once the text after them has started."""

    def __init__(self) -> None:
        self._text = ""

    def __len__(self) -> int:
        return len(self._text)

    def add(self, text: str) -> list[str]:
        self._text += text
        sentences = split_sentences(self._text)
        if len(sentences) < 2:
            return []
        # The last sentence may still grow ("3." + "5"): keep it until more text follows it.
        last = sentences[-1]
        self._text = self._text[self._text.rindex(last) :]
        return sentences[:-1]

    def take_all(self) -> str:
        text, self._text = self._text.strip(), ""
        return text


class SpeechSession:
    def __init__(self, service: SpeechService, template: SpeechPlan) -> None:
        self._service = service
        self._template = template
        self._encoder = make_encoder(template.format, template.sample_rate)
        self._finished = False
        self.characters = 0
        self.audio_seconds = 0.0

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        """One sentence through the service's encode loop (metrics included), on the session's encoder."""
        plan = self._service.plan_text(self._template, text)
        self.characters += len(text)
        before = self.audio_seconds

        def progress(seconds: float) -> None:
            self.audio_seconds = before + seconds

        async with contextlib.aclosing(self._service.encode(plan, self._encoder, progress)) as parts:
            async for data in parts:
                yield data

    def finish(self) -> bytes:
        self._finished = True
        return self._encoder.finish()

    def close(self) -> None:
        if not self._finished and isinstance(self._encoder, PyAVEncoder):
            self._encoder.close()
