"""No credential reaches a log (README "Security"): the real gateway process, with API keys set and
debug logging, is called with every credential form there is, with a valid key and an invalid one;
then its whole log is searched for them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from tests.support.gateway_process import gateway_process

pytestmark = pytest.mark.slow

VALID = "valid-key-3c8f1e0a9b7d4e62"
INVALID = "invalid-key-77d2b90c1f4a4a13"
CALLBACK_TOKEN = "receivers-token-5e1b0c7d"


async def _ws(url: str, **options: object) -> None:
    with contextlib.suppress(InvalidStatus, WebSocketException, OSError):
        async with connect(url, open_timeout=10, **options) as ws:  # type: ignore[arg-type]
            await ws.close()


async def test_no_form_of_any_key_is_logged(redis_url: str, tmp_path: Path) -> None:
    with gateway_process(redis_url, tmp_path, API_KEYS=VALID, LOG_LEVEL="debug") as gateway:
        ws_base = gateway.url.replace("http://", "ws://")
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            statuses = []
            for key in (VALID, INVALID):
                for headers in (
                    {"Authorization": f"Bearer {key}"},
                    {"Authorization": f"Token {key}"},
                    {"X-API-Key": key},
                    {"xi-api-key": key},
                ):
                    statuses.append((await http.get("/v1/voices", headers=headers)).status_code)
                statuses.append((await http.get(f"/v1/voices?api_key={key}")).status_code)
                statuses.append((await http.get(f"/no-such-route?token={key}&access_token={key}")).status_code)
                await _ws(f"{ws_base}/v1/speak/stream?api_key={key}")
                await _ws(f"{ws_base}/v1/listen/stream?api_key={key}&sample_rate=16000")
                await _ws(f"{ws_base}/v1/realtime?model=x", subprotocols=["realtime", f"openai-insecure-api-key.{key}"])
                await _ws(f"{ws_base}/v1/realtime?model=x", additional_headers={"Authorization": f"Bearer {key}"})
            callback = quote(f"https://hooks.example.com/done?token={CALLBACK_TOKEN}", safe="")
            await http.post(
                f"/v1/listen?callback_url={callback}", content=b"RIFF", headers={"Authorization": f"Bearer {VALID}"}
            )
        assert 200 in statuses and 401 in statuses  # both kinds of key were used and judged
        log = gateway.log()
    # The handshake lines that used to carry the key are there, without it.
    assert "api_key=[REDACTED]" in log
    for secret in (VALID, INVALID, CALLBACK_TOKEN):
        assert secret not in log, [line for line in log.splitlines() if secret in line][:3]
