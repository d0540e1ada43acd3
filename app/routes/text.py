"""POST /v1/text/normalize: the text a voice will read, after the lexicons and the reading of
numbers, money, dates and times in its language (what operators check a pronunciation with, and
what the playground shows). The same `SpeechService.read` as every TTS surface.

Also the `lexicon` field that the TTS request bodies share: this request's pronunciations.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.errors import InvalidParameter
from app.licensing import licensed
from app.services.speech import SpeechService, request_lexicon
from tts_engine.text import LANGUAGES, language_for

router = APIRouter(tags=["text-to-speech"])

MAX_LEXICON_ENTRIES = 200
_Word = Annotated[str, StringConstraints(min_length=1, max_length=100)]
_Spoken = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class LexiconFields(BaseModel):
    lexicon: dict[_Word, _Spoken] | None = Field(
        None,
        max_length=MAX_LEXICON_ENTRIES,
        description="This request's pronunciations, word -> spoken form (whole words, case-sensitive), "
        f"ahead of the operator's lexicon; at most {MAX_LEXICON_ENTRIES} entries.",
        examples=[{"SBI": "एस बी आई", "ISRO": "इसरो"}],
    )


class NormalizeBody(LexiconFields):
    model_config = ConfigDict(extra="ignore")
    text: str
    voice: str | None = Field(None, description="Read as this voice reads (its language); default: the default voice.")
    language: str | None = Field(None, description="Or read in this language (e.g. hi, ta, en), without a voice.")


class NormalizedText(BaseModel):
    text: str = Field(description="What the voice will read.")
    language: str = Field(description="The language it was read in.")


@router.post("/v1/text/normalize")
@licensed("tts")
async def normalize(body: NormalizeBody, request: Request) -> NormalizedText:
    service: SpeechService = request.app.state.speech
    service.check_text(body.text, "text")
    if body.voice is not None and body.language is not None:
        raise InvalidParameter("give voice or language, not both", param="language")
    if body.language is not None:
        lang = language_for(body.language)
        if lang is None:
            raise InvalidParameter(
                f"unknown language {body.language!r}; use one of: {', '.join(sorted(LANGUAGES))}",
                param="language",
            )
        language = lang.code
    else:
        voice, _ = service.find_voice(body.voice)  # a voice not ready to speak still reads the same way
        language = voice.language
    text = service.read(body.text, language, request_lexicon(body.lexicon))
    return NormalizedText(text=text, language=language)
