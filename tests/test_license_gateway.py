"""Gateway enforcement against a real license proxy and the reference license server: invalid
licenses refused with 402/403, unlicensed features refused while others serve, quotas give 429."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from app.clients.license import LicenseView
from tests.license_gateway import PCM_BYTES_PER_SECOND, build_gateway
from tests.license_support import LICENSE_KEY, LicenseProxy, LicenseServer, license_terms
from tests.support import wait_until

pytestmark = pytest.mark.slow


class Env:
    def __init__(self, server: LicenseServer, proxy: LicenseProxy, client: TestClient) -> None:
        self.server, self.proxy, self.client = server, proxy, client

    @property
    def view(self) -> LicenseView | None:
        return self.client.app.state.license.status  # type: ignore[attr-defined]

    def set_terms(self, until: Callable[[LicenseView], bool], **overrides: Any) -> None:
        """Change the license on the server and wait until the gateway enforces the change."""
        self.server.set_licenses({LICENSE_KEY: license_terms(**overrides)})
        wait_until(lambda: self.view is not None and until(self.view), 15, "the gateway to see new terms")

    def drain_usage(self) -> None:
        wait_until(lambda: self.client.app.state.license.pending_usage == 0, 15, "usage to reach the proxy")  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("gateway")
    server = LicenseServer(root / "server")
    server.start()
    proxy = LicenseProxy(
        root / "state",
        {"LICENSE_MODE": "online", "LICENSE_SERVER_URL": server.url, "LICENSE_CHECK_INTERVAL_S": "0.3"},
    )
    proxy.start()
    proxy.wait_status(lambda s: s["code"] == "ok")
    with TestClient(build_gateway(proxy.url)) as client:
        yield Env(server, proxy, client)
    proxy.stop()
    server.stop()


@pytest.fixture
def fresh(env: Env) -> Iterator[Env]:
    """Every test starts (and leaves) the license fully valid."""
    env.set_terms(
        lambda v: (
            v.valid and v.features == {"tts", "asr", "streaming"} and v.quotas["audio_hours_per_day"] == 10
        )
    )
    yield env
    env.set_terms(
        lambda v: (
            v.valid and v.features == {"tts", "asr", "streaming"} and v.quotas["audio_hours_per_day"] == 10
        )
    )


def speak(client: TestClient, text: str = "hello there") -> Any:
    return client.post("/v1/speak", json={"text": text})


def test_valid_license_serves_every_route_and_health_is_ready(fresh: Env) -> None:
    c = fresh.client
    assert speak(c).status_code == 200
    assert c.post("/v1/listen", content=b"\0" * 3200).status_code == 200
    assert c.get("/v1/voices").status_code == 200
    with c.websocket_connect("/v1/listen/stream") as ws:
        ws.send_bytes(b"\0" * 3200)
        ws.send_text(json.dumps({"type": "close_stream"}))
        assert ws.receive_json()["is_last"] is True
    wait_until(lambda: c.get("/health").status_code == 200, 5, "health to follow the license")
    health = c.get("/health")
    license_component = health.json()["components"]["license"]
    assert license_component["state"] == "ready" and license_component["license_id"] == "LIC-1"


def test_expired_and_revoked_licenses_are_refused_and_health_says_invalid(fresh: Env) -> None:
    c = fresh.client
    fresh.set_terms(lambda v: not v.valid, expires_at=1.0)
    response = speak(c)
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "license_expired" and error["license_code"] == "expired"
    assert "renew" in error["message"]
    # /health reads the component registry, which probes the client every 0.2 s here
    wait_until(lambda: c.get("/health").status_code == 503, 5, "health to follow the license")
    health = c.get("/health")
    component = health.json()["components"]["license"]
    assert component["state"] == "invalid" and "expired" in component["error"]
    assert c.get("/health/live").status_code == 200  # liveness stays up
    assert c.get("/openapi.json").status_code == 200  # docs are not licensed routes

    fresh.set_terms(lambda v: not v.valid and v.code == "revoked", revoked=True)
    refused = c.get("/v1/voices")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_licensed"
    assert "revoked" in refused.json()["error"]["message"]
    with pytest.raises(WebSocketDenialResponse) as denied:
        with c.websocket_connect("/v1/listen/stream"):
            pass
    assert denied.value.status_code == 403


def test_unlicensed_feature_is_refused_while_the_others_serve(fresh: Env) -> None:
    c = fresh.client
    fresh.set_terms(lambda v: v.features == {"tts", "asr"}, features=["tts", "asr"])
    with pytest.raises(WebSocketDenialResponse) as denied:
        with c.websocket_connect("/v1/listen/stream"):
            pass
    assert denied.value.status_code == 403
    body = denied.value.json()["error"]
    assert body["code"] == "not_licensed" and body["feature"] == "streaming"
    assert speak(c).status_code == 200
    assert c.post("/v1/listen", content=b"\0" * 3200).status_code == 200

    fresh.set_terms(lambda v: v.features == {"asr", "streaming"}, features=["asr", "streaming"])
    refused = speak(c)
    assert refused.status_code == 403 and refused.json()["error"]["feature"] == "tts"
    assert c.get("/v1/voices").status_code == 403  # the voice catalogue belongs to tts
    assert c.post("/v1/listen", content=b"\0" * 3200).status_code == 200


def test_concurrent_stream_quota_gives_429(fresh: Env) -> None:
    c = fresh.client
    fresh.set_terms(
        lambda v: v.quotas.get("concurrent_streams") == 1,
        quotas={"audio_hours_per_day": 10, "concurrent_streams": 1},
    )
    with c.websocket_connect("/v1/listen/stream") as first:
        first.send_bytes(b"\0" * 320)
        with pytest.raises(WebSocketDenialResponse) as denied:
            with c.websocket_connect("/v1/speak/stream"):
                pass
        assert denied.value.status_code == 429
        error = denied.value.json()["error"]
        assert error["code"] == "over_quota" and error["quota"] == "concurrent_streams"
        assert "maximum is 1" in error["message"]
        assert speak(c).status_code == 200  # plain requests are not streams
        first.send_text(json.dumps({"type": "close_stream"}))
        first.receive_json()
    with c.websocket_connect("/v1/speak/stream") as again:  # the slot was released
        again.send_json({"text": "hi"})
        assert len(again.receive_bytes()) > 0


def test_daily_audio_quota_gives_429_with_reset_time(fresh: Env) -> None:
    c = fresh.client
    fresh.drain_usage()
    used = fresh.proxy.status()["usage_today"]["audio_seconds"]
    quota_h = (used + 3.0) / 3600  # three more seconds of audio today
    fresh.set_terms(
        lambda v: v.quotas.get("audio_hours_per_day") == pytest.approx(quota_h),
        quotas={"audio_hours_per_day": quota_h, "concurrent_streams": 2},
    )
    assert c.post("/v1/listen", content=b"\0" * 4 * PCM_BYTES_PER_SECOND).status_code == 200  # 4 s
    fresh.drain_usage()
    refused = speak(c)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["quota"] == "audio_hours_per_day" and "resets at 00:00 UTC" in error["message"]
    assert int(refused.headers["retry-after"]) > 0
    assert c.get("/v1/models").status_code == 200  # a route without audio is not held by the quota


def test_gateway_keeps_its_status_while_the_proxy_restarts(fresh: Env) -> None:
    c = fresh.client
    fresh.proxy.kill()
    try:
        wait_until(lambda: c.app.state.license.proxy_error is not None, 10, "the gateway to notice")  # type: ignore[attr-defined]
        assert speak(c).status_code == 200
        wait_until(lambda: "proxy" in c.get("/health").json()["components"]["license"], 5, "health to say so")
        component = c.get("/health").json()["components"]["license"]
        assert component["state"] == "ready" and "last status" in component["proxy"]
    finally:
        fresh.proxy.start()
    wait_until(lambda: c.app.state.license.proxy_error is None, 10, "the gateway to reach the proxy")  # type: ignore[attr-defined]
