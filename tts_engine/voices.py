"""The voice catalogue: every backend's voices, which can speak right now, the aliases other APIs'
voice names resolve through, and the data files both are read from (read here and nowhere else)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .base import TTSBackend, Voice
from .svara.snac import SAMPLE_RATE as SVARA_SAMPLE_RATE

DEFAULT_ALIASES_PATH = Path(__file__).parent / "data" / "voice_aliases.json"
DEFAULT_SVARA_VOICES_PATH = Path(__file__).parent / "svara" / "voices.json"


def load_aliases(path: Path | None = None) -> dict[str, list[str]]:
    """Alias -> voice ids in order of preference. Raises ValueError naming a malformed entry."""
    source = path or DEFAULT_ALIASES_PATH
    entries = json.loads(Path(source).read_text(encoding="utf-8")).get("aliases", {})
    aliases: dict[str, list[str]] = {}
    for alias, targets in entries.items():
        if isinstance(targets, str):
            targets = [targets]
        if not targets or not all(isinstance(t, str) and t for t in targets):
            raise ValueError(f"{source}: alias {alias!r} must name one or more voice ids")
        aliases[alias] = list(targets)
    return aliases


@dataclass(frozen=True)
class SvaraVoice:
    voice: Voice  # the public face (id, name, language) shared with the catalogue
    speaker: str  # the exact string that goes into the prompt, e.g. "Hindi (Male)"


def load_svara_voices(path: str | Path | None = None) -> dict[str, SvaraVoice]:
    """The Svara voices by public id, from voices.json (or `path`). Raises ValueError naming the entry
    when the file is malformed."""
    source = Path(path) if path else DEFAULT_SVARA_VOICES_PATH
    entries = json.loads(source.read_text(encoding="utf-8"))["voices"]
    voices: dict[str, SvaraVoice] = {}
    for index, entry in enumerate(entries):
        try:
            voice = Voice(
                id=entry["id"],
                name=entry.get("name", entry["speaker"]),
                language=entry["language"],
                gender=entry["gender"],
                backend="svara",
                sample_rate=SVARA_SAMPLE_RATE,
            )
            speaker = entry["speaker"]
        except KeyError as exc:
            raise ValueError(f"{source}: voice #{index} lacks {exc}") from exc
        if voice.id in voices:
            raise ValueError(f"{source}: duplicate voice id {voice.id!r}")
        voices[voice.id] = SvaraVoice(voice=voice, speaker=speaker)
    return voices


class UnknownVoice(LookupError):
    def __init__(self, voice_id: str, valid: list[str]) -> None:
        super().__init__(voice_id)
        self.voice_id = voice_id
        self.valid = valid


@dataclass(frozen=True)
class VoiceEntry:
    voice: Voice
    available: bool

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self.voice), "available": self.available}


class VoiceCatalog:
    """Adding a backend is one `add()` call in the gateway lifespan."""

    def __init__(self, default_voice: str = "", aliases: dict[str, list[str]] | None = None) -> None:
        self._backends: list[TTSBackend] = []
        self.default_voice = default_voice
        self.aliases = aliases or {}

    def add(self, backend: TTSBackend) -> None:
        self._backends.append(backend)

    def replace(self, old: TTSBackend, new: TTSBackend) -> None:
        """Swap a backend in place (e.g. a loaded one for the placeholder that listed its voices)."""
        self._backends[self._backends.index(old)] = new

    @property
    def backends(self) -> list[TTSBackend]:
        return list(self._backends)

    def entries(self) -> list[VoiceEntry]:
        return [
            VoiceEntry(voice, backend.is_available())
            for backend in self._backends
            for voice in backend.voices()
        ]

    def ids(self) -> list[str]:
        return [entry.voice.id for entry in self.entries()]

    def _find(self, voice_id: str) -> tuple[Voice, TTSBackend] | None:
        for backend in self._backends:
            for voice in backend.voices():
                if voice.id == voice_id:
                    return voice, backend
        return None

    def resolve_alias(self, alias: str) -> tuple[Voice, TTSBackend] | None:
        """An alias's first target that can speak now, else its first that exists, else None."""
        found = [hit for target in self.aliases.get(alias, []) if (hit := self._find(target))]
        ready = [hit for hit in found if hit[1].is_available()]
        return (ready or found)[0] if found else None

    def alias_map(self) -> dict[str, str]:
        """Each alias with the voice id it resolves to right now (aliases that reach none left out)."""
        resolved = {alias: self.resolve_alias(alias) for alias in self.aliases}
        return {alias: hit[0].id for alias, hit in resolved.items() if hit is not None}

    def resolve(self, voice_id: str | None) -> tuple[Voice, TTSBackend]:
        """The voice and the backend that speaks it; `None`/"" means the default voice. A voice id
        wins over an alias of the same name."""
        wanted = voice_id or self.default_voice or (self.ids()[0] if self.ids() else "")
        hit = self._find(wanted) or self.resolve_alias(wanted)
        if hit is None:
            raise UnknownVoice(wanted, self.ids())
        return hit
