"""Redaction through the real gateway and worker: a card number spoken by Piper leaves the text, the
words and the segments, the result stored in Redis (read back by id and by its key) and the callback,
and every message of a live session."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import openai
import pytest
import redis
from websockets.asyncio.client import connect

from common import asr_jobs as q
from tests.support import wait_until
from tests.support.asr import ServerThread, Speech, piper_speech
from tests.support.callbacks import Receiver

pytestmark = pytest.mark.slow

CARD = "4716263951468637"  # Luhn-valid, made up
SAID = "My card number is forty seven sixteen, twenty six thirty nine, fifty one forty six, eighty six thirty seven."


@pytest.fixture(scope="module")
def card() -> Speech:
    return piper_speech([SAID])


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _said_back(result: dict[str, Any]) -> list[str]:
    """Every place the transcript is written in a result."""
    return [result["text"], *(s["text"] for s in result["segments"]), *(w["word"] for w in result["words"])]


def _assert_no_card(result: dict[str, Any]) -> None:
    assert result["text"].startswith("My card number is [CARD_NUMBER_1]"), result["text"]
    assert not any(_digits(text.replace("[CARD_NUMBER_1]", "")) for text in _said_back(result)), result
    assert [w["word"] for w in result["words"][:4]] == ["My", "card", "number", "is"]
    assert all(w["word"].startswith("[CARD_NUMBER_1]") for w in result["words"][4:])
    assert all(s["tokens"] == [] for s in result["segments"])  # Whisper's token ids would spell it


def test_a_spoken_card_number_leaves_the_result_and_the_store(
    gateway: ServerThread, card: Speech, redis_url: str
) -> None:
    url = f"{gateway.url}/v1/listen"
    heard = httpx.post(url, content=card.wav(), timeout=120).json()
    assert _digits(heard["text"]) == CARD, heard["text"]  # tiny.en heard it: the redaction has work to do
    for params in ({"redact_pii": "true"}, {"redact": "pci"}):  # Smallest's name, and Deepgram's
        response = httpx.post(url, params={**params, "timestamps": "true"}, content=card.wav(), timeout=120)
        assert response.status_code == 200, response.text
        body = response.json()
        _assert_no_card(body)
        _assert_no_card(httpx.get(f"{url}/{body['request_id']}", timeout=10).json())
        stored = redis.Redis.from_url(redis_url).get(q.result_key(body["request_id"]))
        assert stored is not None and CARD[:4] not in stored.decode() and CARD[-4:] not in stored.decode()
        _assert_no_card(json.loads(stored))


def test_the_openai_route_redacts_with_the_appliances_extension(gateway: ServerThread, card: Speech) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    result = client.audio.transcriptions.create(
        model="whisper-1", file=("card.wav", card.wav()), response_format="verbose_json",
        timestamp_granularities=["word", "segment"], extra_body={"redact": "pci"},
    )
    words = [w.word for w in result.words or []]
    assert result.text.startswith("My card number is [CARD_NUMBER_1]"), result.text
    assert not any(_digits(t.replace("[CARD_NUMBER_1]", "")) for t in [result.text, *words])
    assert not any(_digits(s.text.replace("[CARD_NUMBER_1]", "")) for s in result.segments or [])


def test_the_callback_gets_the_redacted_form(gateway: ServerThread, card: Speech, receiver: Receiver) -> None:
    params = {"redact_pci": "true", "timestamps": "true", "callback_url": receiver.url}
    queued = httpx.post(f"{gateway.url}/v1/listen", params=params, content=card.wav(), timeout=30)
    assert queued.status_code == 202, queued.text
    wait_until(lambda: receiver.received, 60, "the callback")
    _assert_no_card(receiver.received[0])


async def test_live_sessions_redact_finals_and_mask_partials(gateway: ServerThread, card: Speech) -> None:
    messages: list[dict[str, Any]] = []
    url = f"ws://127.0.0.1:{gateway.port}/v1/listen/stream?redact=pci&timestamps=true"
    async with connect(url) as ws:
        pcm = card.pcm16k()
        for offset in range(0, len(pcm), 3200):
            await ws.send(pcm[offset : offset + 3200])
        await ws.send(json.dumps({"type": "close_stream"}))
        messages = [json.loads(raw) async for raw in ws]
    finals = [m for m in messages if m["is_final"] and not m["is_last"]]
    assert " ".join(f["transcript"] for f in finals).startswith("My card number is [CARD_NUMBER_1]"), finals
    for message in messages:
        texts = [message["transcript"], message.get("stable", ""), *(w["word"] for w in message["words"])]
        if message["is_final"]:
            assert not any(_digits(t.replace("[CARD_NUMBER_1]", "")) for t in texts), message
        else:  # a number still being spoken is masked from its fourth digit on
            assert not any(len(_digits(t)) >= 4 for t in texts), message
