"""Usage metering, both halves: what a request used is written here (`Usage`, by the sessions) and
read here (`usage_record`, by the license middleware when the request has ended).

Metadata only: a count of characters and seconds of audio (in or out), never the text or the audio.
The two values live in the connection's ASGI state (`scope["state"]`), which outlives the route.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from common.license_api import UsageRecord


class Usage:
    """What one request or WebSocket session used so far; each write replaces the value reported."""

    def __init__(self, connection: HTTPConnection) -> None:
        self._state = connection.state

    @property
    def characters(self) -> int:
        return int(getattr(self._state, "characters", 0))

    @characters.setter
    def characters(self, count: int) -> None:
        self._state.characters = count

    @property
    def audio_seconds(self) -> float:
        return float(getattr(self._state, "audio_seconds", 0.0))

    @audio_seconds.setter
    def audio_seconds(self, seconds: float) -> None:
        self._state.audio_seconds = seconds


def usage_record(
    scope: Scope, features: tuple[str, ...], status: int, started: float, served: bool
) -> dict[str, Any]:
    """The usage record of a request that has ended (`started`: its perf_counter at the start). A
    refused request used nothing, though a stream refused at its first bytes had begun to synthesise."""
    everything = scope.get("state") or {}
    state = everything if served else {}
    route = getattr(scope.get("route"), "path", None) or scope["path"]
    return UsageRecord(
        record_id=uuid.uuid4().hex,
        request_id=str(everything.get("request_id", ""))[:64],
        ts=time.time(),
        route=route[:200],
        method=scope.get("method", "WS"),
        features=list(features),
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
        audio_seconds=max(0.0, float(state.get("audio_seconds") or 0.0)),
        characters=max(0, int(state.get("characters") or 0)),
    ).model_dump()
