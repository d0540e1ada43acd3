"""Sessions against real gateway processes, as attackers and heavy users open them: one key cannot
hold more sessions than its limit across two replicas sharing Redis, the excess is refused in the
handshake (429 + Retry-After) before any audio, and every session accepted is spoken to its end, even
with one TTS slot for all of them; a client that never reads what it asked for is cut at the send
deadline with 1008, and its synthesis stops rather than piling audio up in the gateway."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support import own_database, wait_until
from tests.support.attacker import ws_close_code, ws_open, ws_text
from tests.support.gateway_process import GatewayProcess, gateway_process

pytestmark = pytest.mark.slow

ALPHA, BETA = "k-alpha-7c1f0e9a2b", "k-beta-5d3a8b6c4e"
ALPHA_ID = hashlib.sha256(ALPHA.encode()).hexdigest()[:12]
SPEAK = "/v1/speak/stream?voice_id=en_us_joe"
TEXT = "The first sentence is spoken now. The second one follows it. "


def _ws(gateway: GatewayProcess) -> str:
    return gateway.url.replace("http://", "ws://") + SPEAK


async def _open(gateway: GatewayProcess, key: str) -> ClientConnection:
    ws = await connect(_ws(gateway), additional_headers={"X-API-Key": key})
    assert json.loads(await ws.recv())["type"] == "ready"
    return ws


async def _refused(gateway: GatewayProcess, key: str) -> None:
    with pytest.raises(InvalidStatus) as handshake:
        async with connect(_ws(gateway), additional_headers={"X-API-Key": key}):
            pass
    response = handshake.value.response
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert json.loads(response.body)["error"]["quota"] == "concurrent"


async def _speak_to_the_end(ws: ClientConnection, text: str = TEXT) -> int:
    """Send the text and the end; the audio bytes received before `done` and a normal close."""
    await ws.send(json.dumps({"type": "text", "text": text}))
    await ws.send(json.dumps({"type": "close"}))
    audio = 0
    async for message in ws:
        if isinstance(message, bytes):
            audio += len(message)
        else:
            assert json.loads(message)["type"] == "done", message
    assert ws.close_code == 1000
    return audio


async def test_one_key_cannot_hold_more_sessions_than_its_limit_across_replicas(
    redis_url: str, tmp_path: Path
) -> None:
    shared = own_database(redis_url)  # both replicas, nothing else
    env = {
        "API_KEYS": f"{ALPHA},{BETA}", "KEY_MAX_CONCURRENT": "3",
        "API_KEY_LIMITS": json.dumps({ALPHA_ID: {"max_concurrent": 2}}),
        # One TTS slot, no queue: the accepted sessions' sentences must wait their turn, not be cut.
        "TTS_MAX_ACTIVE": "1", "TTS_MAX_WAITING": "0", "ENGINE_MAX_WAIT_S": "1",
    }
    with gateway_process(shared, tmp_path, **env) as one, gateway_process(shared, tmp_path, **env) as two:
        alpha = [await _open(one, ALPHA), await _open(two, ALPHA)]
        await _refused(one, ALPHA)  # its own limit, 2, counted over both replicas
        await _refused(two, ALPHA)
        beta = [await _open(two, BETA), await _open(one, BETA), await _open(two, BETA)]
        await _refused(one, BETA)  # the default, 3
        audio = await asyncio.gather(*(_speak_to_the_end(ws) for ws in alpha + beta))
        assert all(size > 24000 for size in audio), audio  # every accepted session spoken to its end
        # Ended sessions free their place at once, on either replica.
        again = await _open(two, ALPHA)
        assert await _speak_to_the_end(again) > 0
        for gateway in (one, two):
            assert "1013" not in gateway.log() and "busy" not in gateway.log()


async def test_a_client_that_never_reads_is_cut_and_its_synthesis_stops(redis_url: str, tmp_path: Path) -> None:
    text = " ".join(f"Sentence number {n} is long enough to take a while to say aloud." for n in range(30))
    with gateway_process(redis_url, tmp_path, SEND_TIMEOUT_S="2") as gateway:
        port = int(gateway.url.rsplit(":", 1)[1])
        gateway_memory = psutil.Process(gateway.process.pid).memory_info
        # The same request from a client that reads it all first: what such a synthesis loads once
        # (voice sessions, buffers sized by its sentences) is not counted below.
        warm_up = await connect(_ws(gateway) + "&sample_rate=48000")
        assert json.loads(await warm_up.recv())["type"] == "ready"
        produced = await _speak_to_the_end(warm_up, text)
        before = gateway_memory().rss
        # Now minutes of 48 kHz audio asked for by a client that reads nothing, not even `ready`.
        sock = ws_open(port, f"{SPEAK}&sample_rate=48000")
        ws_text(sock, json.dumps({"type": "text", "text": text}))
        ws_text(sock, json.dumps({"type": "close"}))
        wait_until(lambda: "took nothing for the send deadline" in gateway.log(), 60, "the send deadline")
        cut_at = time.monotonic()

        def metric(name: str) -> float:
            lines = httpx.get(f"{gateway.url}/metrics", timeout=5).text.splitlines()
            return float(next(line for line in lines if line.startswith(name)).split()[-1])

        # The session and its TTS slot are gone; the synthesis stopped part way, and holds nothing.
        wait_until(lambda: metric('gateway_active_streams{kind="websocket"}') == 0, 10, "the session to end")
        assert metric('gateway_engine_active{engine="tts"}') == 0
        speech = [json.loads(line) for line in gateway.log().splitlines() if '"msg": "speech"' in line]
        assert speech and speech[-1]["complete"] is False
        at_cut = gateway_memory().rss
        assert at_cut - before < 64 * 1024 * 1024, f"grew {(at_cut - before) / 2**20:.0f} MiB"
        assert produced > 30 * 48000 * 2  # (what the whole answer would have been: 30 s of 48 kHz PCM at least)
        sock.settimeout(10)
        received = b""
        while chunk := sock.recv(65536):  # it reads at last: what was buffered, then the close frame
            received += chunk
        sock.close()
        assert ws_close_code(received) == 1008
        assert time.monotonic() - cut_at < 10
        assert gateway_memory().rss - at_cut < 8 * 1024 * 1024  # nothing went on growing after the cut
