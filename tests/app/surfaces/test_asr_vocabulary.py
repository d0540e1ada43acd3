"""Custom vocabulary through the real gateway and worker (tiny.en): `keywords` fix the names tiny.en
gets wrong, in batch (`/v1/listen`, Waves) and in streaming (`/v1/listen/stream`); the operator's
vocabulary file applies to every request; the limits are 422s naming `keywords`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from smallestai import SmallestAI, SmallestAIEnvironment
from websockets.asyncio.client import connect

from app.main import create_app
from common.asr_options import MAX_KEYWORDS
from tests.support import ServerThread, free_port, own_database, spawn, wait_until
from tests.support.asr import NAMES, Speech, Worker, gateway_settings, names_speech, start_worker

pytestmark = pytest.mark.slow

KEYWORDS = "Venkataraman,Kottayam"


@pytest.fixture(scope="module")
def names() -> Speech:
    return names_speech()


def _heard(text: str) -> list[bool]:
    return [name in text for name in NAMES]


def _listen(url: str, speech: Speech, **params: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/listen", params=params, content=speech.wav(), timeout=120)


def test_keywords_fix_the_names_in_batch(gateway: ServerThread, names: Speech) -> None:
    plain = _listen(gateway.url, names).json()["text"]
    helped = _listen(gateway.url, names, keywords=KEYWORDS).json()["text"]
    assert _heard(plain) == [False, False], plain  # tiny.en on its own mishears both
    assert _heard(helped) == [True, True], helped
    # Repeated, with Deepgram's boosts: the same keywords.
    repeated = httpx.post(
        f"{gateway.url}/v1/listen", params=[("keywords", "Venkataraman:2"), ("keywords", "Kottayam")],
        content=names.wav(), timeout=120,
    )
    assert _heard(repeated.json()["text"]) == [True, True], repeated.text


def test_the_openai_sdk_sends_keywords(gateway: ServerThread, names: Speech) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    result = client.audio.transcriptions.create(
        model="gpt-4o-transcribe", file=("names.wav", names.wav()), keywords=list(NAMES)
    )
    assert _heard(result.text) == [True, True], result.text


def test_waves_takes_keywords(gateway: ServerThread, names: Speech) -> None:
    url = f"http://127.0.0.1:{gateway.port}"
    environment = SmallestAIEnvironment(atoms=url, waves=url, waves_ws=url.replace("http", "ws"), payment=url)
    client = SmallestAI(api_key="unused", environment=environment, max_retries=0)
    response = client.waves.speech_to_text.transcribe(
        model="pulse", language="en", request=names.wav(),
        request_options={"additional_query_parameters": {"keywords": KEYWORDS}},
    )
    assert _heard(response.transcription) == [True, True], response.transcription  # type: ignore[union-attr]


async def _stream_finals(gateway: ServerThread, speech: Speech, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    finals: list[str] = []
    async with connect(f"ws://127.0.0.1:{gateway.port}/v1/listen/stream?{query}") as ws:
        pcm = speech.pcm16k()
        for offset in range(0, len(pcm), 3200):
            await ws.send(pcm[offset : offset + 3200])
        await ws.send(json.dumps({"type": "close_stream"}))
        async for raw in ws:
            message: dict[str, Any] = json.loads(raw)
            if message.get("is_final") and not message.get("is_last"):
                finals.append(message["transcript"])
    return " ".join(finals)


async def test_keywords_fix_the_names_in_streaming(gateway: ServerThread, names: Speech) -> None:
    plain, helped = await asyncio.gather(
        _stream_finals(gateway, names), _stream_finals(gateway, names, keywords=KEYWORDS)
    )
    assert _heard(plain) == [False, False], plain
    assert _heard(helped) == [True, True], helped


async def test_limits_are_422_naming_keywords(gateway: ServerThread, names: Speech) -> None:
    too_many = ",".join(f"name{i}" for i in range(MAX_KEYWORDS + 1))  # the gateway's own check
    over_budget = ",".join(f"Namesake{i}worth" for i in range(MAX_KEYWORDS))  # the worker's: token budget
    for keywords, says in ((too_many, "at most 50"), (over_budget, "Whisper tokens")):
        response = _listen(gateway.url, names, keywords=keywords)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == "keywords" and says in response.json()["error"]["message"]
    async with connect(f"ws://127.0.0.1:{gateway.port}/v1/listen/stream?keywords={over_budget}") as ws:
        frame = json.loads(await ws.recv())
        await ws.wait_closed()
    assert frame["error"]["param"] == "keywords" and ws.close_code == 1008


@pytest.fixture(scope="module")
def operator_gateway(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A worker whose operator vocabulary names the two (its own jobs database), and its gateway."""
    logs = tmp_path_factory.mktemp("asr-vocabulary")
    vocabulary = logs / "vocabulary.txt"
    vocabulary.write_text("# our clinic\nVenkataraman\nKottayam  # the district\n", encoding="utf-8")
    redis_url = own_database(redis_url)
    worker: Worker = start_worker(redis_url, logs, "worker-vocabulary", ASR_VOCABULARY_FILE=str(vocabulary))
    try:
        with ServerThread(create_app(gateway_settings(redis_url, worker.port))) as server:
            wait_until(lambda: httpx.get(f"{server.url}/health", timeout=2).status_code == 200, 30, "the gateway")
            yield server.url
    finally:
        worker.stop()


def test_the_operator_vocabulary_applies_to_every_request(operator_gateway: str, names: Speech) -> None:
    assert _heard(_listen(operator_gateway, names).json()["text"]) == [True, True]


def test_a_bad_vocabulary_file_stops_the_worker(tmp_path: Path) -> None:
    port = free_port()
    env = {"ASR_PORT": str(port), "ASR_VOCABULARY_FILE": str(tmp_path / "missing.txt")}
    worker = spawn("asr_engine", port, tmp_path / "worker.log", env)
    try:
        assert worker.process.wait(60) != 0
    finally:
        worker.kill()
    assert "ASR_VOCABULARY_FILE" in worker.log() and "missing.txt" in worker.log()
