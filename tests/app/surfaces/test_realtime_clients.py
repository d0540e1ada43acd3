"""`WS /v1/realtime?intent=transcription` through the gateway to a real ASR worker, driven by the
clients that use it: the openai SDK's Realtime client (server VAD and manual commits), LiveKit's
OpenAI STT plugin and Pipecat's OpenAIRealtimeSTTService in a pipeline; raw websockets only for the
malformed frames no client library sends."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import websockets
from websockets.asyncio.client import connect

from app.main import create_app
from tests.support import ServerThread, own_database, wait_until
from tests.support.asr import (
    MAX_WER,
    NAMES,
    SENTENCES,
    Speech,
    _asr_ready,
    encode,
    gateway_settings,
    names_speech,
    piper_speech,
    start_worker,
    wer,
)

RATE = 24000  # what every Realtime client sends
CHUNK_S = 0.1
TIMEOUT_S = 90


@pytest.fixture(scope="module")
def two_utterances() -> Speech:
    return piper_speech(SENTENCES[:2], pause_s=1.0)


def _pcm24k(speech: Speech) -> bytes:
    return encode(speech.pcm, speech.rate, "s16le", codec="pcm_s16le", out_rate=RATE)


def _chunks(pcm: bytes) -> list[bytes]:
    step = int(CHUNK_S * RATE) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def _update(audio_input: dict[str, Any]) -> str:
    return json.dumps({"type": "session.update", "session": {"audio": {"input": audio_input}}})


async def _append(ws: Any, speech: Speech) -> None:
    for chunk in _chunks(_pcm24k(speech)):
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}))


async def _manual_turn(ws: Any, speech: Speech) -> str:
    """Append the speech, commit, and return the item's transcript (no error event on the way)."""
    await _append(ws, speech)
    await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
    while (event := json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))["type"] != (
        "conversation.item.input_audio_transcription.completed"
    ):
        assert event["type"] != "error", event
    return str(event["transcript"])


def _sdk(gateway: ServerThread) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key="unused", max_retries=0)


async def _until(connection: Any, done: Any) -> list[dict[str, Any]]:
    """Events (as dicts) until `done(events)` holds."""
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async for event in connection:
            events.append(event.to_dict() if hasattr(event, "to_dict") else dict(event))
            if done(events):
                return

    await asyncio.wait_for(read(), TIMEOUT_S)
    return events


def _completed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]


async def _server_vad(connection: Any, turn_detection: dict[str, Any]) -> None:
    """An English transcription session at RATE, its turns cut by the server's VAD."""
    await connection.session.update(session={
        "type": "transcription",
        "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": RATE},
            "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            "turn_detection": turn_detection,
        }},
    })


async def test_openai_sdk_server_vad(gateway: ServerThread, two_utterances: Speech) -> None:
    async with _sdk(gateway).realtime.connect(extra_query={"intent": "transcription"}) as connection:
        await _server_vad(connection, {"type": "server_vad"})
        for chunk in _chunks(_pcm24k(two_utterances)):
            await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
            await asyncio.sleep(0.01)
        events = await _until(connection, lambda ev: len(_completed(ev)) == 2)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["session.created", "session.updated"]
    started = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    stopped = [e for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    done = _completed(events)
    assert [e["item_id"] for e in started] == [e["item_id"] for e in stopped] == [e["item_id"] for e in done]
    # The VAD's times are in the client's audio: the second utterance starts after the first ends.
    assert started[0]["audio_start_ms"] < stopped[0]["audio_end_ms"] < started[1]["audio_start_ms"]
    for sentence, event in zip(SENTENCES[:2], done, strict=True):
        assert wer(sentence, event["transcript"]) <= MAX_WER, event["transcript"]
        assert event["usage"]["type"] == "duration" and event["usage"]["seconds"] > 1.0
    order = [(e["type"], e.get("item_id")) for e in events]
    for event in done:  # each item: stopped, then committed, then completed
        stop = order.index(("input_audio_buffer.speech_stopped", event["item_id"]))
        commit = order.index(("input_audio_buffer.committed", event["item_id"]))
        assert stop < commit < order.index((event["type"], event["item_id"]))
    assert "conversation.item.input_audio_transcription.delta" in kinds


async def test_openai_sdk_manual_commit(gateway: ServerThread, two_utterances: Speech) -> None:
    """turn_detection null (Pipecat's default): nothing is transcribed into an item until commit."""
    first = piper_speech(SENTENCES[2:3])
    async with _sdk(gateway).realtime.connect(extra_query={"intent": "transcription"}) as connection:
        await connection.session.update(session={  # type: ignore[arg-type,typeddict-item]
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": None}},
        })
        for chunk in _chunks(_pcm24k(first)):
            await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        await connection.input_audio_buffer.commit()
        events = await _until(connection, lambda ev: len(_completed(ev)) == 1)
    kinds = [e["type"] for e in events]
    assert "input_audio_buffer.speech_started" not in kinds
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    (done,) = _completed(events)
    assert done["item_id"] == committed["item_id"]
    assert wer(SENTENCES[2], done["transcript"]) <= MAX_WER, done["transcript"]


async def test_the_transcription_prompt_reaches_the_decoder(gateway: ServerThread) -> None:
    """`transcription.prompt` is each utterance's decoder prompt: names tiny.en mishears come back right."""
    names = names_speech()
    transcripts = []
    for prompt in (None, ", ".join(NAMES)):
        async with _sdk(gateway).realtime.connect(extra_query={"intent": "transcription"}) as connection:
            transcription = {"model": "gpt-4o-transcribe", "language": "en"} | ({"prompt": prompt} if prompt else {})
            await connection.session.update(session={  # type: ignore[arg-type,typeddict-item]
                "type": "transcription",
                "audio": {"input": {"transcription": transcription, "turn_detection": None}},
            })
            for chunk in _chunks(_pcm24k(names)):
                await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
            await connection.input_audio_buffer.commit()
            (done,) = _completed(await _until(connection, lambda ev: len(_completed(ev)) == 1))
            transcripts.append(done["transcript"])
    plain, prompted = transcripts
    assert not any(name in plain for name in NAMES), plain
    assert all(name in prompted for name in NAMES), prompted


async def test_livekit_openai_stt_stream(gateway: ServerThread, two_utterances: Speech) -> None:
    from livekit import rtc
    from livekit.agents import stt
    from livekit.agents.utils import http_context
    from livekit.plugins import openai as lk_openai

    samples = np.frombuffer(_pcm24k(two_utterances), dtype="<i2")
    finals: list[str] = []
    async with http_context.open():
        engine = lk_openai.STT(
            base_url=f"http://127.0.0.1:{gateway.port}/v1", api_key="unused",
            model="gpt-4o-transcribe", language="en", use_realtime=True,
        )
        stream = engine.stream()
        step = int(CHUNK_S * RATE)
        for offset in range(0, len(samples), step):
            part = samples[offset : offset + step]
            stream.push_frame(rtc.AudioFrame(part.tobytes(), RATE, 1, len(part)))

        async def read() -> None:
            async for event in stream:
                if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                    finals.append(event.alternatives[0].text)
                    if len(finals) == 2:
                        return

        await asyncio.wait_for(read(), TIMEOUT_S)
        await stream.aclose()
        await engine.aclose()
    assert wer(" ".join(SENTENCES[:2]), " ".join(finals)) <= MAX_WER, finals


@pytest.mark.parametrize("server_vad", [True, False], ids=["server-vad", "local-vad-commits"])
async def test_pipecat_realtime_stt_in_a_pipeline(gateway: ServerThread, server_vad: bool) -> None:
    """Both of Pipecat's modes: the server's VAD, and (its default) turn_detection off with a commit
    on each VADUserStoppedSpeakingFrame, which a local VAD would push (here the test pushes them)."""
    from pipecat.frames.frames import ErrorFrame, InputAudioRawFrame, TranscriptionFrame, VADUserStoppedSpeakingFrame
    from pipecat.pipeline.worker import PipelineParams
    from pipecat.services.openai.stt import OpenAIRealtimeSTTService
    from pipecat.tests.utils import SleepFrame, run_test

    service = OpenAIRealtimeSTTService(
        api_key="unused",
        base_url=f"ws://127.0.0.1:{gateway.port}/v1/realtime",
        settings=OpenAIRealtimeSTTService.Settings(model="gpt-4o-transcribe"),
        turn_detection={"type": "server_vad"} if server_vad else False,
    )
    step = int(CHUNK_S * 16000) * 2
    frames: list[Any] = [SleepFrame(0.5)]
    for sentence in SENTENCES[:2]:
        pcm = piper_speech([sentence]).pcm16k()
        frames += [InputAudioRawFrame(pcm[i : i + step], 16000, 1) for i in range(0, len(pcm), step)]
        if not server_vad:
            frames += [SleepFrame(0.2), VADUserStoppedSpeakingFrame()]
    frames += [SleepFrame(15.0)]  # the last final comes after the end of the audio
    down, up = await run_test(
        service,
        frames_to_send=frames,
        pipeline_params=PipelineParams(audio_in_sample_rate=16000),
        start_timeout=10,
    )
    assert not [f for f in [*down, *up] if isinstance(f, ErrorFrame)]
    texts = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    assert len(texts) == 2, texts  # one per utterance (server VAD) or per commit (local VAD)
    assert wer(" ".join(SENTENCES[:2]), " ".join(texts)) <= MAX_WER, texts


async def test_malformed_frames_get_error_events_and_the_session_goes_on(gateway: ServerThread) -> None:
    speech = piper_speech(SENTENCES[:1])
    url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?intent=transcription"
    async with connect(url) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        bad: list[str | bytes] = [
            "not json",
            b"\x00\x01",
            json.dumps({"no": "type"}),
            json.dumps({"type": "response.create"}),
            json.dumps({"type": "input_audio_buffer.append", "audio": "%%%"}),
            json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"abc").decode()}),
            json.dumps({"type": "input_audio_buffer.commit", "event_id": "mine"}),
            _update({"format": {"type": "audio/pcmu"}}),
            _update({"transcription": {"language": "xx"}}),
        ]
        errors = []
        for frame in bad:
            await ws.send(frame)
            event = json.loads(await ws.recv())
            assert event["type"] == "error", event
            errors.append(event["error"])
        assert {"message", "type", "code", "param", "event_id"} <= set(errors[0])
        assert errors[6]["event_id"] == "mine" and "buffer too small" in errors[6]["message"]
        assert errors[-1]["param"] == "session.audio.input.transcription.language"
        # Still serving: a manual turn transcribes.
        await ws.send(_update({"turn_detection": None}))
        assert json.loads(await ws.recv())["type"] == "session.updated"
        assert wer(SENTENCES[0], await _manual_turn(ws, speech)) <= MAX_WER


async def test_clear_drops_the_buffer(gateway: ServerThread) -> None:
    speech = piper_speech(SENTENCES[:1])
    url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?intent=transcription"
    async with connect(url) as ws:
        await ws.recv()
        await ws.send(_update({"turn_detection": None}))
        await ws.recv()
        await _append(ws, speech)
        await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert json.loads(await ws.recv())["type"] == "input_audio_buffer.cleared"
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        event = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
        assert event["type"] == "error" and "buffer too small" in event["error"]["message"]


async def test_other_intents_are_refused(gateway: ServerThread) -> None:
    async with connect(f"ws://127.0.0.1:{gateway.port}/v1/realtime?model=gpt-realtime") as ws:
        event = json.loads(await ws.recv())
        assert event["type"] == "error" and event["error"]["param"] == "intent"
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 1008


async def test_beta_transcription_session_update(gateway: ServerThread) -> None:
    """The beta event names and session shape (`transcription_session.update`, `pcm16`)."""
    speech = piper_speech(SENTENCES[:1])
    url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?intent=transcription"
    async with connect(url) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "transcription_session.update", "session": {
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
            "turn_detection": None,
        }}))
        updated = json.loads(await ws.recv())
        assert updated["type"] == "transcription_session.updated"
        assert updated["session"]["input_audio_transcription"]["language"] == "en"
        assert updated["session"]["turn_detection"] is None
        ulaw = {"type": "transcription_session.update", "session": {"input_audio_format": "g711_ulaw"}}
        await ws.send(json.dumps(ulaw))
        assert json.loads(await ws.recv())["error"]["param"] == "session.input_audio_format"
        assert wer(SENTENCES[0], await _manual_turn(ws, speech)) <= MAX_WER


async def test_worker_session_limit_ends_the_session_with_its_error(
    redis_url: str, tmp_path: Path, two_utterances: Speech
) -> None:
    """The worker's own error (its session limit) reaches the client as an `error` event and the
    close code of its kind, and the gateway keeps serving."""
    own_db = own_database(redis_url)  # it must not take batch jobs of other tests
    worker = await asyncio.to_thread(start_worker, own_db, tmp_path, "worker-rt", ASR_STREAM_MAX_SESSION_S="2")
    try:
        settings = gateway_settings(own_db, worker.port, tts_piper_enabled=False)
        with ServerThread(create_app(settings)) as server:
            await asyncio.to_thread(wait_until, lambda: _asr_ready(server.url), 20, "the gateway's worker")
            async with connect(f"ws://127.0.0.1:{server.port}/v1/realtime?intent=transcription") as ws:
                await ws.recv()
                await _append(ws, two_utterances)
                events = []
                with pytest.raises(websockets.ConnectionClosed):
                    while True:
                        events.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))
            assert ws.close_code == 1008
            assert events[-1]["type"] == "error" and events[-1]["error"]["code"] == "max_duration"
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"{server.url}/health/live")).status_code == 200
    finally:
        worker.stop()


@pytest.mark.parametrize(("silence_ms", "items"), [(None, 2), (2500, 1)], ids=["default", "long-silence"])
async def test_turn_detection_reaches_the_workers_vad(
    gateway: ServerThread, two_utterances: Speech, silence_ms: int | None, items: int
) -> None:
    """The same two sentences, 1 s apart: the default 500 ms of silence ends a turn between them, a
    silence_duration_ms longer than the pause keeps them in one turn (the worker's VAD endpoints
    with the client's setting)."""
    turn: dict[str, Any] = {"type": "server_vad"} | ({"silence_duration_ms": silence_ms} if silence_ms else {})
    trailing = np.zeros(int(3.5 * RATE), dtype="<i2").tobytes()  # room for the longer endpoint
    async with _sdk(gateway).realtime.connect(extra_query={"intent": "transcription"}) as connection:
        await _server_vad(connection, turn)
        for chunk in _chunks(_pcm24k(two_utterances) + trailing):
            await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        events = await _until(connection, lambda ev: len(_completed(ev)) == items)
    updated = next(e for e in events if e["type"] == "session.updated")
    assert updated["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"] == (silence_ms or 500)
    started = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    assert len(started) == items
    texts = [e["transcript"] for e in _completed(events)]
    if items == 2:
        assert [wer(s, t) <= MAX_WER for s, t in zip(SENTENCES[:2], texts, strict=True)] == [True, True], texts
    else:  # one turn holds both sentences
        assert wer(" ".join(SENTENCES[:2]), texts[0]) <= MAX_WER, texts


async def test_turn_detection_the_worker_cannot_take_is_an_error_event(gateway: ServerThread) -> None:
    url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?intent=transcription"
    async with connect(url) as ws:
        await ws.recv()
        await ws.send(_update({"turn_detection": {"type": "server_vad", "silence_duration_ms": 20}}))
        error = json.loads(await ws.recv())
        assert error["type"] == "error"
        assert error["error"]["param"] == "session.audio.input.turn_detection.silence_duration_ms"
        await ws.send(_update({"transcription": {"prompt": "x" * 5000}}))
        assert json.loads(await ws.recv())["error"]["param"] == "session.audio.input.transcription.prompt"
        await ws.send(_update({"turn_detection": {"type": "server_vad", "threshold": 0.7}}))
        updated = json.loads(await ws.recv())  # the session goes on, and a good setting is taken
        assert updated["session"]["audio"]["input"]["turn_detection"]["threshold"] == 0.7
