"""Request fields several surfaces take alike: the sampling fields of backends driven by a language
model, zero-shot cloning (the Svara SDK sends both on OpenAI's route as well as on its own), and a
request's pronunciation lexicon.
The service checks their values, so every surface gives the same message."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.limits import documented
from app.services.reference import ReferenceUpload
from tts_engine.base import SAMPLING_BOUNDS, SamplingParams


class SamplingFields(BaseModel):
    """Sampling fields for backends driven by a language model (Svara); others ignore them."""

    temperature: float | None = documented(SAMPLING_BOUNDS["temperature"])
    top_p: float | None = documented(SAMPLING_BOUNDS["top_p"])
    top_k: int | None = documented(SAMPLING_BOUNDS["top_k"])
    repetition_penalty: float | None = documented(SAMPLING_BOUNDS["repetition_penalty"])
    max_tokens: int | None = documented(SAMPLING_BOUNDS["max_tokens"])
    seed: int | None = documented(SAMPLING_BOUNDS["seed"])

    def sampling(self) -> SamplingParams:
        return SamplingParams(**{name: getattr(self, name) for name in SAMPLING_BOUNDS})


class CloningFields(BaseModel):
    """Zero-shot cloning (Svara voices): speak in the voice of a 1-30 s reference recording."""

    reference_audio: str | None = Field(
        None, description="Reference recording, base64 (or a data: URL); as multipart, a file part."
    )
    reference_transcript: str | None = Field(None, description="The words spoken in reference_audio.")

    def reference(self, upload: bytes | None = None) -> ReferenceUpload:
        """The reference as sent: this body's fields, or `upload` (a multipart file part)."""
        return ReferenceUpload.from_fields(self.reference_audio, self.reference_transcript, upload)


MAX_LEXICON_ENTRIES = 200
_Word = Annotated[str, StringConstraints(min_length=1, max_length=100)]
_Spoken = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class LexiconFields(BaseModel):
    """This request's pronunciations, applied before the model (tts_engine/text/lexicon.py)."""

    lexicon: dict[_Word, _Spoken] | None = Field(
        None,
        max_length=MAX_LEXICON_ENTRIES,
        description="This request's pronunciations, word -> spoken form (whole words, case-sensitive), "
        f"ahead of the operator's lexicon; at most {MAX_LEXICON_ENTRIES} entries.",
        examples=[{"SBI": "एस बी आई", "ISRO": "इसरो"}],
    )
