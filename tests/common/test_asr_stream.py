"""The streaming-ASR contract (common/asr_stream.py), and each side held to it: the gateway's client
writes options and control frames the contract reads back; the real worker parses them, honours the
VAD options and answers in the contract's shapes and close codes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from app.errors import BadRequest, InvalidParameter
from app.sessions.transcription import StreamRequest
from app.sessions.transcription import parse_control as gateway_parse_control
from common import asr_stream as proto
from common.asr_options import MAX_KEYWORD_CHARS, MAX_KEYWORDS, REDACT_PII
from common.asr_stream import ProtocolError, StreamOptions
from common.ws_errors import close_code
from tests.support.asr import SENTENCES, Worker, piper_speech, wer

# --- the contract itself ---------------------------------------------------------------------------


def test_options_round_trip_through_the_query() -> None:
    options = StreamOptions(
        language="en", word_timestamps=True, vad_events=True, vad_threshold=0.6,
        silence_duration_ms=800, prefix_padding_ms=200, prompt="A clinic's referrals.",
        keywords=["Kottayam", "Doctor Venkataraman"], redact="pci,ssn",
    )
    query = options.to_query()
    assert all(isinstance(v, str) for v in query.values())
    assert query["keywords"] == "Kottayam,Doctor Venkataraman" and query["redact"] == "pci,ssn"
    assert StreamOptions.from_query(query) == options
    assert StreamOptions().to_query() == {}  # defaults are not sent: the worker's settings apply
    assert StreamOptions.from_query({"language": ""}) == StreamOptions()


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"vad_threshold": "1.5"}, "vad_threshold"),
        ({"silence_duration_ms": "10"}, "silence_duration_ms"),
        ({"prefix_padding_ms": "abc"}, "prefix_padding_ms"),
        ({"prompt": "x" * (proto.MAX_PROMPT_CHARS + 1)}, "prompt"),
        ({"keywords": ",".join(f"name{i}" for i in range(MAX_KEYWORDS + 1))}, "keywords"),
        ({"keywords": "x" * (MAX_KEYWORD_CHARS + 1)}, "keywords"),
        ({"redact": "pci,cards"}, "redact"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_option_is_a_422_naming_it(query: dict[str, str], param: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        StreamOptions.from_query(query)
    assert (caught.value.status, caught.value.code, caught.value.param) == (422, "invalid_parameter", param)
    assert close_code(caught.value.status) == 1008


def test_the_gateway_writes_what_the_contract_reads() -> None:
    """/v1/listen/stream's query (Smallest's and Deepgram's names) becomes the worker's options."""
    query = {"keywords": ["Kottayam", "Venkataraman:2"], "redact_pii": ["true"], "timestamps": ["true"]}
    request = StreamRequest.from_query(lambda name: query.get(name, []))
    sent = StreamOptions.from_query(request.options.to_query())
    assert sent.keywords == ("Kottayam", "Venkataraman") and sent.redact == REDACT_PII and sent.word_timestamps
    with pytest.raises(InvalidParameter) as offline:  # speaker labels need the whole recording
        StreamRequest.from_query(lambda name: ["true"] if name == "diarize" else [])
    with pytest.raises(InvalidParameter) as unknown:
        StreamRequest.from_query(lambda name: ["cards"] if name == "redact" else [])
    assert (offline.value.param, unknown.value.param) == ("diarize", "redact")


def test_control_messages() -> None:
    for kind in proto.CONTROL_TYPES:
        assert proto.parse_control(proto.control_message(kind)) == kind
    with pytest.raises(ProtocolError) as not_json:
        proto.parse_control("finalize")
    with pytest.raises(ProtocolError) as unknown:
        proto.parse_control('{"type": "pause"}')
    assert (not_json.value.status, unknown.value.status) == (400, 422)
    # The gateway tells its clients the same violations in its own error kinds.
    with pytest.raises(BadRequest):
        gateway_parse_control("finalize")
    with pytest.raises(InvalidParameter):
        gateway_parse_control('{"type": "pause"}')


# --- the worker, held to the contract ----------------------------------------------------------------


def _url(worker: Worker, **options: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in StreamOptions(**options).to_query().items())
    return f"ws://127.0.0.1:{worker.port}{proto.PATH}" + (f"?{query}" if query else "")


async def _session(url: str, pcm: bytes) -> list[dict[str, Any]]:
    """Send the audio (paced faster than real time), then close_stream; every message until is_last."""
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        for offset in range(0, len(pcm), 6400):
            await ws.send(pcm[offset : offset + 6400])
        await ws.send(proto.control_message(proto.CLOSE_STREAM))
        while not (messages and messages[-1].get("is_last")):
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
    return messages


async def test_worker_refuses_a_bad_option_with_the_contract_error(asr_worker: Worker) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{asr_worker.port}{proto.PATH}?vad_threshold=7") as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    assert frame["type"] == "error" and frame["error"]["code"] == proto.ERROR_INVALID_PARAMETER
    assert frame["error"]["param"] == "vad_threshold"
    assert ws.close_code == 1008


async def test_worker_refuses_keywords_over_the_token_budget(asr_worker: Worker) -> None:
    """Only the worker has the tokenizer: it checks the keywords' share of Whisper's decoder prompt."""
    keywords = ",".join(f"Namesake{i}worth" for i in range(MAX_KEYWORDS))  # within the contract's limits
    async with websockets.connect(_url(asr_worker, keywords=keywords)) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    assert frame["error"]["param"] == "keywords" and "Whisper tokens" in frame["error"]["message"]
    assert ws.close_code == 1008


async def test_worker_messages_have_the_contract_shapes(asr_worker: Worker) -> None:
    speech = piper_speech(SENTENCES[:1])
    messages = await _session(_url(asr_worker, vad_events=True, word_timestamps=True), speech.pcm16k())
    transcripts = [m for m in messages if "type" not in m]
    shape = set(proto.transcript_message("s", "", [], "en", is_final=True, stable="").keys())
    assert all(set(m) == shape for m in transcripts[:-1])
    assert set(messages[-1]) == set(proto.last_message("s", "en", 0.0))
    events = [m["type"] for m in messages if "type" in m]
    assert events[:2] == [proto.SPEECH_STARTED, proto.SPEECH_STOPPED]
    finals = [m for m in transcripts if m["is_final"] and not m["is_last"]]
    assert wer(SENTENCES[0], " ".join(m["transcript"] for m in finals)) <= 0.2


async def test_worker_vad_follows_the_session_options(asr_worker: Worker) -> None:
    """Two sentences 0.6 s apart: the default endpoint (500 ms) makes two utterances, a 2 s silence
    duration one, and a threshold no window reaches none (only close_stream's empty flush); the
    prefix padding moves where speech is said to start."""
    pcm = piper_speech(SENTENCES[:2], pause_s=0.6).pcm16k()

    def finals(messages: list[dict[str, Any]]) -> list[str]:
        return [m["transcript"] for m in messages if m.get("is_final") and not m.get("is_last")]

    default, patient, deaf, unpadded = await asyncio.gather(
        _session(_url(asr_worker, vad_events=True), pcm),
        _session(_url(asr_worker, silence_duration_ms=2000), pcm),
        _session(_url(asr_worker, vad_threshold=1.0), pcm),
        _session(_url(asr_worker, vad_events=True, prefix_padding_ms=0), pcm),
    )
    assert len(finals(default)) == 2
    assert len(finals(patient)) == 1 and wer(" ".join(SENTENCES[:2]), finals(patient)[0]) <= 0.2
    assert finals(deaf) == []

    def first_start(messages: list[dict[str, Any]]) -> int:
        return next(m["audio_start_ms"] for m in messages if m.get("type") == proto.SPEECH_STARTED)

    assert first_start(unpadded) - first_start(default) == 300  # the worker's default padding
