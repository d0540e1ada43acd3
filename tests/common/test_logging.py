"""No credential survives into a log line, in any form it arrives in (common/logging.py)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from common.logging import JsonFormatter, Throttle, redact, url_for_log

KEY = "sk-live-4f9c2a7be1d04c1f"


def _line(msg: str, *args: object, fields: dict[str, object] | None = None, exc: bool = False) -> str:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)
    if fields is not None:
        record.fields = fields
    if exc:
        try:
            raise RuntimeError(f"upstream said: Authorization: Bearer {KEY}")
        except RuntimeError:
            record.exc_info = sys.exc_info()
    return JsonFormatter("test").format(record)


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        # uvicorn's handshake lines, as its WebSocket protocols write them
        ('%s - "WebSocket %s" [accepted]', ("127.0.0.1:5000", f"/v1/speak/stream?voice=x&api_key={KEY}")),
        ('%s - "WebSocket %s" 403', ("127.0.0.1:5000", f"/v1/realtime?api_key={KEY}&model=m")),
        ("calling %s", (f"https://hooks.example.com/h?token={KEY}",)),
        ("calling %s", (f"https://hooks.example.com/h?access_token={KEY}#x",)),
        ("headers %s", ({"authorization": f"Bearer {KEY}", "x-api-key": KEY},)),
        ("headers %s", ({"Authorization": f"Token {KEY}", "xi-api-key": KEY},)),
        ("offered %s", (["realtime", f"openai-insecure-api-key.{KEY}"],)),
        ("redis at %s", (f"redis://:{KEY}@redis:6379/0",)),
        ("password=%s and secret: %s", (KEY, KEY)),
        # prefixed names, as settings and environment dumps spell them
        ("environment: REDIS_PASSWORD=%s INTERNAL_TOKEN=%s", (KEY, KEY)),
        ("settings %s", ({"redis_password": KEY, "vllm_api_key": KEY, "token": KEY},)),
    ],
)
def test_every_credential_form_is_redacted(msg: str, args: tuple[object, ...]) -> None:
    line = _line(msg, *args)
    assert KEY not in line and "[REDACTED]" in line
    json.loads(line)  # still one valid JSON line


def test_fields_and_exception_text_are_redacted_too() -> None:
    line = _line("callback failed", fields={"url": f"http://h/x?sig={KEY}", "auth": f"Bearer {KEY}"}, exc=True)
    assert KEY not in line
    entry = json.loads(line)
    assert "RuntimeError" in entry["exc"] and entry["url"] == "http://h/x?sig=[REDACTED]"


def test_a_field_named_like_a_secret_is_hidden_whatever_its_type() -> None:
    secrets = {"password": 123456, "internal_token": [KEY], "redis_password": {"v": KEY}, "VLLM_API_KEY": KEY}
    entry = json.loads(_line("started", fields={**secrets, "max_tokens": 512, "key_id": "k1"}))
    assert {name: entry[name] for name in secrets} == dict.fromkeys(secrets, "[REDACTED]")
    assert (entry["max_tokens"], entry["key_id"]) == (512, "k1")  # names that only look alike stay


def test_values_json_cannot_hold_are_redacted_as_text() -> None:
    class Endpoint:
        def __str__(self) -> str:
            return f"redis://:{KEY}@redis:6379/0"

    entry = json.loads(_line("connecting", fields={"endpoint": Endpoint()}))
    assert entry["endpoint"] == "redis://:[REDACTED]@redis:6379/0"


def test_ordinary_text_is_left_alone() -> None:
    text = "the token limit is 5; monkey=banana; GET /v1/voices?voice=en_us_joe&keyword=x 200"
    assert redact(text) == text


def test_urls_for_logs_drop_user_info_query_and_fragment() -> None:
    assert url_for_log(f"https://u:{KEY}@hooks.example.com:8443/h?token={KEY}#f") == "https://hooks.example.com:8443/h"
    assert url_for_log("http://[::1]/x?y=1") == "http://[::1]/x"
    assert url_for_log("http://h:99999/") == "<invalid url>"


def test_a_flood_of_one_warning_is_one_line_per_interval_with_its_count() -> None:
    now = [100.0]
    throttle = Throttle(10.0, clock=lambda: now[0])
    assert throttle.count() == 1  # the first one is said at once
    assert [throttle.count() for _ in range(4)] == [None] * 4
    now[0] += 9.9
    assert throttle.count() is None
    now[0] += 0.2  # the interval has passed: one line for the six since
    assert throttle.count() == 6
    assert throttle.count() is None
