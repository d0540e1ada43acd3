"""The Svara voice catalogue, read from a data file (voices.json), not written in code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tts_engine.base import Voice

DEFAULT_VOICES_PATH = Path(__file__).with_name("voices.json")
SAMPLE_RATE = 24000


@dataclass(frozen=True)
class SvaraVoice:
    voice: Voice  # the public face (id, name, language) shared with the gateway's catalogue
    speaker: str  # the exact string that goes into the prompt, e.g. "Hindi (Male)"


def load_voices(path: Path | None = None) -> dict[str, SvaraVoice]:
    """Voices by public id. Raises ValueError naming the entry when the file is malformed."""
    source = path or DEFAULT_VOICES_PATH
    entries = json.loads(Path(source).read_text(encoding="utf-8"))["voices"]
    voices: dict[str, SvaraVoice] = {}
    for index, entry in enumerate(entries):
        try:
            voice = Voice(
                id=entry["id"],
                name=entry.get("name", entry["speaker"]),
                language=entry["language"],
                gender=entry["gender"],
                backend="svara",
                sample_rate=SAMPLE_RATE,
            )
            speaker = entry["speaker"]
        except KeyError as exc:
            raise ValueError(f"{source}: voice #{index} lacks {exc}") from exc
        if voice.id in voices:
            raise ValueError(f"{source}: duplicate voice id {voice.id!r}")
        voices[voice.id] = SvaraVoice(voice=voice, speaker=speaker)
    return voices
