"""The gateway's liveness/readiness and error shape, in-process, with real Redis and absent engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import GatewaySettings
from tests.support import free_port


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
    response = client.get("/health")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["profile"] == "cpu"
    assert body["components"]["redis"]["state"] == "ready"
    assert body["components"]["asr"]["state"] == "starting"
    assert "error" in body["components"]["asr"]
    # the cpu profile runs unlicensed by default, and says so
    assert body["components"]["license"]["state"] == "disabled"
    assert body["components"]["license"]["license"] == "unlicensed"


def test_unknown_route_gets_the_json_error_shape_and_a_request_id(client: TestClient) -> None:
    response = client.get("/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert set(response.json()["error"]) >= {"message", "type", "param", "code"}
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/health/live").headers["x-request-id"]
    assert len(generated) == 32
