"""Cloning references: the SNAC encoder with its LRU cache, the length and transcript limits, and the
cloning prompt layout (reference transcript and exactly the reference's codes before the target text)."""

from __future__ import annotations

import numpy as np
import pytest

from common.metrics import SVARA_REFERENCE_CACHE
from tests.support.svara import shared_engine, speech_like_audio
from tts_engine.base import VoiceReference
from tts_engine.svara.errors import SvaraBadRequest
from tts_engine.svara.prompt import PromptTemplate
from tts_engine.svara.reference import ReferenceEncoder
from tts_engine.svara.tokens import FrameAssembler


def _reference(seconds: float, transcript: str = "hello there", scale: float = 1.0) -> VoiceReference:
    return VoiceReference(audio=speech_like_audio(seconds) * scale, transcript=transcript, sample_rate=24000)


def _cache(result: str) -> float:
    return SVARA_REFERENCE_CACHE.labels(result=result)._value.get()


async def test_same_reference_is_encoded_once_and_matches_the_encoder_run_directly() -> None:
    encoder = ReferenceEncoder(shared_engine(), capacity=2)
    reference = _reference(1.5)
    misses, hits = _cache("miss"), _cache("hit")
    first = await encoder.encode(reference)
    second = await encoder.encode(_reference(1.5))  # equal samples, another object
    assert (_cache("miss") - misses, _cache("hit") - hits) == (1, 1)
    assert second.frames is first.frames
    np.testing.assert_array_equal(first.frames, shared_engine().encode(reference.audio))
    assert first.frames.shape[1] == 7 and first.frames.min() >= 0 and first.frames.max() < 4096


async def test_least_recently_used_reference_is_evicted() -> None:
    encoder = ReferenceEncoder(shared_engine(), capacity=1)
    await encoder.encode(_reference(1.0))
    await encoder.encode(_reference(1.0, scale=0.5))  # evicts the first
    misses = _cache("miss")
    await encoder.encode(_reference(1.0))
    assert _cache("miss") - misses == 1


@pytest.mark.parametrize(
    ("reference", "message", "param"),
    [
        (_reference(0.5), "at least 1 s", "reference_audio"),
        (_reference(30.5), "at most 30 s", "reference_audio"),
        (_reference(1.5, transcript="   "), "reference_transcript is required", "reference_transcript"),
        (
            VoiceReference(audio=np.zeros(48000, np.float32), transcript="hi", sample_rate=16000),
            "24000 Hz",
            "reference_audio",
        ),
    ],
)
async def test_bad_references_are_refused_before_encoding(reference: VoiceReference, message: str, param: str) -> None:
    misses = _cache("miss")
    with pytest.raises(SvaraBadRequest, match=message) as refused:
        await ReferenceEncoder(shared_engine()).encode(reference)
    assert refused.value.param == param  # the client's error names the field at fault
    assert _cache("miss") == misses


def test_cloning_prompt_carries_transcript_and_exactly_the_reference_codes() -> None:
    template = PromptTemplate.load("svara-v1")
    frames = np.random.default_rng(3).integers(0, 4096, size=(5, 7))
    prompt, bound = template.build_clone("the reference words <|eot_id|>", frames, "नमस्ते दुनिया")
    reference_turn, _, target_turn = prompt.partition("<custom_token_2>")  # end of the reference speech
    assert reference_turn.startswith("<|begin_of_text|><custom_token_3><|audio|>the reference words ")
    assert "<|eot_id|>" not in reference_turn.split("<custom_token_4>")[0]  # smuggled special token removed
    assembler = FrameAssembler(code_offset=template.audio_code_offset, codebook_size=template.codebook_size)
    decoded = assembler.feed(reference_turn.split("<custom_token_1>", 1)[1])
    np.testing.assert_array_equal(np.stack(decoded), frames)
    assert target_turn == (
        "<custom_token_6><|eot_id|><custom_token_3><|audio|>नमस्ते दुनिया<custom_token_4><|eot_id|>"
        "<custom_token_5><custom_token_1>"
    )
    special_tokens = len(template.clone_layout or []) - 3
    text_bytes = len(b"the reference words ") + len("नमस्ते दुनिया".encode())
    assert bound == frames.size + special_tokens + text_bytes


def test_template_without_cloning_layout_refuses() -> None:
    template = PromptTemplate.load("orpheus-v1")
    with pytest.raises(ValueError, match="no cloning layout"):
        template.build_clone("words", np.zeros((1, 7), dtype=np.int64), "text")
