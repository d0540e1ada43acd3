"""POST /v1/audio/transcriptions through the official `openai` package, every response format."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.support.asr import (
    MAX_WER,
    ServerThread,
    Speech,
    wer,
)

_SRT_TIME = r"\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d"
_VTT_TIME = r"\d\d:\d\d:\d\d\.\d\d\d --> \d\d:\d\d:\d\d\.\d\d\d"


@pytest.fixture(scope="module")
def client(gateway: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0, timeout=120)


def _seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_json_and_text(client: openai.OpenAI, speech: Speech) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", speech.wav()))
    assert wer(speech.text, result.text) <= MAX_WER
    text = client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", speech.wav()), response_format="text"
    )
    assert isinstance(text, str) and wer(speech.text, text) <= MAX_WER


def test_verbose_json_with_words_and_segments(client: openai.OpenAI, speech: Speech) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1",
        file=("a.wav", speech.wav()),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        language="en",
        temperature=0.0,
        prompt="A short test.",
    )
    assert result.language == "en" and abs(result.duration - speech.duration) < 0.05
    assert wer(speech.text, result.text) <= MAX_WER
    assert result.words and result.segments
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= result.duration + 0.01 for w in result.words)
    assert all(0 <= s.start < s.end <= result.duration + 0.01 for s in result.segments)


def test_srt_and_vtt_are_valid(client: openai.OpenAI, speech: Speech) -> None:
    srt = client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", speech.wav()), response_format="srt"
    )
    blocks = [b for b in str(srt).strip().split("\n\n") if b]
    assert blocks
    previous_end = 0.0
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        assert re.fullmatch(_SRT_TIME, lines[1]), lines[1]
        start, end = (_seconds(t) for t in lines[1].split(" --> "))
        assert previous_end - 0.01 <= start < end <= speech.duration + 0.01
        previous_end = end
        assert lines[2].strip()
    vtt = str(
        client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", speech.wav()), response_format="vtt"
        )
    )
    assert vtt.startswith("WEBVTT\n\n")
    cues = [b for b in vtt.split("\n\n")[1:] if b.strip()]
    assert len(cues) == len(blocks)
    for cue in cues:
        timing, text = cue.split("\n", 1)
        assert re.fullmatch(_VTT_TIME, timing) and text.strip()


def test_openai_errors(client: openai.OpenAI, gateway: ServerThread, speech: Speech) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", speech.wav()), response_format="yaml"
        )  # type: ignore[arg-type]
    assert info.value.body["param"] == "response_format"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError):
        client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", speech.wav()), timestamp_granularities=["word"]
        )
    with pytest.raises(openai.APIStatusError) as bad:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"not audio at all" * 50))
    assert bad.value.status_code == 415
    # A raw body is not accepted here: the OpenAI surface is multipart only.
    raw = httpx.post(
        f"{gateway.url}/v1/audio/transcriptions", content=speech.wav(), headers={"content-type": "audio/wav"}
    )
    assert raw.status_code == 415
