"""Usage metering end to end: the real gateway (create_app) -> license proxy -> reference license server.

Exactly N records arrive through server outages, a lost answer and a kill -9 of the proxy; and
nothing the proxy sends carries request text, transcripts or audio (real Piper, real Whisper worker)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from app.clients.license import USAGE_OUTBOX_STREAM, LicenseClient
from tests.support import free_port, own_database, until, wait_until
from tests.support.asr import Worker
from tests.support.gateway_process import gateway_process
from tests.support.license import LicenseProxy, LicenseServer, record
from tests.support.license_gateway import VOICE, Gateway, licensed_gateway, silence_wav, wav_seconds

pytestmark = pytest.mark.slow


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[LicenseServer, LicenseProxy]]:
    server = LicenseServer(tmp_path / "server")
    server.start()
    proxy = LicenseProxy(
        tmp_path / "state",
        {"LICENSE_MODE": "online", "LICENSE_SERVER_URL": server.url, "USAGE_BATCH_SIZE": "4"},
    )
    proxy.start()
    proxy.wait_status(lambda s: s["code"] == "ok")
    yield server, proxy
    proxy.stop()
    server.stop()


class Traffic:
    """Mixed requests on the real routes, each with its own X-Request-ID, and the usage they add up to
    (audio seconds as the client received or sent them)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.sent: list[str] = []
        self.audio_seconds = 0.0
        self.characters = 0
        self.quiet = silence_wav(0.5)

    def _id(self) -> dict[str, str]:
        self.sent.append(f"req-{len(self.sent):03d}")
        return {"X-Request-ID": self.sent[-1]}

    def round(self) -> None:
        g = self.gateway
        text = f"Usage round {len(self.sent)}."
        spoken = g.speak(text, **self._id())
        assert spoken.status_code == 200
        self.characters += len(text)
        self.audio_seconds += wav_seconds(spoken.content)
        assert g.listen(self.quiet, **self._id()).status_code == 200
        self.audio_seconds += 0.5
        assert g.http.get("/v1/voices", headers=self._id()).status_code == 200
        assert g.listen_stream(b"\1\0" * 4000, **self._id())[-1]["is_last"]
        self.audio_seconds += 0.25
        body = {"model": "tts-1", "input": text, "voice": VOICE, "response_format": "pcm"}
        streamed = g.http.post("/v1/audio/speech", json=body, headers=self._id())
        assert streamed.status_code == 200 and streamed.headers.get("transfer-encoding") == "chunked"
        self.characters += len(text)
        self.audio_seconds += len(streamed.content) / 2 / int(streamed.headers["x-sample-rate"])


def test_exactly_n_records_through_outages_lost_answers_and_a_proxy_kill(
    parts: tuple[LicenseServer, LicenseProxy], redis_url: str, asr_worker: Worker
) -> None:
    server, proxy = parts
    with licensed_gateway(redis_url, asr_worker.port, proxy.port) as gateway:
        outbox = gateway.license
        traffic = Traffic(gateway)
        server.inject(fail_after_record=1)  # the first batch is recorded but its answer is "lost"
        traffic.round()
        wait_until(lambda: server.usage()["duplicate_batches"] >= 1, 20, "the retried batch")

        server.stop()  # outage: usage spools in the proxy
        traffic.round()
        traffic.round()
        wait_until(lambda: outbox.pending_usage == 0, 15, "the proxy to take the records")
        assert proxy.status()["spool"]["pending"] >= 10

        proxy.kill()  # kill -9 with a full spool; the gateway holds records meanwhile
        traffic.round()  # served on the gateway's cached status
        assert outbox.pending_usage > 0
        proxy.start()
        traffic.round()
        wait_until(lambda: outbox.pending_usage == 0, 15, "the gateway outbox to drain")

        server.start()
        n = len(traffic.sent)
        wait_until(lambda: server.usage()["records_in_batches"] >= n, 30, "all usage at the server")
        # Nothing is owed any more (the proxy's spool is delivered), so nothing extra can follow.
        wait_until(lambda: proxy.status()["spool"]["pending"] == 0, 30, "the proxy's spool to be delivered")
        usage = server.usage()

    assert usage["records_in_batches"] == n == 25
    assert sorted(usage["request_ids"]) == sorted(traffic.sent)  # no gaps, no duplicates
    assert usage["duplicate_records"] == 0
    assert usage["requests_total"] == n
    assert usage["audio_seconds_total"] == pytest.approx(traffic.audio_seconds, abs=0.01)
    assert usage["characters_total"] == traffic.characters
    assert usage["duplicate_batches"] >= 1  # the retried batch was deduplicated, not counted twice


def test_records_owed_survive_a_killed_gateway(
    parts: tuple[LicenseServer, LicenseProxy], redis_url: str, tmp_path: Path
) -> None:
    """kill -9 of the gateway while the proxy is down: what it owed waits in Redis, and the next
    gateway delivers it, once."""
    server, proxy = parts
    own_db = own_database(redis_url)
    outbox = redis.Redis.from_url(own_db)
    env = {"LICENSE_MODE": "online", "LICENSE_PROXY_PORT": str(proxy.port), "LICENSE_REFRESH_INTERVAL_S": "0.2"}
    owed = [f"owed-{i}" for i in range(5)]
    with gateway_process(own_db, tmp_path, **env) as first:
        proxy.kill()
        for request_id in owed:  # served on the cached license status
            assert httpx.get(f"{first.url}/v1/voices", headers={"X-Request-ID": request_id}).status_code == 200
        wait_until(lambda: outbox.xlen(USAGE_OUTBOX_STREAM) >= len(owed), 10, "the records spooled to Redis")
        first.kill()
    proxy.start()
    with gateway_process(own_db, tmp_path, **env):
        wait_until(lambda: outbox.xlen(USAGE_OUTBOX_STREAM) == 0, 20, "the next gateway to deliver them")
    wait_until(lambda: set(owed) <= set(server.usage()["request_ids"]), 30, "the records at the server")
    # Nothing is owed any more (the proxy's spool is delivered), so no duplicate can follow.
    wait_until(lambda: proxy.status()["spool"]["pending"] == 0, 30, "the proxy's spool to be delivered")
    arrived = server.usage()["request_ids"]
    assert all(arrived.count(request_id) == 1 for request_id in owed)


async def test_records_go_straight_from_memory_while_redis_is_down(
    parts: tuple[LicenseServer, LicenseProxy],
) -> None:
    server, proxy = parts
    dead_redis = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    client = LicenseClient(
        proxy.url, mode="online", refresh_interval_s=0.2, timeout_s=2.0, outbox_max=100, redis=dead_redis
    )
    await client.start()
    try:
        sent = [f"memory-{i}" for i in range(3)]
        for request_id in sent:
            client.report(record(request_id=request_id))
        await until(lambda: client.pending_usage == 0, 10, "the records to leave memory for the proxy")
    finally:
        await client.stop()
        await dead_redis.aclose()
    wait_until(lambda: set(sent) <= set(server.usage()["request_ids"]), 30, "the records at the server")


# --- privacy -----------------------------------------------------------------------------------------------
def _audio_probes(pcm: bytes) -> list[bytes]:
    """Slices of real speech (not silence) that would betray the audio if sent in any encoding."""
    step = len(pcm) // 8
    return [pcm[i : i + 24] for i in range(step, len(pcm) - 24, step) if len(set(pcm[i : i + 24])) > 4]


def test_nothing_sent_to_the_license_server_carries_text_transcripts_or_audio(
    parts: tuple[LicenseServer, LicenseProxy], redis_url: str, asr_worker: Worker
) -> None:
    server, proxy = parts
    said = "Seventeen purple elephants juggle marmalade"
    streamed = "Quietly the lighthouse keeper whistled"
    evented = "Gentle thunder rolled across distant meadows"
    with licensed_gateway(redis_url, asr_worker.port, proxy.port) as g:
        wav = g.http.post("/v1/speak", json={"text": said, "voice_id": VOICE, "sample_rate": 16000}).content
        pcm = wav[44:]
        transcript = g.listen(wav).json()["text"]
        files = {"file": ("said.wav", wav, "audio/wav")}
        openai_transcript = g.http.post(
            "/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files
        ).json()["text"]
        finals = [m["transcript"] for m in g.listen_stream(pcm) if m.get("is_final")]
        streamed_audio, _ = g.speak_stream(streamed)
        sse = g.http.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "input": evented, "voice": VOICE, "response_format": "pcm", "stream_format": "sse"},
        )
        events = [json.loads(line[6:]) for line in sse.text.splitlines() if line.startswith("data: ")]
        sse_audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
        wait_until(lambda: server.usage()["records_in_batches"] >= 6, 30, "usage at the server")

    assert "marmalade" in transcript.lower() and "marmalade" in openai_transcript.lower()  # really transcribed
    assert "marmalade" in " ".join(finals).lower()
    assert len(pcm) > 32000 and len(streamed_audio) > 32000 and len(sse_audio) > 32000
    entries = [json.loads(line) for line in server.capture.read_text().splitlines()]
    assert {e["path"] for e in entries} == {"/v1/licenses/validate", "/v1/usage/batches"}
    bodies = [base64.b64decode(e["body"]) for e in entries]
    metadata = json.dumps([{k: e[k] for k in ("method", "path", "query", "headers")} for e in entries])
    haystack = (metadata.encode() + b"\n" + b"\n".join(bodies)).lower()
    reported = [
        r
        for e, b in zip(entries, bodies, strict=True)
        if e["path"] == "/v1/usage/batches"
        for r in json.loads(b)["records"]
    ]
    # counts went, text did not
    assert sum(r["characters"] for r in reported) == len(said) + len(streamed) + len(evented)

    heard = f"{transcript} {openai_transcript} {' '.join(finals)}"
    words = {w.strip(".,!?").lower() for w in f"{said} {streamed} {evented} {heard}".split()}
    leaked = [w for w in words if len(w) >= 5 and w.encode() in haystack]
    assert leaked == []
    state_files = b"".join(p.read_bytes().lower() for p in proxy.state_dir.rglob("*") if p.is_file())
    assert [w for w in words if len(w) >= 5 and w.encode() in state_files] == []  # nor in the spool
    probes = _audio_probes(pcm) + _audio_probes(streamed_audio) + _audio_probes(sse_audio)
    assert len(probes) >= 12
    for probe in probes:
        for encoded in (probe, base64.b64encode(probe)[:24], probe.hex().encode()):
            assert encoded.lower() not in haystack
