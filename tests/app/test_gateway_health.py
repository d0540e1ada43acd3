"""The gateway's liveness, readiness per capability and error shape, in-process, with real Redis and
absent engines (the ASR worker and license proxy are not started; the Piper voice is real)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.components import ComponentRegistry, ProbeResult
from app.main import create_app
from app.settings import GatewaySettings
from common.states import ComponentState
from tests.support import free_port, wait_until

KEY = "k-health-0123456789"


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    # Nothing listens on these ports: the ASR worker and license proxy are "not started yet".
    settings = GatewaySettings(
        redis_url=redis_url, asr_port=free_port(), license_proxy_port=free_port(), health_probe_timeout_s=0.5
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_live_answers_while_dependencies_are_missing(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_health_names_each_component_state(client: TestClient) -> None:
    response = client.get("/health?capability=asr")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["status"] in ("not_ready", "degraded")  # not_ready until the Piper voice has loaded
    assert body["profile"] == "cpu"
    assert body["components"]["redis"]["state"] == "ready"
    assert body["components"]["asr"]["state"] == "starting"
    assert "error" in body["components"]["asr"]
    # the cpu profile runs unlicensed by default, and says so
    assert body["components"]["license"]["state"] == "disabled"
    assert body["components"]["license"]["license"] == "unlicensed"


def test_asr_down_leaves_tts_ready_and_says_which_is_degraded(client: TestClient) -> None:
    wait_until(lambda: client.get("/health?capability=tts").status_code == 200, 60, "the Piper voice")
    response = client.get("/health")  # the readiness probe: something can be served
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["degraded"] == ["asr"]
    assert body["capabilities"]["tts"] == {"state": "ready"}
    assert body["capabilities"]["asr"] == {"state": "unavailable", "missing": ["asr"]}
    for probe in ("/health?capability=asr", "/health?capability=all"):
        refused = client.get(probe)
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
    assert client.get("/health?capability=tts").status_code == 200
    speech = client.post("/v1/speak", json={"text": "Still speaking.", "voice_id": "en_us_joe"})
    assert speech.status_code == 200 and speech.content[:4] == b"RIFF"  # TTS serves while ASR is down
    listen = client.post("/v1/listen", content=b"RIFF")
    assert listen.status_code == 503 and "retry-after" in listen.headers
    unknown = client.get("/health?capability=video")
    assert unknown.status_code == 422 and unknown.json()["error"]["param"] == "capability"


async def test_tts_down_leaves_asr_ready_and_the_license_gates_both() -> None:
    """The reverse, on the registry alone: its probes are plain functions (the real engines' states
    cannot be set on demand), the judgement is the code under test."""
    states = {"tts": ComponentState.DOWN, "svara": ComponentState.STARTING, "asr": ComponentState.READY,
              "redis": ComponentState.READY, "license": ComponentState.READY}

    def probe(name: str):  # type: ignore[no-untyped-def]
        async def answer() -> ProbeResult:
            detail = {"features": ["asr", "streaming"]} if name == "license" else {}
            return ProbeResult(states[name], detail)
        return answer

    registry = ComponentRegistry(probe_timeout_s=1, retry_after_s=1)
    for name in states:
        registry.add(name, probe(name))
    await registry.refresh_all()
    capabilities = registry.capabilities()
    assert capabilities["asr"].state == "ready"
    assert capabilities["tts"].state == "not_licensed"  # this license has no tts feature
    states["license"] = ComponentState.DISABLED  # unlicensed mode: every feature
    await registry.refresh_all()
    capabilities = registry.capabilities()
    assert (capabilities["tts"].state, capabilities["tts"].missing) == ("unavailable", ["tts", "svara"])
    assert capabilities["asr"].state == "ready"
    states["svara"] = ComponentState.READY  # one TTS backend is enough
    await registry.refresh_all()
    assert registry.capabilities()["tts"].state == "ready"
    states["license"] = ComponentState.INVALID  # no valid license: nothing is served
    await registry.refresh_all()
    assert {c.state for c in registry.capabilities().values()} == {"unavailable"}


def test_health_details_need_a_key(redis_url: str) -> None:
    settings = GatewaySettings(
        redis_url=redis_url, asr_port=free_port(), license_proxy_port=free_port(), health_probe_timeout_s=0.5,
        api_keys=KEY,
    )
    with TestClient(create_app(settings)) as client:
        anonymous = client.get("/health").json()
        assert set(anonymous) == {"status", "capabilities", "degraded", "auth"}  # enough for a probe
        assert all(set(c) == {"state"} for c in anonymous["capabilities"].values())
        wrong = client.get("/health", headers={"Authorization": "Bearer nope"}).json()
        assert "components" not in wrong
        keyed = client.get("/health", headers={"Authorization": f"Bearer {KEY}"}).json()
        assert keyed["components"]["redis"]["state"] == "ready" and keyed["version"]


def test_unknown_route_gets_the_json_error_shape_and_a_request_id(client: TestClient) -> None:
    response = client.get("/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert set(response.json()["error"]) >= {"message", "type", "param", "code"}
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/health/live").headers["x-request-id"]
    assert len(generated) == 32
