"""Speaker labels through the real gateway and a real worker (tiny.en, the exported CAM++ model), in
both API shapes: `/v1/listen?diarize=true` (Smallest/Deepgram: `words[].speaker`, `utterances[]`) and
the OpenAI SDK's `gpt-4o-transcribe-diarize` with `diarized_json` (`segments[].speaker`, A, B, …).

The clips are spoken by tests.support.diarization.HELD_OUT_VOICES, voices the clustering was never
tuned on; each API must find the right speaker count and label at least 95 % of words right.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from app.main import create_app
from tests.support import ServerThread, own_database, wait_until
from tests.support.asr import Worker, gateway_settings, start_worker, to_wav
from tests.support.diarization import HELD_OUT_VOICES, Conversation, conversation, word_accuracy

pytestmark = pytest.mark.slow

MIN_ACCURACY = 0.95


@pytest.fixture(scope="module")
def diarizing_gateway(
    redis_url: str, speaker_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    """A worker with the speaker model (its own jobs database), and a gateway in front of it."""
    redis_url = own_database(redis_url)
    worker: Worker = start_worker(
        redis_url, tmp_path_factory.mktemp("asr-diarize"), "worker-diarize",
        ASR_BEAM_SIZE="1", ASR_DIARIZATION_MODEL=str(speaker_model),
    )
    try:
        assert httpx.get(f"{worker.url}/health", timeout=5).json()["speaker_labels"] is True
        with ServerThread(create_app(gateway_settings(redis_url, worker.port, max_audio_seconds=120))) as server:
            wait_until(lambda: httpx.get(f"{server.url}/health", timeout=2).status_code == 200, 30, "the gateway")
            yield server
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def clips() -> dict[int, Conversation]:
    """{speakers: clip}: 3, 4 and 6 sentences, the held-out voices in rotation."""
    return {
        speakers: conversation(HELD_OUT_VOICES[:speakers], sentences, first_sentence=speakers)
        for speakers, sentences in ((1, 3), (2, 4), (3, 6))
    }


def _wav(clip: Conversation) -> bytes:
    return to_wav((clip.audio * 32767).astype(np.int16), 16000)


@pytest.mark.parametrize("speakers", [1, 2, 3])
def test_listen_labels_words_and_utterances(diarizing_gateway: ServerThread, clips: dict, speakers: int) -> None:
    clip: Conversation = clips[speakers]
    response = httpx.post(
        f"{diarizing_gateway.url}/v1/listen", params={"diarize": "true"}, content=_wav(clip), timeout=300
    )
    assert response.status_code == 200, response.text
    body = response.json()
    words = body["words"]  # diarize brings the words: the labels are on them
    assert len(words) >= 6 * len(clip.turns), body["text"]  # a clip tiny.en could not hear proves nothing
    assert {w["speaker"] for w in words} == set(range(speakers))
    assert word_accuracy(words, clip.turns) >= MIN_ACCURACY
    assert all(0.0 < w["speaker_confidence"] <= 1.0 for w in words)
    # Utterances: cut at every change of speaker, and otherwise only at pauses of 0.8 s or more.
    utterances = body["utterances"]
    assert _changes(u["speaker"] for u in utterances) == _changes(t.speaker for t in clip.turns)
    for before, after in itertools.pairwise(utterances):
        assert before["speaker"] != after["speaker"] or after["start"] - before["end"] >= 0.8
    assert [w for u in utterances for w in u["words"]] == words
    for utterance in utterances:
        assert set(utterance) == {"start", "end", "transcript", "speaker", "confidence", "words"}
        assert utterance["transcript"] == " ".join(w["word"] for w in utterance["words"])
        first, last = utterance["words"][0], utterance["words"][-1]
        assert (utterance["start"], utterance["end"]) == (first["start"], last["end"])
    # Segments are cut where the speaker changes.
    assert all(s["speaker"] in range(speakers) for s in body["segments"])


def _changes(speakers: Iterable[int]) -> list[int]:
    """The speakers in order, one entry per change of speaker."""
    return [speaker for speaker, _ in itertools.groupby(speakers)]


def _segment_words(segments: list[Any]) -> list[dict[str, Any]]:
    """Each word of a diarized segment, at the segment's time with its speaker (A -> 0, B -> 1, …)."""
    return [
        {"start": s.start, "end": s.end, "speaker": ord(s.speaker) - ord("A")}
        for s in segments
        for _ in s.text.split()
    ]


@pytest.mark.parametrize("speakers", [1, 2, 3])
def test_openai_diarized_json(diarizing_gateway: ServerThread, clips: dict, speakers: int) -> None:
    clip: Conversation = clips[speakers]
    client = openai.OpenAI(base_url=f"{diarizing_gateway.url}/v1", api_key="unused", max_retries=0, timeout=300)
    result = client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("talk.wav", _wav(clip)), response_format="diarized_json",
        chunking_strategy="auto",
    )
    assert result.task == "transcribe" and abs(result.duration - clip.duration) < 0.05
    assert all(s.type == "transcript.text.segment" and s.id for s in result.segments)
    assert {s.speaker for s in result.segments} == {"ABC"[i] for i in range(speakers)}
    words = _segment_words(result.segments)
    assert len(words) >= 6 * len(clip.turns), result.text
    assert word_accuracy(words, clip.turns) >= MIN_ACCURACY
    assert " ".join(s.text for s in result.segments).split() == result.text.split()


def test_hints_and_async_jobs(diarizing_gateway: ServerThread, clips: dict) -> None:
    """num_speakers is honoured (on the OpenAI route as an extension field); a job with a callback_url
    is diarized too (its result kept by id)."""
    client = openai.OpenAI(base_url=f"{diarizing_gateway.url}/v1", api_key="unused", max_retries=0, timeout=300)
    result = client.audio.transcriptions.create(
        model="gpt-4o-transcribe-diarize", file=("talk.wav", _wav(clips[3])), response_format="diarized_json",
        extra_body={"num_speakers": 2},
    )
    assert {s.speaker for s in result.segments} == {"A", "B"}
    url = f"{diarizing_gateway.url}/v1/listen"
    hook = "http://127.0.0.1:9/hook"  # nobody listens: delivery is test_asr_callback's business
    params = {"diarize": "true", "num_speakers": "2", "callback_url": hook}
    queued = httpx.post(url, params=params, content=_wav(clips[3]), timeout=30)
    assert queued.status_code == 202, queued.text
    result_url = f"{url}/{queued.json()['request_id']}"
    wait_until(lambda: httpx.get(result_url).json().get("status") == "done", 120, "the queued job")
    result = httpx.get(result_url).json()
    assert {w["speaker"] for w in result["words"]} == {0, 1}
    assert {u["speaker"] for u in result["utterances"]} == {0, 1}


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"diarize": "true", "min_speakers": "3", "max_speakers": "2"}, "min_speakers"),
        ({"diarize": "true", "num_speakers": "two"}, "num_speakers"),
        ({"diarize": "true", "max_speakers": "21"}, "max_speakers"),
        ({"diarize": "maybe"}, "diarize"),
    ],
)
def test_bad_hints_are_422_naming_them(diarizing_gateway: ServerThread, clips: dict, params: dict, param: str) -> None:
    response = httpx.post(f"{diarizing_gateway.url}/v1/listen", params=params, content=_wav(clips[1]), timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param


async def test_live_sessions_refuse_diarize(diarizing_gateway: ServerThread) -> None:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{diarizing_gateway.port}/v1/listen/stream?diarize=true"
    async with connect(url) as ws:
        frame = await ws.recv()
        await ws.wait_closed()
    assert json.loads(frame)["error"]["param"] == "diarize" and ws.close_code == 1008


def test_a_worker_without_the_speaker_model_says_so(gateway: ServerThread, asr_worker: Worker, clips: dict) -> None:
    """The session's shared worker runs without ASR_DIARIZATION_MODEL: it transcribes, but diarize is a
    503 that says what is missing, and its /health says so."""
    assert httpx.get(f"{asr_worker.url}/health", timeout=5).json()["speaker_labels"] is False
    response = httpx.post(f"{gateway.url}/v1/listen", params={"diarize": "true"}, content=_wav(clips[1]), timeout=60)
    assert response.status_code == 503, response.text
    assert "speaker labels are unavailable" in response.json()["error"]["message"]
    assert httpx.post(f"{gateway.url}/v1/listen", content=_wav(clips[1]), timeout=60).status_code == 200
