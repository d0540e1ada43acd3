"""The CPU profile's multilingual model (`ASR_MODEL=base`): joined from two PyPI packages, detecting
the language, honouring one given explicitly, through the real worker and the gateway's routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.main import create_app
from asr_engine import bundled
from common.pcm import pcm16_to_float
from tests.support import ServerThread, own_database, wait_until
from tests.support.asr import (
    MAX_WER,
    SENTENCES,
    Speech,
    Worker,
    espeak_speech,
    gateway_settings,
    piper_speech,
    start_worker,
    wer,
)

SPANISH = "Buenos días. Hoy hace muy buen tiempo y vamos a dar un paseo por el parque con los niños."
HINDI = "क्या आप मुझे बता सकते हैं कि रेलवे स्टेशन कहाँ है? मुझे दिल्ली जाने वाली गाड़ी पकड़नी है।"


def _devanagari_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum("\u0900" <= ch <= "\u097f" for ch in letters) / max(1, len(letters))


def test_base_is_joined_once_and_a_broken_leftover_is_replaced(tmp_path: Path) -> None:
    model_dir = bundled.base(tmp_path)
    model = model_dir / "model.bin"
    assert model.stat().st_size == bundled.BASE_SIZE
    assert {p.name for p in model_dir.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    joined_at = model.stat().st_mtime_ns
    assert bundled.base(tmp_path) == model_dir and model.stat().st_mtime_ns == joined_at  # not joined again
    with model.open("r+b") as f:  # a truncated copy (a disk that filled up, a hand copy gone wrong)
        f.truncate(1000)
    assert bundled.base(tmp_path) == model_dir and model.stat().st_size == bundled.BASE_SIZE
    assert [p.name for p in tmp_path.iterdir()] == [model_dir.name]  # no staging directory left behind


@pytest.fixture(scope="module")
def base_gateway(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("asr-base")
    redis_url = own_database(redis_url)  # only this worker may take these jobs
    worker: Worker = start_worker(
        redis_url, logs, "worker-base", ASR_MODEL="base", ASR_BEAM_SIZE="5",
        ASR_MODEL_CACHE_DIR=str(logs / "models"),
    )
    try:
        with ServerThread(create_app(gateway_settings(redis_url, worker.port))) as server:
            def ready() -> bool:
                body = httpx.get(f"{server.url}/health", timeout=2).json()
                return bool(body["components"]["asr"]["state"] == "ready")

            wait_until(ready, 30, "gateway to see the base worker ready")
            yield server.url
    finally:
        worker.stop()


def _listen(url: str, speech: Speech, **params: str) -> dict:
    response = httpx.post(f"{url}/v1/listen", params=params, content=speech.wav(), timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow
def test_language_is_detected(base_gateway: str) -> None:
    """`language=auto` (or none) detects it, and says how sure the model is; a given language is sure."""
    spanish = espeak_speech(SPANISH, "es")
    for params in ({}, {"language": "auto"}):
        body = _listen(base_gateway, spanish, **params)
        assert body["language"] == "es"
        assert 0.5 < body["language_probability"] <= 1.0
        assert wer(SPANISH, body["text"]) < 0.5, body["text"]
    assert _listen(base_gateway, spanish, language="es")["language_probability"] == 1.0


@pytest.mark.slow
def test_verbose_json_tells_the_detected_language(base_gateway: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_gateway}/v1", api_key="unused")
    result = client.audio.transcriptions.create(
        model="whisper-1", file=("es.wav", espeak_speech(SPANISH, "es").wav()), response_format="verbose_json",
    )
    assert result.language == "es"
    assert 0.5 < result.model_extra["language_probability"] <= 1.0  # type: ignore[index]


@pytest.mark.slow
def test_explicit_language_is_honoured(base_gateway: str) -> None:
    hindi = espeak_speech(HINDI, "hi")
    forced_hi = _listen(base_gateway, hindi, language="hi")
    assert forced_hi["language"] == "hi"
    assert _devanagari_share(forced_hi["text"]) > 0.9 and "है" in forced_hi["text"], forced_hi["text"]
    # The same audio forced to English comes back as English, in Latin letters.
    forced_en = _listen(base_gateway, hindi, language="en")
    assert forced_en["language"] == "en"
    assert _devanagari_share(forced_en["text"]) < 0.1, forced_en["text"]


@pytest.mark.slow
def test_openai_route_passes_the_language(base_gateway: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_gateway}/v1", api_key="unused")
    result = client.audio.transcriptions.create(
        model="whisper-1", file=("hi.wav", espeak_speech(HINDI, "hi").wav()), language="hi",
        response_format="verbose_json",
    )
    assert _devanagari_share(result.text) > 0.9, result.text


@pytest.mark.slow
def test_live_decodes_find_each_language_in_one_batch(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The streaming decoder on base: one batch, each request detected on its own or given a language."""
    from faster_whisper import WhisperModel

    from asr_engine.decoder import BatchDecoder, DecodeRequest

    model = WhisperModel(str(bundled.base(tmp_path_factory.mktemp("models"))), device="cpu", compute_type="int8")

    def audio(speech: Speech) -> np.ndarray:
        return pcm16_to_float(speech.pcm16k())

    spanish, english = audio(espeak_speech(SPANISH, "es")), audio(piper_speech(SENTENCES[:1]))
    detected, given, other = BatchDecoder(model).decode(
        [DecodeRequest(spanish), DecodeRequest(spanish, language="es"), DecodeRequest(english)]
    )
    assert detected.language == "es" and wer(SPANISH, detected.text) < 0.5, detected.text
    assert given.language == "es" and wer(SPANISH, given.text) < 0.5, given.text
    assert other.language == "en" and wer(SENTENCES[0], other.text) <= MAX_WER, other.text
