"""Gateway enforcement on the real routes (create_app, real Piper, real ASR worker) against a real
license proxy and the reference license server: invalid licenses refused with 402/403, unlicensed
features refused while others serve, quotas give 429 (streams: WebSocket sessions and streamed HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from common.license_api import LicenseStatus
from tests.support import wait_until
from tests.support.asr import Worker
from tests.support.license import LICENSE_KEY, LicenseProxy, LicenseServer, license_terms
from tests.support.license_gateway import VOICE, Gateway, licensed_gateway, silence_wav, wav_seconds

pytestmark = pytest.mark.slow


class Env:
    def __init__(self, server: LicenseServer, proxy: LicenseProxy, gateway: Gateway) -> None:
        self.server, self.proxy, self.gateway = server, proxy, gateway

    @property
    def view(self) -> LicenseStatus | None:
        return self.gateway.license.status

    def set_terms(self, until: Callable[[LicenseStatus], bool], **overrides: Any) -> None:
        """Change the license on the server and wait until the gateway enforces the change."""
        self.server.set_licenses({LICENSE_KEY: license_terms(**overrides)})
        wait_until(lambda: self.view is not None and until(self.view), 15, "the gateway to see new terms")

    def drain_usage(self) -> None:
        wait_until(lambda: self.gateway.license.pending_usage == 0, 15, "usage to reach the proxy")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, redis_url: str, asr_worker: Worker) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("gateway")
    server = LicenseServer(root / "server")
    server.start()
    proxy = LicenseProxy(
        root / "state",
        {"LICENSE_MODE": "online", "LICENSE_SERVER_URL": server.url, "LICENSE_CHECK_INTERVAL_S": "0.3"},
    )
    proxy.start()
    proxy.wait_status(lambda s: s["code"] == "ok")
    with licensed_gateway(redis_url, asr_worker.port, proxy.port) as gateway:
        yield Env(server, proxy, gateway)
    proxy.stop()
    server.stop()


FULL = {"audio_hours_per_day": 10, "concurrent_streams": 2}


def _full(v: LicenseStatus) -> bool:
    return v.valid and set(v.features) == {"tts", "asr", "streaming"} and v.quotas == FULL


@pytest.fixture
def fresh(env: Env) -> Iterator[Env]:
    """Every test starts (and leaves) the license fully valid."""
    env.set_terms(_full)
    yield env
    env.set_terms(_full)


def test_valid_license_serves_every_route_and_health_is_ready(fresh: Env) -> None:
    g = fresh.gateway
    assert g.speak().headers["content-type"].startswith("audio/")
    assert g.speak().status_code == 200
    assert g.listen(silence_wav(0.5)).status_code == 200
    files = {"file": ("quiet.wav", silence_wav(0.5), "audio/wav")}
    assert g.http.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files).status_code == 200
    assert g.http.get("/v1/voices").status_code == 200
    assert g.listen_stream(b"\0" * 8000)[-1]["is_last"] is True
    audio, done = g.speak_stream("Hi.")
    assert len(audio) > 0 and done["characters"] == 3
    health = g.http.get("/health")
    assert health.status_code == 200
    license_component = health.json()["components"]["license"]
    assert license_component["state"] == "ready" and license_component["license_id"] == "LIC-1"


def test_expired_and_revoked_licenses_are_refused_and_health_says_invalid(fresh: Env) -> None:
    g = fresh.gateway
    fresh.set_terms(lambda v: not v.valid, expires_at=1.0)
    response = g.speak()
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "license_expired" and error["license_code"] == "expired"
    assert "renew" in error["message"]
    # /health reads the component registry, which probes the client every 0.2 s here
    wait_until(lambda: g.http.get("/health").status_code == 503, 5, "health to follow the license")
    component = g.http.get("/health").json()["components"]["license"]
    assert component["state"] == "invalid" and "expired" in component["error"]
    assert g.http.get("/health/live").status_code == 200  # liveness stays up
    assert g.http.get("/openapi.json").status_code == 200  # docs are not licensed routes

    fresh.set_terms(lambda v: not v.valid and v.code == "revoked", revoked=True)
    refused = g.http.get("/v1/voices")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_licensed"
    assert "revoked" in refused.json()["error"]["message"]
    status, _ = g.ws_denied("/v1/listen/stream")
    assert status == 403


def test_unlicensed_feature_is_refused_while_the_others_serve(fresh: Env) -> None:
    g = fresh.gateway
    fresh.set_terms(lambda v: set(v.features) == {"tts", "asr"}, features=["tts", "asr"])
    for path in ("/v1/listen/stream", "/v1/speak/stream"):
        status, body = g.ws_denied(path)
        assert status == 403
        assert body["error"]["code"] == "not_licensed" and body["error"]["feature"] == "streaming"
    assert g.speak().status_code == 200
    assert g.listen(silence_wav(0.5)).status_code == 200

    fresh.set_terms(lambda v: set(v.features) == {"asr", "streaming"}, features=["asr", "streaming"])
    refused = g.speak()
    assert refused.status_code == 403 and refused.json()["error"]["feature"] == "tts"
    assert g.http.get("/v1/voices").status_code == 403  # the voice catalogue belongs to tts
    assert g.listen(silence_wav(0.5)).status_code == 200


# About nine minutes of audio at half speed (24 MB of PCM): more than the loopback buffers hold with the
# client's receive buffer pinned small, so the response stays open until the client reads or leaves.
LONG_TEXT = " ".join(["The river ran slowly past the old mill while the workers sang together."] * 60)


def _assert_stream_quota(response: Any) -> None:
    assert response.status_code == 429, response.headers
    error = response.json()["error"]
    assert error["code"] == "over_quota" and error["quota"] == "concurrent_streams"
    assert "maximum is 1" in error["message"]


def test_concurrent_stream_quota_counts_websockets_and_streamed_responses(fresh: Env) -> None:
    g = fresh.gateway
    fresh.set_terms(
        lambda v: v.quotas.get("concurrent_streams") == 1,
        quotas={"audio_hours_per_day": 10, "concurrent_streams": 1},
    )
    sse = {"model": "tts-1", "input": "Hello there.", "voice": VOICE, "stream_format": "sse"}
    chunked_tts = {"text": "Hello there.", "voice": VOICE, "stream": True, "response_format": "pcm"}

    # A WebSocket session holds the one stream: other sessions and streamed responses are refused.
    with g.ws(f"/v1/speak/stream?voice_id={VOICE}") as held:
        assert held.recv(timeout=10)  # the "ready" message: the session is open
        status, body = g.ws_denied("/v1/listen/stream")
        assert status == 429 and body["error"]["quota"] == "concurrent_streams"
        fresh.drain_usage()
        billed = fresh.proxy.status()["usage_today"]["audio_seconds"]
        _assert_stream_quota(g.http.post("/v1/audio/speech", json=sse))
        _assert_stream_quota(g.http.post("/v1/text-to-speech", json=chunked_tts))
        whole = g.speak()  # a whole-file response is not a stream
        pcm = g.http.post("/v1/text-to-speech", json={**chunked_tts, "stream": False})
        assert whole.status_code == 200 and pcm.status_code == 200
        fresh.drain_usage()
    # The refused streams had synthesised their first audio, yet bill none: only the two files count.
    spoken = wav_seconds(whole.content) + len(pcm.content) / 2 / int(pcm.headers["x-sample-rate"])
    after = fresh.proxy.status()["usage_today"]["audio_seconds"]
    assert after - billed == pytest.approx(spoken, abs=0.01)
    wait_until(lambda: g.license.active_streams == 0, 10, "the session's slot to be released")

    # A chunked HTTP response holds the stream while its body is being sent.
    speech = {"model": "tts-1", "input": LONG_TEXT, "voice": VOICE, "response_format": "pcm", "speed": 0.5}
    with g.slow_reader() as reader, reader.stream("POST", "/v1/audio/speech", json=speech) as held_http:
        assert held_http.status_code == 200
        body = held_http.iter_raw()  # kept: dropping the iterator would close the response
        assert next(body)  # audio is flowing; the rest waits on us
        assert g.license.active_streams == 1
        _assert_stream_quota(g.http.post("/v1/text-to-speech", json=chunked_tts))
        status, body = g.ws_denied(f"/v1/speak/stream?voice_id={VOICE}")
        assert status == 429 and body["error"]["quota"] == "concurrent_streams"
    wait_until(lambda: g.license.active_streams == 0, 10, "the response's slot to be released")

    # Released: streams are served again.
    served = g.http.post("/v1/audio/speech", json=sse)
    assert served.status_code == 200 and "speech.audio.done" in served.text
    audio, _ = g.speak_stream("Hi.")
    assert len(audio) > 0


def test_daily_audio_quota_gives_429_with_reset_time(fresh: Env) -> None:
    g = fresh.gateway
    fresh.drain_usage()
    used = fresh.proxy.status()["usage_today"]["audio_seconds"]
    quota_h = (used + 3.0) / 3600  # three more seconds of audio today
    fresh.set_terms(
        lambda v: v.quotas.get("audio_hours_per_day") == pytest.approx(quota_h),
        quotas={"audio_hours_per_day": quota_h, "concurrent_streams": 2},
    )
    assert g.listen(silence_wav(4.0)).status_code == 200  # 4 s of audio transcribed
    fresh.drain_usage()
    assert fresh.proxy.status()["usage_today"]["audio_seconds"] == pytest.approx(used + 4.0, abs=0.01)
    for refused in (g.speak(), g.listen(silence_wav(0.5))):
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["quota"] == "audio_hours_per_day" and "resets at 00:00 UTC" in error["message"]
        assert int(refused.headers["retry-after"]) > 0
    status, body = g.ws_denied("/v1/listen/stream")
    assert status == 429 and body["error"]["quota"] == "audio_hours_per_day"
    assert g.http.get("/health").status_code == 200  # a used-up quota is not a broken appliance


def test_gateway_keeps_its_status_while_the_proxy_restarts(fresh: Env) -> None:
    g = fresh.gateway
    fresh.proxy.kill()
    try:
        wait_until(lambda: g.license.proxy_error is not None, 10, "the gateway to notice")
        assert g.speak().status_code == 200
        assert g.listen(silence_wav(0.5)).status_code == 200
        wait_until(
            lambda: "proxy" in g.http.get("/health").json()["components"]["license"], 5, "health to say so"
        )
        component = g.http.get("/health").json()["components"]["license"]
        assert component["state"] == "ready" and "last status" in component["proxy"]
    finally:
        fresh.proxy.start()
    wait_until(lambda: g.license.proxy_error is None, 10, "the gateway to reach the proxy")
