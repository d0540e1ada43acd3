"""WS /v1/listen/stream through the gateway to a real worker: real-time pace, finals per utterance,
control messages, session limits and malformed frames."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.support import own_database
from tests.support.asr import (
    MAX_WER,
    SENTENCES,
    ServerThread,
    Speech,
    piper_speech,
    start_worker,
    wer,
)

CHUNK_S = 0.1
PACE = 2.0  # audio sent twice as fast as real time: keeps the suite short, still paced


def _ws_url(gateway: ServerThread, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"ws://127.0.0.1:{gateway.port}/v1/listen/stream?{query}"


async def _stream(
    url: str, pcm: bytes, rate: int = 16000, tail: list[Any] | None = None, pace: float = PACE
) -> list[dict[str, Any]]:
    """Send the audio paced, then close_stream; return every message until the server closes."""
    messages: list[dict[str, Any]] = []
    async with connect(url) as ws:

        async def receive() -> None:
            async for raw in ws:
                messages.append(json.loads(raw))

        receiver = asyncio.create_task(receive())
        step = int(CHUNK_S * rate) * 2
        for offset in range(0, len(pcm), step):
            await ws.send(pcm[offset : offset + step])
            await asyncio.sleep(CHUNK_S / pace)
        for item in tail or []:
            await ws.send(item)
        await ws.send(json.dumps({"type": "close_stream"}))
        await asyncio.wait_for(receiver, 60)
        assert ws.close_code == 1000
    return messages


@pytest.fixture(scope="module")
def three_utterances() -> Speech:
    return piper_speech(SENTENCES, pause_s=1.0)


async def test_realtime_stream_partials_finals_then_last(
    gateway: ServerThread,
    three_utterances: Speech,
) -> None:
    messages = await _stream(_ws_url(gateway, word_timestamps="true"), three_utterances.pcm16k())
    assert messages[-1]["is_last"] is True and all(not m["is_last"] for m in messages[:-1])
    session_ids = {m["session_id"] for m in messages}
    assert len(session_ids) == 1
    partials = [m for m in messages[:-1] if not m["is_final"]]
    finals = [m for m in messages[:-1] if m["is_final"]]
    assert partials, "no partial results before the finals"
    assert len(finals) == len(SENTENCES), [f["transcript"] for f in finals]  # one final per utterance
    for final, sentence in zip(finals, SENTENCES, strict=True):
        assert wer(sentence, final["transcript"]) <= MAX_WER, final["transcript"]
    # Partials stabilise: the agreed prefix is a prefix of the partial that carries it.
    stable = [p for p in partials if p["stable"]]
    assert stable and all(p["transcript"].startswith(p["stable"]) for p in stable)
    # Word times are on the session's clock: increasing across utterances, inside the audio.
    starts = [w["start"] for f in finals for w in f["words"]]
    assert starts == sorted(starts) and 0 <= starts[0] and starts[-1] <= three_utterances.duration
    # Streaming and batch agree within a few WER points on the same audio.
    streamed = " ".join(f["transcript"] for f in finals)
    async with httpx.AsyncClient(timeout=120) as http:
        batch = (await http.post(f"{gateway.url}/v1/listen", content=three_utterances.wav())).json()["text"]
    assert abs(wer(three_utterances.text, streamed) - wer(three_utterances.text, batch)) <= 0.05, (
        streamed,
        batch,
    )


async def test_eight_concurrent_real_time_streams_all_get_their_finals(
    gateway: ServerThread, three_utterances: Speech
) -> None:
    """Eight sessions at once on one worker: its scheduler decodes them together, and each stream
    still gets one correct final per utterance (how fast is bench/asr_streams.py's business). A
    batch job sent meanwhile shares the model and finishes too."""
    talks = [[SENTENCES[(i + k) % len(SENTENCES)] for k in range(2)] for i in range(8)]
    audio = [piper_speech(talk, pause_s=1.0).pcm16k() for talk in talks]

    async def one(index: int) -> list[dict[str, Any]]:
        await asyncio.sleep(index * 0.25)  # staggered, as callers are
        return await _stream(_ws_url(gateway), audio[index], pace=1.0)

    async def batch() -> str:
        async with httpx.AsyncClient(timeout=120) as http:
            response = await http.post(f"{gateway.url}/v1/listen", content=three_utterances.wav())
            return str(response.json()["text"])

    *streams, text = await asyncio.gather(*(one(i) for i in range(8)), batch())
    assert wer(three_utterances.text, text) <= MAX_WER, text
    for talk, messages in zip(talks, streams, strict=True):
        finals = [m for m in messages if m["is_final"] and not m["is_last"]]
        assert len(finals) == len(talk), [f["transcript"] for f in finals]
        for sentence, final in zip(talk, finals, strict=True):
            assert wer(sentence, final["transcript"]) <= MAX_WER, final["transcript"]
        assert messages[-1]["is_last"] is True


async def test_finalize_flushes_and_keeps_the_session_open(gateway: ServerThread) -> None:
    one = piper_speech(SENTENCES[:1], pause_s=0.2)  # too little trailing silence for the endpointer
    pcm = one.pcm16k()
    messages = await _stream(_ws_url(gateway), pcm, tail=[json.dumps({"type": "finalize"}), pcm])
    finals = [m for m in messages if m["is_final"] and not m["is_last"]]
    assert len(finals) == 2  # one from finalize, one flushed by close_stream after more audio
    assert all(wer(SENTENCES[0], f["transcript"]) <= MAX_WER for f in finals)


async def test_other_sample_rate_is_resampled(gateway: ServerThread) -> None:
    one = piper_speech(SENTENCES[:1])
    pcm8k = one.pcm[:: max(1, one.rate // 8000)].astype("<i2").tobytes()  # crude decimation to ~8 kHz
    rate = one.rate // max(1, one.rate // 8000)
    messages = await _stream(_ws_url(gateway, sample_rate=str(rate)), pcm8k, rate=rate)
    text = " ".join(m["transcript"] for m in messages if m["is_final"])
    assert wer(SENTENCES[0], text) <= 0.35  # decimation without a filter aliases: a looser bound


@pytest.mark.parametrize(
    ("params", "frames", "code", "error"),
    [
        ({}, [b"\x01\x02\x03"], 1007, "bad_request"),
        ({}, ["not json"], 1007, "bad_request"),
        ({}, [json.dumps({"type": "dance"})], 1008, "invalid_parameter"),
        ({}, [json.dumps([1, 2])], 1008, "invalid_parameter"),
        ({"encoding": "mulaw"}, [], 1003, "unsupported_media"),
        ({"sample_rate": "fast"}, [], 1008, "invalid_parameter"),
        ({"sample_rate": "1000000"}, [], 1008, "invalid_parameter"),
        ({"language": "de"}, [], 1008, "invalid_parameter"),
        ({"language": "x" * 40}, [], 1008, "invalid_parameter"),  # beyond the worker contract's options
    ],
)
async def test_malformed_frames_get_an_error_and_a_close_code(
    gateway: ServerThread, params: dict[str, str], frames: list[Any], code: int, error: str
) -> None:
    async with connect(_ws_url(gateway, **params)) as ws:
        for frame in frames:
            await ws.send(frame)
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["type"] == "error" and message["error"]["code"] == error
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == code


async def test_idle_session_is_closed(gateway: ServerThread) -> None:
    async with connect(_ws_url(gateway)) as ws:  # the worker's idle timeout is 3 s in these tests
        message = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert message["error"]["code"] == "idle_timeout"
        # the worker's errors pass through in the gateway's one error shape
        assert message["error"]["type"] == "invalid_request_error" and "param" in message["error"]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1008
    # The worker keeps serving: a fresh session works.
    one = piper_speech(SENTENCES[:1])
    messages = await _stream(_ws_url(gateway), one.pcm16k())
    assert any(m["is_final"] and m["transcript"] for m in messages)


async def test_session_longer_than_the_limit_ends_with_is_last_and_1008(
    redis_url: str, tmp_path: Path, speech: Speech
) -> None:
    own_db = own_database(redis_url)  # it must not take batch jobs of other tests
    worker = await asyncio.to_thread(
        start_worker, own_db, tmp_path, "worker-short", ASR_STREAM_MAX_SESSION_S="2"
    )
    try:
        messages: list[dict[str, Any]] = []
        async with connect(f"ws://127.0.0.1:{worker.port}/v1/stream") as ws:
            pcm = speech.pcm16k()
            for offset in range(0, len(pcm), 6400):  # 200 ms frames, no pacing: the limit is audio time
                await ws.send(pcm[offset : offset + 6400])
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            assert ws.close_code == 1008
        assert messages[-1]["error"]["code"] == "max_duration"
        assert messages[-2]["is_last"] is True and 2.0 <= messages[-2]["duration"] <= 2.3
        assert any(
            m.get("is_final") and m.get("transcript") for m in messages[:-2]
        )  # speech so far is flushed
    finally:
        worker.stop()
