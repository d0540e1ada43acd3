"""Shared pieces of the Svara tests: the seeded-random SNAC 24 kHz model, built once per process."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import torch

from app.settings import GatewaySettings
from app.tts import svara_config
from tts_engine.svara.config import SvaraConfig
from tts_engine.svara.snac.engine import SnacEngine
from tts_engine.svara.snac.model import SNAC_24KHZ_CONFIG, save_snac

SNAC_SEED = 1234


@functools.cache
def seeded_snac_dir() -> Path:
    """The real `snac.SNAC` 24 kHz architecture with torch.manual_seed weights, saved in the layout
    SNAC_MODEL_PATH expects (config.json + pytorch_model.bin), so tests load it the product's way."""
    from snac import SNAC

    torch.manual_seed(SNAC_SEED)
    model = SNAC(**SNAC_24KHZ_CONFIG).eval()
    directory = Path(tempfile.mkdtemp(prefix="snac24-seeded-"))
    save_snac(model, directory, SNAC_24KHZ_CONFIG)
    return directory


def svara_gateway_settings(redis_url: str, vllm_url: str, **overrides: object) -> GatewaySettings:
    """A gateway that speaks only the Svara voices, through the vLLM at vllm_url, with the seeded SNAC."""
    from tests.support import free_port
    from tests.support.real_vllm import API_KEY, SERVED_NAME

    fields: dict[str, object] = {
        "redis_url": redis_url,
        "asr_port": free_port(),
        "license_proxy_port": free_port(),
        "tts_piper_enabled": False,
        "tts_svara_enabled": True,
        "tts_llm_base_url": vllm_url,
        "vllm_api_key": API_KEY,
        "vllm_served_model_name": SERVED_NAME,
        "snac_model_path": str(seeded_snac_dir()),
        "snac_device": "cpu",
    }
    return GatewaySettings(**(fields | overrides))  # type: ignore[arg-type]


def config_for_tests(**settings: object) -> SvaraConfig:
    """The Svara configuration the gateway would build from these settings (the one set of defaults)."""
    return svara_config(GatewaySettings(**settings))  # type: ignore[arg-type]


@functools.cache
def shared_engine() -> SnacEngine:
    """One loaded model per test process (loading and first calls cost seconds on 2 shared cores)."""
    return SnacEngine.load(str(seeded_snac_dir()), device="cpu", batching=False)


def speech_like_audio(seconds: float = 1.0, sample_rate: int = 24000) -> np.ndarray:
    """Speech-like: a gliding pitch with harmonics, syllable-rate amplitude, a little noise."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    noise = np.random.default_rng(7).normal(0, 0.02, t.shape)
    return (0.25 * voiced * envelope + noise).astype(np.float32)


def snr_db(test: np.ndarray, reference: np.ndarray) -> float:
    error = float(np.sum((test.astype(np.float64) - reference) ** 2))
    return 10 * np.log10(float(np.sum(reference.astype(np.float64) ** 2)) / max(error, 1e-30))
