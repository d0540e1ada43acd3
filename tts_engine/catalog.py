"""One voice catalogue over every backend: which voices exist, which can speak right now."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .base import TTSBackend, Voice


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

    def __init__(self, default_voice: str = "") -> None:
        self._backends: list[TTSBackend] = []
        self.default_voice = default_voice

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

    def resolve(self, voice_id: str | None) -> tuple[Voice, TTSBackend]:
        """The voice and the backend that speaks it; `None`/"" means the default voice."""
        wanted = voice_id or self.default_voice or (self.ids()[0] if self.ids() else "")
        for backend in self._backends:
            for voice in backend.voices():
                if voice.id == wanted:
                    return voice, backend
        raise UnknownVoice(wanted, self.ids())
