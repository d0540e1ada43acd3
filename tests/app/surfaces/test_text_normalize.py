"""POST /v1/text/normalize through the real gateway: Hindi sentences read as a Hindi voice reads
them, by voice or by language; the request's lexicon and the operator's (TTS_LEXICON_DIR); clear
errors; and the same lexicon field on a TTS route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import GatewaySettings
from tests.support import ServerThread, free_port
from tests.support.tts_gateway import Gateway
from tts_engine.text import LexiconError

HINDI = [
    ("कुल राशि ₹1,25,000 है।", "कुल राशि एक लाख पच्चीस हज़ार रुपये है।"),
    ("कंपनी ने ₹2.5 करोड़ और Rs. 50 lakh जुटाए।", "कंपनी ने ढाई करोड़ रुपये और पचास लाख रुपये जुटाए।"),
    ("बजट ₹1,25,00,00,000 का है।", "बजट एक सौ पच्चीस करोड़ रुपये का है।"),
    ("बैठक 15/08/2024 को 10:30 बजे है।", "बैठक पंद्रह अगस्त दो हज़ार चौबीस को साढ़े दस बजे है।"),
    ("ब्याज दर 7.5% है।", "ब्याज दर सात दशमलव पाँच प्रतिशत है।"),
    ("मेरा नंबर +91 98765 43210 है।", "मेरा नंबर प्लस नौ एक, नौ आठ सात छः पाँच, चार तीन दो एक शून्य है।"),
    ("वह 2nd आया और वह 5वीं बार आई।", "वह दूसरा आया और वह पाँचवीं बार आई।"),
    ("टिकट ₹10.50 का है।", "टिकट दस रुपये पचास पैसे का है।"),
]


def _normalize(url: str, **body: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/text/normalize", json=body, timeout=30)


@pytest.mark.parametrize(("written", "read"), HINDI)
def test_hindi_sentences_read_by_a_hindi_voice(tts_gateway: Gateway, written: str, read: str) -> None:
    # hi_male is a Svara voice, not loaded in this profile: its reading is still shown.
    by_voice = _normalize(tts_gateway.url, text=written, voice="hi_male")
    assert by_voice.status_code == 200, by_voice.text
    assert by_voice.json() == {"text": read, "language": "hi"}
    assert _normalize(tts_gateway.url, text=written, language="hi").json() == {"text": read, "language": "hi"}


def test_english_voices(tts_gateway: Gateway) -> None:
    piper = _normalize(tts_gateway.url, text="1,25,000 or 125000", voice="en_us_joe").json()
    assert piper == {"text": "one lakh twenty-five thousand or one hundred twenty-five thousand", "language": "en-US"}
    indian = _normalize(tts_gateway.url, text="125000", language="en-IN").json()
    assert indian == {"text": "one lakh twenty-five thousand", "language": "en"}


def test_the_requests_lexicon(tts_gateway: Gateway) -> None:
    body = {"text": "SBI ने ₹5 lakh दिए", "language": "hi", "lexicon": {"SBI": "एस बी आई"}}
    assert _normalize(tts_gateway.url, **body).json()["text"] == "एस बी आई ने पाँच लाख रुपये दिए"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"text": "5", "voice": "hi_male", "language": "hi"}, 422, "language"),
        ({"text": "5", "language": "xx"}, 422, "language"),
        ({"text": "5", "voice": "no_such_voice"}, 404, "voice"),
        ({"text": " ", "language": "hi"}, 422, "text"),
        ({"text": "5", "language": "hi", "lexicon": {f"w{i}": "x" for i in range(201)}}, 422, "lexicon"),
        ({"text": "5", "language": "hi", "lexicon": {"SBI": "x" * 301}}, 422, "lexicon.SBI"),
        ({"text": "5", "language": "hi", "lexicon": {"  ": "x"}}, 422, "lexicon"),
    ],
)
def test_bad_requests_are_clear(tts_gateway: Gateway, body: dict[str, object], status: int, param: str) -> None:
    response = _normalize(tts_gateway.url, **body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"]


def test_a_tts_route_takes_the_lexicon_field(tts_gateway: Gateway) -> None:
    body = {"model": "tts-1", "voice": "en_us_joe", "input": "ISRO", "response_format": "wav",
            "lexicon": {"ISRO": "the Indian space agency"}}
    spoken = httpx.post(f"{tts_gateway.url}/v1/audio/speech", json=body, timeout=120)
    plain = httpx.post(f"{tts_gateway.url}/v1/audio/speech", json={**body, "lexicon": None}, timeout=120)
    assert spoken.status_code == plain.status_code == 200
    assert len(spoken.content) > 1.5 * len(plain.content)  # six words said, not four letters
    refused = httpx.post(f"{tts_gateway.url}/v1/audio/speech", json={**body, "lexicon": {"": "x"}}, timeout=30)
    assert refused.status_code == 422 and refused.json()["error"]["param"].startswith("lexicon")


def _settings(redis_url: str, lexicon_dir: Path) -> GatewaySettings:
    return GatewaySettings(
        redis_url=redis_url,
        asr_port=free_port(),
        license_proxy_port=free_port(),
        profile="cpu",
        tts_piper_enabled=False,
        tts_lexicon_dir=str(lexicon_dir),
    )


@pytest.fixture(scope="module")
def lexicon_gateway(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("lexicons")
    (folder / "hi.tsv").write_text("ISRO\tइसरो\nSBI\tस्टेट बैंक\n", encoding="utf-8")
    with ServerThread(create_app(_settings(redis_url, folder))) as server:
        yield server.url


def test_the_operators_lexicon_for_the_language(lexicon_gateway: str) -> None:
    assert _normalize(lexicon_gateway, text="ISRO और SBI", voice="hi_female").json()["text"] == "इसरो और स्टेट बैंक"
    mine = _normalize(lexicon_gateway, text="ISRO और SBI", language="hi", lexicon={"SBI": "एस बी आई"})
    assert mine.json()["text"] == "इसरो और एस बी आई"  # the request's entry wins
    assert _normalize(lexicon_gateway, text="ISRO", language="ta").json()["text"] == "ISRO"  # another language's


def test_a_malformed_lexicon_stops_the_start(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "hi.tsv").write_text("ISRO इसरो\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"hi.tsv:1"), TestClient(create_app(_settings(redis_url, tmp_path))):
        pass
