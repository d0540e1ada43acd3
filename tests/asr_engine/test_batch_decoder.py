"""The batched decoder on the real tiny.en model: Piper speech of several utterances in one batch."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper import WhisperModel

from asr_engine import bundled
from asr_engine.decoder import BatchDecoder, DecodeRequest
from common.pcm import pcm16_to_float
from tests.support.asr import MAX_WER, SENTENCES, piper_speech, wer


@pytest.fixture(scope="module")
def utterances() -> list[np.ndarray]:
    return [pcm16_to_float(piper_speech([s], 0.3).pcm16k()) for s in SENTENCES]


def test_one_batch_decodes_every_utterance_as_it_would_alone(
    decoder: BatchDecoder, utterances: list[np.ndarray]
) -> None:
    together = decoder.decode([DecodeRequest(audio) for audio in utterances])
    alone = [decoder.decode([DecodeRequest(audio)])[0] for audio in utterances]
    for sentence, result in zip(SENTENCES, together, strict=True):
        assert wer(sentence, result.text) <= MAX_WER, result.text
        assert result.language == "en"
    # Each window depends on its own audio only: the batch does not change what is heard.
    assert [r.text for r in together] == [r.text for r in alone]


def test_beams_prompts_and_window_lengths_mix_in_one_call(decoder: BatchDecoder, utterances: list[np.ndarray]) -> None:
    two = np.concatenate([utterances[1], utterances[2]])  # a longer window than the others
    requests = [
        DecodeRequest(utterances[0], beam_size=5, fallback=True),
        DecodeRequest(utterances[1], prompt="A call about the weather."),  # a prompt of its own length
        DecodeRequest(utterances[2]),
        DecodeRequest(two),
    ]
    assert len({decoder.window_s(len(r.audio) / 16000) for r in requests}) == 2
    results = decoder.decode(requests)
    expected = [SENTENCES[0], SENTENCES[1], SENTENCES[2], f"{SENTENCES[1]} {SENTENCES[2]}"]
    for sentence, result in zip(expected, results, strict=True):
        assert wer(sentence, result.text) <= MAX_WER, result.text


def test_word_timestamps_follow_the_audio(decoder: BatchDecoder, utterances: list[np.ndarray]) -> None:
    plain, timed = decoder.decode(
        [DecodeRequest(utterances[0]), DecodeRequest(utterances[1], word_timestamps=True)]
    )
    assert plain.words == []
    duration = len(utterances[1]) / 16000
    assert " ".join(w.word for w in timed.words) == timed.text
    starts = [w.start for w in timed.words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end <= duration + 0.1 for w in timed.words)
    assert 0 <= timed.words[0].start < 0.8 and timed.words[-1].end > duration - 1.0  # speech fills the clip


def test_the_window_leaves_at_least_the_margin_of_silence(decoder: BatchDecoder) -> None:
    assert decoder.window_s(0.5) == 5 and decoder.window_s(3.0) == 10 and decoder.window_s(6.5) == 15
    assert decoder.window_s(25.0) == 30 and decoder.window_s(40.0) == 30  # the encoder sees 30 s at most


class CountingModel:
    """The real CTranslate2 model; it counts generate calls (to see a decode tried again)."""

    def __init__(self, model: object) -> None:
        self.model = model
        self.generated = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)

    def generate(self, *args: object, **kwargs: object) -> object:
        self.generated += 1
        return self.model.generate(*args, **kwargs)  # type: ignore[attr-defined]


def test_a_final_that_loops_is_decoded_again_at_higher_temperatures(utterances: list[np.ndarray]) -> None:
    model = WhisperModel(str(bundled.tiny_en()), device="cpu", compute_type="int8", cpu_threads=2)
    counting = model.model = CountingModel(model.model)  # type: ignore[assignment]
    # No silence after the audio: Whisper repeats the sentence, and the compression ratio shows it.
    looping = BatchDecoder(model, margin_s=0, step_s=1)
    partial = looping.decode([DecodeRequest(utterances[1])])[0]
    assert wer(SENTENCES[1], partial.text) > 0.5 and counting.generated == 1  # partials take the first
    counting.generated = 0
    looping.decode([DecodeRequest(utterances[1], fallback=True)])
    assert counting.generated > 1


@pytest.mark.gpu
def test_the_same_batches_decode_on_cuda(utterances: list[np.ndarray]) -> None:
    model = WhisperModel(str(bundled.tiny_en()), device="cuda", compute_type="float16")
    results = BatchDecoder(model).decode([DecodeRequest(a, word_timestamps=True) for a in utterances])
    for sentence, result in zip(SENTENCES, results, strict=True):
        assert wer(sentence, result.text) <= MAX_WER and result.words, result.text
