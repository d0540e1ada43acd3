"""Licensing by declaration: every /v1 and /waves route of the real app declares its features, and a
route that declares none is refused (closed by default) while the declared ones keep serving."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from starlette.testclient import TestClient

from app.licensing import LICENSED_PREFIXES, app_routes, declared_features
from app.main import create_app
from app.settings import GatewaySettings
from tests.support import free_port

KNOWN_FEATURES = {"tts", "asr", "streaming"}


def _settings(redis_url: str) -> GatewaySettings:
    return GatewaySettings(
        redis_url=redis_url, asr_port=free_port(), license_mode="disabled", tts_piper_enabled=False
    )


def _licensed_routes(app: FastAPI) -> list[Any]:
    # app_routes: app.routes alone holds one opaque entry per include_router call
    return [r for r in app_routes(app.routes) if (r.path or "").startswith(LICENSED_PREFIXES)]


def test_every_licensed_route_of_the_app_declares_known_features() -> None:
    app = create_app(GatewaySettings(tts_piper_enabled=False))
    routes = _licensed_routes(app)
    paths = {r.path for r in routes}
    # The walk sees the routes include_router copied in, HTTP and WebSocket alike.
    assert {"/v1/audio/speech", "/v1/speak/stream", "/v1/listen/stream", "/v1/voices"} <= paths
    for route in routes:
        features = declared_features(route)
        assert features is not None, f"{route.path} has no license declaration (use @licensed(...))"
        assert set(features) <= KNOWN_FEATURES, (route.path, features)
    # Only the catalogue of model names is served to any valid license, whatever its features.
    assert {r.path for r in routes if declared_features(r) == ()} == {"/v1/models"}
    streaming = {r.path for r in routes if "streaming" in (declared_features(r) or ())}
    assert streaming == {
        "/v1/speak/stream", "/v1/listen/stream", "/v1/realtime", "/waves/v1/tts/live", "/waves/v1/stt/live",
        "/v1/audio/speech/stream-input",
    }


@pytest.fixture
def client_with_undeclared_routes(redis_url: str) -> TestClient:
    app = create_app(_settings(redis_url))

    async def undeclared() -> dict[str, str]:
        return {"served": "yes"}

    async def undeclared_ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    app.add_api_route("/v1/undeclared", undeclared, methods=["GET"])
    app.add_api_route("/waves/undeclared", undeclared, methods=["GET"])
    app.add_api_websocket_route("/v1/undeclared/stream", undeclared_ws)
    app.add_api_route("/outside", undeclared, methods=["GET"])
    return TestClient(app)


def test_an_undeclared_route_is_refused_even_with_licensing_disabled(
    client_with_undeclared_routes: TestClient,
) -> None:
    with client_with_undeclared_routes as client:
        for path in ("/v1/undeclared", "/waves/undeclared"):
            refused = client.get(path)
            assert refused.status_code == 403
            error = refused.json()["error"]
            assert error["code"] == "not_licensed" and error["license_code"] == "undeclared_route"
            assert error["type"] == "license_error" and path in error["message"]
        # the wrong method on an undeclared route is refused too, not answered 405
        assert client.post("/v1/undeclared").status_code == 403
        with pytest.raises(Exception) as denied:
            with client.websocket_connect("/v1/undeclared/stream"):
                pass
        assert getattr(denied.value, "status_code", None) == 403
        # declared routes, unknown paths and routes outside the licensed surfaces are unaffected
        assert client.get("/v1/voices").status_code == 200
        assert client.get("/v1/no-such-route").status_code == 404
        assert client.get("/outside").json() == {"served": "yes"}
