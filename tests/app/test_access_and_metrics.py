"""API keys, rate limits and /metrics, in-process against real Redis."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import WebSocket
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.testclient import WebSocketDenialResponse

from app.licensing import licensed
from app.main import create_app
from app.settings import GatewaySettings
from tests.support import free_port

KEY = "k-test-0123456789"
Factory = Callable[..., TestClient]


@pytest.fixture
def make_client(redis_url: str) -> Iterator[Factory]:
    clients: list[TestClient] = []

    def factory(**overrides: object) -> TestClient:
        settings = GatewaySettings(
            redis_url=redis_url, asr_port=free_port(), license_proxy_port=free_port(),
            health_probe_timeout_s=0.3, **overrides,  # type: ignore[arg-type]
        )
        app = create_app(settings)

        @app.websocket("/v1/echo")
        @licensed("asr")
        async def echo(websocket: WebSocket) -> None:  # a route for the handshake checks only
            await websocket.accept()
            await websocket.send_text("hello")
            await websocket.close()

        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {KEY}"}, {"Authorization": f"Token {KEY}"}, {"X-API-Key": KEY}, {"xi-api-key": KEY}],
)
def test_each_accepted_key_form(make_client: Factory, headers: dict[str, str]) -> None:
    client = make_client(api_keys=f"other-key,{KEY}")
    assert client.get("/openapi.json", headers=headers).status_code == 200


def test_missing_or_wrong_key_gets_401_json_but_health_stays_open(make_client: Factory) -> None:
    client = make_client(api_keys=KEY)
    missing = client.get("/openapi.json")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert "missing" in missing.json()["error"]["message"]
    wrong = client.get("/openapi.json", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "invalid" in wrong.json()["error"]["message"]
    assert client.get("/health/live").status_code == 200
    assert client.get("/health").json()["auth"] == "api_keys"
    assert client.get("/metrics").status_code == 200
    assert make_client(api_keys=KEY, metrics_require_key=True).get("/metrics").status_code == 401


def test_keys_file_may_hold_digests_only(make_client: Factory, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# operators' keys\nsha256:{hashlib.sha256(KEY.encode()).hexdigest()}\n")
    client = make_client(api_keys_file=str(keys_file))
    assert client.get("/openapi.json", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/openapi.json", headers={"X-API-Key": KEY + "x"}).status_code == 401


def test_no_keys_is_said_loudly_in_health(make_client: Factory) -> None:
    client = make_client()
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/health").json()["auth"].startswith("disabled")


def test_websocket_key_in_query_parameter(make_client: Factory) -> None:
    client = make_client(api_keys=KEY)
    with client.websocket_connect(f"/v1/echo?api_key={KEY}") as ws:
        assert ws.receive_text() == "hello"
    with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect("/v1/echo"):
        pass
    # the handshake is refused with the HTTP error, as an HTTP request would be
    assert refused.value.status_code == 401
    assert refused.value.json()["error"]["code"] == "unauthorized"
    # and /metrics counts the refused handshake with that status
    assert 'method="WS",route="unmatched",status="401"' in client.get("/metrics", headers={"X-API-Key": KEY}).text


def test_rate_limit_per_key_with_retry_after(make_client: Factory) -> None:
    client = make_client(api_keys=KEY, rate_limit_per_minute=3)
    headers = {"X-API-Key": KEY}
    statuses = [client.get("/openapi.json", headers=headers).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    limited = client.get("/openapi.json", headers=headers)
    assert limited.json()["error"]["code"] == "over_quota"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_rate_limit_degrades_open_when_redis_is_down() -> None:
    settings = GatewaySettings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", asr_port=free_port(), license_proxy_port=free_port(),
        health_probe_timeout_s=0.3, rate_limit_per_minute=1,
    )
    with TestClient(create_app(settings)) as client:
        assert [client.get("/openapi.json").status_code for _ in range(3)] == [200, 200, 200]


def test_metrics_count_requests_by_route_template(make_client: Factory) -> None:
    client = make_client()
    for _ in range(3):
        client.get("/health/live")
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert 'gateway_requests_total{method="GET",route="/health/live",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "/no/such/path" not in text  # raw paths never become labels
    assert 'gateway_component_ready{component="redis"} 1.0' in text


def test_one_access_log_line_per_request_with_the_route_template_only(
    make_client: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    with caplog.at_level("INFO", logger="app.access"):
        client.get("/v1/listen/secret-words-here")
    lines = [r for r in caplog.records if r.name == "app.access"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["route"] == "/v1/listen/{request_id}" and fields["method"] == "GET"
    assert "secret-words-here" not in caplog.text


def test_svara_sdk_authenticates_with_its_xi_api_key_header(make_client: Factory) -> None:
    import svara

    client = make_client(api_keys=KEY)
    models = svara.Svara(api_key=KEY, base_url="http://testserver", http_client=client, max_retries=0).models.list()
    assert "tts-1" in {m.id for m in models}
    wrong = svara.Svara(api_key="wrong", base_url="http://testserver", http_client=client, max_retries=0)
    with pytest.raises(svara.AuthenticationError):
        wrong.models.list()


def test_a_key_has_its_own_limits_and_an_unknown_key_id_is_refused_at_start(make_client: Factory) -> None:
    busy, quiet = f"k-busy-{uuid.uuid4().hex}", f"k-quiet-{uuid.uuid4().hex}"  # fresh: their own counts
    busy_id = hashlib.sha256(busy.encode()).hexdigest()[:12]
    client = make_client(
        api_keys=f"{busy},{quiet}", rate_limit_per_minute=2, api_key_limits={busy_id: {"requests_per_minute": 4}}
    )
    busy_statuses = [client.get("/openapi.json", headers={"X-API-Key": busy}).status_code for _ in range(5)]
    quiet_statuses = [client.get("/openapi.json", headers={"X-API-Key": quiet}).status_code for _ in range(3)]
    assert busy_statuses == [200] * 4 + [429]  # its own limit
    assert quiet_statuses == [200, 200, 429]  # the default, counted apart
    with pytest.raises(ValidationError, match="key id"):
        GatewaySettings(api_key_limits={busy: {"requests_per_minute": 1}})  # the key itself, not its id
